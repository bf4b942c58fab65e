//! The policy keys ([`PolicyKeys`]) validated into a [`Policy`], with defaults,
//! and [`probe_and_policy`]: the one validation of an app's probe and policy keys,
//! for the static file and the `AppHealth` resource alike.

use super::super::keys::{PolicyKeys, ProbeKeys};
use super::super::numbers::{finite_secs, show};
use super::probe::{self, ProbeSpec};
use crate::spec::policy::MinHealthy;
use crate::spec::policy::Policy;
use std::time::Duration;

const DEFAULT_FALL: u32 = 3;
const DEFAULT_RISE: u32 = 2;
/// Longest `startupGraceSeconds`: one day.
const MAX_GRACE: f64 = 86_400.0;

/// Validates the probe and policy keys of one app, with defaults. Problems go to
/// `errs`, prefixed with `at` (e.g. `apps[0]` or `spec`). `policy.override` is
/// not read here: it is the static file's, and the caller's to take.
pub(crate) fn probe_and_policy(
    at: &str,
    p: &ProbeKeys,
    pol: &PolicyKeys,
    errs: &mut Vec<String>,
) -> (ProbeSpec, Policy, Duration) {
    let probe = probe::validate(at, p, errs);
    let endpoints = MinKeys {
        count: "minHealthyEndpoints",
        percent: "minHealthyPercent",
        zero: "0 would make the app always healthy; use 1 or more, or `override: pass`",
    };
    let targets = MinKeys {
        count: "minHealthyTargets",
        percent: "minHealthyTargetPercent",
        zero: "0 would ignore the ALB; use 1 or more, or remove targetGroupArns",
    };
    let min_healthy = min_of(
        at,
        &endpoints,
        (pol.min_healthy_endpoints, pol.min_healthy_percent),
        errs,
    );
    let min_healthy_targets = min_of(
        at,
        &targets,
        (pol.min_healthy_targets, pol.min_healthy_target_percent),
        errs,
    );
    let fall_count = count_field(at, "fallCount", pol.fall_count, DEFAULT_FALL, errs);
    let rise_count = count_field(at, "riseCount", pol.rise_count, DEFAULT_RISE, errs);
    let grace = grace(at, pol.startup_grace_seconds, &probe, rise_count, errs);
    let policy = Policy {
        min_healthy,
        fall_count,
        rise_count,
        min_healthy_targets,
    };
    (probe.spec, policy, grace.unwrap_or_default())
}

/// The two keys of one "how many healthy" rule (a count or a percent, never
/// both) and why a count of 0 is refused.
struct MinKeys {
    count: &'static str,
    percent: &'static str,
    zero: &'static str,
}

/// The count/percent rule: at most one of the two keys; a percent of 1 to 100; a
/// count of 1 or more. Default (and after a problem): a count of 1.
fn min_of(at: &str, keys: &MinKeys, given: (Option<u32>, Option<u32>), errs: &mut Vec<String>) -> MinHealthy {
    let MinKeys { count, percent, zero } = keys;
    match given {
        (Some(_), Some(_)) => {
            errs.push(format!("{at}.policy: set only one of {count} and {percent}"));
            MinHealthy::Count(1)
        }
        (_, Some(pct)) if !(1..=100).contains(&pct) => {
            errs.push(format!("{at}.policy.{percent}: {pct} is out of range; use 1 to 100"));
            MinHealthy::Count(1)
        }
        (_, Some(pct)) => MinHealthy::Percent(pct as u8),
        (Some(0), _) => {
            errs.push(format!("{at}.policy.{count}: {zero}"));
            MinHealthy::Count(1)
        }
        (Some(n), _) => MinHealthy::Count(n),
        (None, None) => MinHealthy::Count(1),
    }
}

/// `fallCount` or `riseCount`: 1 to 100, with its default.
fn count_field(at: &str, field: &str, v: Option<u32>, default: u32, errs: &mut Vec<String>) -> u32 {
    let v = v.unwrap_or(default);
    if !(1..=100).contains(&v) {
        errs.push(format!(
            "{at}.policy.{field}: {v} is out of range; use 1 to 100 (default {default})"
        ));
        return default;
    }
    v
}

/// `startupGraceSeconds`: 0 to [`MAX_GRACE`]; by default riseCount × interval +
/// timeout, which must fit too. `None` when refused, or when the interval or
/// timeout it is made of is (that has its own message).
fn grace(
    at: &str,
    given: Option<f64>,
    probe: &probe::Checked,
    rise_count: u32,
    errs: &mut Vec<String>,
) -> Option<Duration> {
    match (given, probe.interval, probe.timeout) {
        (Some(g), _, _) => finite_secs(
            &format!("{at}.policy.startupGraceSeconds"),
            g,
            (0.0, MAX_GRACE),
            " (default riseCount × intervalSeconds + timeoutSeconds)",
            errs,
        ),
        (None, Some(i), Some(t)) => {
            let g = i * rise_count + t;
            if g.as_secs_f64() > MAX_GRACE {
                errs.push(format!("{at}.policy.startupGraceSeconds: the default, riseCount × intervalSeconds + timeoutSeconds, is {}, over {MAX_GRACE}; set startupGraceSeconds to 0 to {MAX_GRACE}, or lower riseCount or intervalSeconds", show(g.as_secs_f64())));
            }
            Some(g)
        }
        // The interval or timeout is already refused; no second message about it.
        (None, _, _) => None,
    }
}
