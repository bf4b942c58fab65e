//! The last hour of an app, for the status page's strip: its verdict over time
//! (from the transitions ring, [`super::TRANSITIONS_KEPT`]) and where DNS answered
//! over time (a ring of answer changes, [`DNS_CHANGES_KEPT`]).
//!
//! Bound and memory: a DNS change is recorded only when the app's shares change
//! (never per probe or per read), at most [`DNS_CHANGES_KEPT`] per app, and changes
//! that ended before the last hour are dropped when the next one comes. An entry is
//! 32 bytes in the ring; its shares are one allocation shared by every entry with
//! the same shares (an app flapping between two Regions holds two): 16 bytes, plus
//! 24 and the set identifier's name per record. So an app holds at most about 2 KB
//! of DNS history (60 × 32 bytes, plus one small allocation per distinct answer),
//! 1,000 apps about 2 MB; apps whose answer never moved hold one entry.
//!
//! The verdict needs no new ring: transitions are recorded only when the health
//! changes, so the verdict before the oldest kept one is its opposite, known back
//! to [`History::verdict_from`].

use crate::model::{DnsView, Health};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How far back the status page's strip looks.
pub const HISTORY_WINDOW: Duration = Duration::from_secs(3600);

/// At most this many DNS answer changes are kept per app.
pub const DNS_CHANGES_KEPT: usize = 60;

/// The share of answers (0 to 1) per set identifier, in set identifier order.
/// Empty when the app had no DNS view (unknown).
pub type Shares = Arc<[(Arc<str>, f32)]>;

/// Where DNS answered from `at` until the next change.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsChange {
    pub at: SystemTime,
    pub shares: Shares,
}

/// What the strip is drawn from: a snapshot of an app's history.
#[derive(Clone, Debug)]
pub struct History {
    /// Since when the verdict is known: the app's start here (or, for an app the
    /// leader judges, its first verdict from the leader), or the time of the oldest
    /// transition dropped from the ring. `None`: not known yet.
    pub verdict_from: Option<SystemTime>,
    /// The verdict now.
    pub verdict: Health,
    /// Verdict transitions kept, oldest first: (when, to what).
    pub transitions: Vec<(SystemTime, Health)>,
    /// DNS answer changes kept, oldest first; unknown before the first.
    pub dns: Vec<DnsChange>,
}

/// The ring of an app's DNS answer changes.
#[derive(Debug, Default)]
pub(super) struct DnsRing {
    changes: VecDeque<DnsChange>,
}

impl DnsRing {
    /// Records `dns`'s shares if they differ from the last recorded ones: from the
    /// view's `since` (the leader's time of the change) when it reads and lies
    /// between the last recorded change and `now`, else from `now`. An absent view is recorded
    /// as unknown (empty shares) once something was known.
    pub fn record(&mut self, dns: Option<&DnsView>, now: SystemTime) {
        let last = self.changes.back();
        let unchanged = match (dns, last) {
            (None, None) => true,
            (None, Some(l)) => l.shares.is_empty(),
            (Some(d), None) => d.shares.is_empty(),
            (Some(d), Some(l)) => same(d, &l.shares),
        };
        if unchanged {
            return;
        }
        let floor = last.map_or(SystemTime::UNIX_EPOCH, |l| l.at);
        let at = dns
            .and_then(|d| d.since.as_deref())
            .and_then(|s| humantime::parse_rfc3339_weak(s).ok())
            .filter(|since| (floor..=now).contains(since))
            .unwrap_or(now.max(floor));
        let shares = dns.map_or_else(|| Arc::from([]), |d| self.intern(d));
        if self.changes.len() == DNS_CHANGES_KEPT {
            self.changes.pop_front();
        }
        self.changes.push_back(DnsChange { at, shares });
        // A change that ended before the last hour is never drawn.
        let horizon = now.checked_sub(HISTORY_WINDOW).unwrap_or(SystemTime::UNIX_EPOCH);
        while self.changes.get(1).is_some_and(|c| c.at <= horizon) {
            self.changes.pop_front();
        }
    }

    /// The shares of `d`, sharing the allocation of an equal set kept in the ring.
    fn intern(&self, d: &DnsView) -> Shares {
        match self.changes.iter().find(|c| same(d, &c.shares)) {
            Some(c) => c.shares.clone(),
            None => d
                .shares
                .iter()
                .map(|(id, s)| (Arc::from(id.as_str()), *s as f32))
                .collect(),
        }
    }

    /// The changes kept, oldest first.
    pub fn snapshot(&self) -> Vec<DnsChange> {
        self.changes.iter().cloned().collect()
    }
}

/// True when `d`'s shares are `shares` (an empty view is never equal to unknown).
fn same(d: &DnsView, shares: &Shares) -> bool {
    !shares.is_empty()
        && d.shares.len() == shares.len()
        && d.shares
            .iter()
            .zip(shares.iter())
            .all(|((id, s), (kid, ks))| id.as_str() == &**kid && (*s as f32) == *ks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn view(shares: &[(&str, f64)], since: Option<&str>) -> DnsView {
        DnsView {
            answer: String::new(),
            shares: shares
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect::<BTreeMap<_, _>>(),
            since: since.map(str::to_owned),
            regions: Vec::new(),
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn rfc(t: SystemTime) -> String {
        humantime::format_rfc3339_seconds(t).to_string()
    }

    #[test]
    fn records_only_changes_of_the_shares_at_their_since() {
        let mut r = DnsRing::default();
        let west = view(&[("a", 1.0), ("b", 0.0)], Some(&rfc(at(10))));
        r.record(None, at(5));
        assert!(r.snapshot().is_empty(), "nothing known, nothing recorded");
        r.record(Some(&west), at(12));
        r.record(Some(&west), at(13));
        let central = view(&[("a", 0.0), ("b", 1.0)], Some(&rfc(at(20))));
        r.record(Some(&central), at(21));
        r.record(Some(&central), at(22));
        let s = r.snapshot();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].at, s[1].at), (at(10), at(20)));
        assert_eq!(&*s[1].shares, &[(Arc::from("a"), 0.0), (Arc::from("b"), 1.0)][..]);
        // Back to the first shares: the allocation is shared.
        r.record(Some(&west), at(30));
        let s = r.snapshot();
        assert!(Arc::ptr_eq(&s[0].shares, &s[2].shares));
        assert_eq!(s[2].at, at(30), "a since before the last change is now");
        // The view goes away: unknown from now.
        r.record(None, at(40));
        assert!(r.snapshot()[3].shares.is_empty());
        assert_eq!(r.snapshot()[3].at, at(40));
    }

    #[test]
    fn a_since_in_the_future_or_unreadable_is_now() {
        let mut r = DnsRing::default();
        r.record(Some(&view(&[("a", 1.0)], Some(&rfc(at(100))))), at(50));
        r.record(Some(&view(&[("b", 1.0)], Some("garbage"))), at(60));
        let s = r.snapshot();
        assert_eq!((s[0].at, s[1].at), (at(50), at(60)));
    }

    #[test]
    fn the_ring_is_bounded_and_drops_what_ended_before_the_hour() {
        let mut r = DnsRing::default();
        for i in 0..200u64 {
            let v = view(&[("a", (i % 2) as f64), ("b", ((i + 1) % 2) as f64)], None);
            r.record(Some(&v), at(i));
        }
        assert_eq!(r.snapshot().len(), DNS_CHANGES_KEPT);
        assert_eq!(r.snapshot()[0].at, at(140));
        // An hour later: only the change still in force at the window's left edge stays.
        r.record(Some(&view(&[("c", 1.0)], None)), at(199 + 3601));
        let s = r.snapshot();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].at, at(199));
    }

    fn remote() -> super::super::App {
        let m = crate::telemetry::Metrics::new("eu-west-1").unwrap();
        let key = crate::model::AppKey {
            namespace: "ns".into(),
            name: "app1".into(),
        };
        let awaiting = crate::verdict::policy::Decision {
            health: Health::Healthy,
            reason: "awaiting".into(),
        };
        super::super::App::remote(key, awaiting, m.for_remote_app())
    }

    fn publish(app: &super::super::App, health: Health) {
        let d = crate::verdict::policy::Decision {
            health,
            reason: "r".into(),
        };
        app.publish(d, Default::default(), crate::model::OverrideMode::None);
    }

    #[test]
    fn the_store_knows_a_remote_verdict_from_the_first_one_and_back_to_the_oldest_kept_transition() {
        let app = remote();
        let now = tokio::time::Instant::now();
        assert_eq!(app.view(now).history.verdict_from, None);
        publish(&app, Health::Healthy);
        let first = app.view(now).history.verdict_from.unwrap();
        let count = super::super::TRANSITIONS_KEPT + 3;
        for i in 0..count {
            publish(&app, if i % 2 == 0 { Health::Unhealthy } else { Health::Healthy });
        }
        let h = app.view(now).history;
        assert_eq!(h.transitions.len(), super::super::TRANSITIONS_KEPT);
        assert!(h.verdict_from.unwrap() >= first);
        assert!(h.verdict_from.unwrap() <= h.transitions[0].0);
        assert_eq!(h.verdict, h.transitions.last().unwrap().1);
    }

    #[test]
    fn the_store_records_dns_changes_from_both_ways_in_not_per_update() {
        let app = remote();
        let now = tokio::time::Instant::now();
        let r53 = |shares: &[(&str, f64)]| super::super::Route53View {
            dns: Some(view(shares, None)),
            ..Default::default()
        };
        app.publish_aws(None, Some(r53(&[("a", 1.0), ("b", 0.0)])));
        app.publish_aws(None, Some(r53(&[("a", 1.0), ("b", 0.0)])));
        app.update_route53(|v| v.route53_healthy = Some(true));
        assert_eq!(app.view(now).history.dns.len(), 1);
        app.update_route53(|v| v.dns = Some(view(&[("a", 0.5), ("b", 0.5)], None)));
        app.publish_aws(None, None);
        let dns = app.view(now).history.dns;
        assert_eq!(dns.len(), 3);
        assert_eq!(dns[1].shares[1], (Arc::from("b"), 0.5));
        assert!(dns[2].shares.is_empty());
    }
}
