//! The pure verdict function and its hysteresis state. No I/O, no clocks: time
//! enters only as the `in_grace` flag that the caller computes.
//!
//! Two layers decide an app's verdict:
//!
//! 1. **Per endpoint**, an [`EndpointTracker`] debounces probe results. A new
//!    endpoint is `Unknown`. It becomes `Up` after `riseCount` consecutive
//!    successes and `Down` after `fallCount` consecutive failures; an `Up`
//!    endpoint goes `Down` only after `fallCount` consecutive failures, and a
//!    `Down` one comes back only after `riseCount` consecutive successes.
//! 2. **Per app**, [`evaluate`] counts `Up` endpoints against the app's minimum.
//!    During start-up grace an `Unknown` endpoint is given the benefit of the doubt,
//!    so an app is never reported down before its endpoints have had `fallCount`
//!    samples. After grace, `Unknown` counts as not healthy.
//!
//! Guarantees, checked by the property tests below:
//! - an app only turns unhealthy on an observation if some endpoint has just failed
//!   `fallCount` times in a row (or grace ended, or an override says so);
//! - an app only turns healthy on an observation if some endpoint has just succeeded
//!   `riseCount` times in a row (or an override says so);
//! - `override: fail` is always unhealthy and `override: pass` always healthy.

pub use crate::model::{Counts, EndpointState, TargetCounts};
use crate::model::{Health, OverrideMode};
pub use crate::spec::policy::{MinHealthy, Policy};
use serde::Serialize;

/// Rise/fall hysteresis for one endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTracker {
    pub state: EndpointState,
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
    pub samples: u64,
}

impl EndpointTracker {
    /// Feeds one probe result. Returns true if the debounced state changed.
    pub fn observe(&mut self, success: bool, policy: &Policy) -> bool {
        self.samples = self.samples.saturating_add(1);
        let before = self.state;
        if success {
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            self.consecutive_failures = 0;
            if self.state != EndpointState::Up && self.consecutive_successes >= policy.rise_count {
                self.state = EndpointState::Up;
            }
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_successes = 0;
            if self.state != EndpointState::Down && self.consecutive_failures >= policy.fall_count {
                self.state = EndpointState::Down;
            }
        }
        before != self.state
    }
}

/// A verdict with the reason a person reads on `/health/<app>` and the status page.
/// Reasons carry counts only, never addresses: they are served on the public port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub health: Health,
    pub reason: String,
}

/// The pure verdict function: endpoint counts, the app's policy, whether start-up
/// grace is still running, and the effective override give a verdict and a reason.
///
/// ```
/// use failover_agent::model::{Health, OverrideMode};
/// use failover_agent::verdict::policy::{evaluate, Counts, MinHealthy, Policy};
///
/// let policy = Policy { min_healthy: MinHealthy::Count(2), fall_count: 3, rise_count: 2,
///                       min_healthy_targets: MinHealthy::Count(1) };
/// let counts = Counts { total: 2, up: 1, down: 1, unknown: 0 };
/// let d = evaluate(counts, &policy, false, OverrideMode::None);
/// assert_eq!(d.health, Health::Unhealthy);
/// assert_eq!(d.reason, "1/2 endpoints healthy, need 2");
///
/// // A game-day override wins over any signal.
/// assert_eq!(evaluate(counts, &policy, false, OverrideMode::Pass).reason, "override: pass");
/// ```
pub fn evaluate(counts: Counts, policy: &Policy, in_grace: bool, ovr: OverrideMode) -> Decision {
    match ovr {
        OverrideMode::Fail => return decision(Health::Unhealthy, "override: fail".into()),
        OverrideMode::Pass => return decision(Health::Healthy, "override: pass".into()),
        OverrideMode::None => {}
    }
    if counts.total == 0 {
        return decision(Health::Unhealthy, "no endpoints".into());
    }
    let need = policy.min_healthy.required(counts.total);
    let summary = format!("{}/{} endpoints healthy", counts.up, counts.total);
    if counts.up >= need {
        return decision(Health::Healthy, summary);
    }
    if in_grace && counts.up + counts.unknown >= need {
        return decision(
            Health::Healthy,
            format!("{summary}, {} awaiting samples (start-up grace)", counts.unknown),
        );
    }
    decision(Health::Unhealthy, format!("{summary}, need {need}"))
}

/// Adds the ALB signal to the endpoint decision `d`.
///
/// With no ALB data (`None`: no target groups, or never read) or an override, `d`
/// stands. Otherwise the app also needs `policy.min_healthy_targets`, and when the
/// two views disagree the reason says so.
///
/// ```
/// use failover_agent::model::{Health, OverrideMode};
/// use failover_agent::verdict::policy::{evaluate, with_targets, Counts, MinHealthy, Policy, TargetCounts};
///
/// let policy = Policy { min_healthy: MinHealthy::Count(1), fall_count: 3, rise_count: 2,
///                       min_healthy_targets: MinHealthy::Count(1) };
/// let pods = evaluate(Counts { total: 3, up: 3, down: 0, unknown: 0 }, &policy, false, OverrideMode::None);
/// let alb = TargetCounts { healthy: 0, total: 3, stale: false };
/// let d = with_targets(pods, Some(alb), &policy, OverrideMode::None);
/// assert_eq!(d.health, Health::Unhealthy);
/// assert_eq!(d.reason, "3/3 endpoints healthy but ALB healthy targets 0/3, need 1");
/// ```
pub fn with_targets(d: Decision, alb: Option<TargetCounts>, policy: &Policy, ovr: OverrideMode) -> Decision {
    let Some(alb) = alb else { return d };
    if ovr != OverrideMode::None {
        return d;
    }
    let need = policy.min_healthy_targets.required(alb.total as usize);
    let ok = alb.healthy as usize >= need;
    let stale = if alb.stale { " (stale)" } else { "" };
    let view = format!("ALB healthy targets {}/{}{stale}", alb.healthy, alb.total);
    match (d.health, ok) {
        (Health::Healthy, true) => decision(Health::Healthy, format!("{}; {view}", d.reason)),
        (Health::Healthy, false) => decision(Health::Unhealthy, format!("{} but {view}, need {need}", d.reason)),
        (Health::Unhealthy, true) => decision(Health::Unhealthy, format!("{} but {view}", d.reason)),
        (Health::Unhealthy, false) => decision(Health::Unhealthy, format!("{}; {view}, need {need}", d.reason)),
    }
}

fn decision(health: Health, reason: String) -> Decision {
    Decision { health, reason }
}

#[cfg(test)]
mod tests;
