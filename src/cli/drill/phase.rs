//! The drill's decisions as pure functions of what it reads, without I/O: whether
//! a drill may start ([`check_start`]) and the six figures it measures
//! ([`Figures::observe`]).
//!
//! Guarantees:
//! - a drill starts only when the app has a DNS view, this Region's record gets
//!   answers now, the agent's verdict is healthy, and another record of the set is
//!   healthy as Route 53 sees it (`healthy`, or `noCheck`, which Route 53 counts
//!   healthy);
//! - each figure is the first time (since its phase began) a read showed it, and
//!   is never overwritten;
//! - a figure of the way back is recorded only once its figure of the way away was
//!   (DNS cannot "come back" if it never left).

use crate::model::{DnsView, RecordHealth, RegionView};
use std::time::Duration;

/// What one read of the app shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The agent's verdict (in-cluster: the leader's, in `AppHealth.status`).
    pub verdict_healthy: Option<bool>,
    /// Route 53's verdict on this Region's check (`GetHealthCheckStatus`), once read.
    pub route53_healthy: Option<bool>,
    /// Where DNS answers go, once read.
    pub dns: Option<DnsView>,
}

impl Snapshot {
    /// This Region's record of the set, if the view has one.
    pub fn here(&self) -> Option<&RegionView> {
        self.dns.as_ref()?.regions.iter().find(|r| r.here)
    }

    /// The share of answers (0 to 1) this Region's record gets, if known.
    pub fn share_here(&self) -> Option<f64> {
        let here = self.here()?;
        let dns = self.dns.as_ref()?;
        Some(dns.shares.get(&here.set_identifier).copied().unwrap_or(0.0))
    }

    /// What each source says of this Region's check as Route 53 judges it:
    /// `GetHealthCheckStatus` (`route53Healthy`) and the DNS view's record.
    fn route53_sources(&self) -> [Option<bool>; 2] {
        let record = self.here().and_then(|r| match r.route53 {
            RecordHealth::Healthy => Some(true),
            RecordHealth::Unhealthy => Some(false),
            RecordHealth::NoCheck | RecordHealth::Unknown => None,
        });
        [self.route53_healthy, record]
    }

    /// True when either source says Route 53 judges this Region's check `healthy`.
    pub fn route53_says(&self, healthy: bool) -> bool {
        self.route53_sources().contains(&Some(healthy))
    }
}

/// Why a drill will not start; each is one line.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("the app has no DNS view yet (it needs a route53 block, and the agent must have read Route 53; try again in a minute)")]
    NoDnsView,
    #[error("this Region has no record in the app's set")]
    NoRecordHere,
    #[error("this Region's record {here} gets no answers now ({answer}): nothing to move")]
    NotAnsweredHere { here: String, answer: String },
    #[error("the agent's verdict is not healthy now: the app has failed over already")]
    VerdictUnhealthy,
    #[error("no other record of the set is healthy as Route 53 sees it ({others}): that would fail traffic nowhere")]
    NoHealthyOther { others: String },
}

/// What the drill starts from.
#[derive(Clone, Debug, PartialEq)]
pub struct Start {
    /// This Region's set identifier.
    pub here: String,
    /// Its share of answers before the drill (above 0).
    pub share: f64,
    /// The answer before the drill, in words.
    pub answer: String,
}

/// Whether a drill may start from `s`, and from what.
pub fn check_start(s: &Snapshot) -> Result<Start, Refusal> {
    let dns = s.dns.as_ref().ok_or(Refusal::NoDnsView)?;
    let here = s.here().ok_or(Refusal::NoRecordHere)?;
    let share = s.share_here().unwrap_or(0.0);
    if share <= 0.0 {
        return Err(Refusal::NotAnsweredHere {
            here: here.set_identifier.clone(),
            answer: dns.answer.clone(),
        });
    }
    if s.verdict_healthy != Some(true) {
        return Err(Refusal::VerdictUnhealthy);
    }
    let others: Vec<&RegionView> = dns.regions.iter().filter(|r| !r.here).collect();
    let healthy = |r: &&RegionView| matches!(r.route53, RecordHealth::Healthy | RecordHealth::NoCheck);
    if !others.iter().any(healthy) {
        let list: Vec<String> = others
            .iter()
            .map(|r| format!("{} {}", r.set_identifier, r.route53.as_str()))
            .collect();
        let others = if list.is_empty() {
            "there is none".to_owned()
        } else {
            list.join(", ")
        };
        return Err(Refusal::NoHealthyOther { others });
    }
    Ok(Start {
        here: here.set_identifier.clone(),
        share,
        answer: dns.answer.clone(),
    })
}

/// Which half of the drill a read belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The override is `fail`: traffic should leave.
    Away,
    /// The override is back: traffic should return.
    Back,
}

/// The six figures: times since the phase began, `None` until seen. Route 53's
/// view counts unhealthy when either source says so first, and healthy again when
/// a source that said unhealthy says healthy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub verdict_unhealthy: Option<Duration>,
    pub route53_unhealthy: Option<Duration>,
    pub dns_left: Option<Duration>,
    pub verdict_healthy: Option<Duration>,
    pub route53_healthy: Option<Duration>,
    pub dns_back: Option<Duration>,
    /// Per source of Route 53's view ([`Snapshot::route53_sources`]): whether it
    /// said unhealthy during the drill. Only such a source can say it is back (the
    /// other may be a read that never saw the failure).
    turned: [bool; 2],
}

fn first(slot: &mut Option<Duration>, seen: bool, at: Duration) {
    if seen && slot.is_none() {
        *slot = Some(at);
    }
}

impl Figures {
    /// Records what `s` shows `at` (time since `phase` began). DNS is back when this
    /// Region's share is again at least `start.share`.
    pub fn observe(&mut self, phase: Phase, at: Duration, s: &Snapshot, start: &Start) {
        let share = s.share_here();
        let sources = s.route53_sources();
        for (turned, now) in self.turned.iter_mut().zip(sources) {
            *turned |= now == Some(false);
        }
        match phase {
            Phase::Away => {
                first(&mut self.verdict_unhealthy, s.verdict_healthy == Some(false), at);
                first(&mut self.route53_unhealthy, s.route53_says(false), at);
                first(&mut self.dns_left, share == Some(0.0), at);
            }
            Phase::Back => {
                let verdict = self.verdict_unhealthy.is_some() && s.verdict_healthy == Some(true);
                first(&mut self.verdict_healthy, verdict, at);
                let back = self.turned.iter().zip(sources).any(|(t, now)| *t && now == Some(true));
                let route53 = self.route53_unhealthy.is_some() && back;
                first(&mut self.route53_healthy, route53, at);
                let back = share.is_some_and(|x| x > 0.0 && x >= start.share - 1e-9);
                first(&mut self.dns_back, self.dns_left.is_some() && back, at);
            }
        }
    }

    /// True when traffic left this Region.
    pub fn moved(&self) -> bool {
        self.dns_left.is_some()
    }

    /// True when every figure whose way away was seen has its way back.
    pub fn back_complete(&self) -> bool {
        let pairs = [
            (self.verdict_unhealthy, self.verdict_healthy),
            (self.route53_unhealthy, self.route53_healthy),
            (self.dns_left, self.dns_back),
        ];
        pairs.iter().all(|(away, back)| away.is_none() || back.is_some())
    }

    /// The drill passes when traffic moved and came back.
    pub fn passed(&self) -> bool {
        self.moved() && self.dns_back.is_some()
    }
}

#[cfg(test)]
#[path = "phase_tests.rs"]
mod tests;
