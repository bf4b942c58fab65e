//! Exhaustive and property tests of the pure policy.

use super::*;
use proptest::prelude::*;

fn policy(min: MinHealthy, fall: u32, rise: u32) -> Policy {
    Policy {
        min_healthy: min,
        fall_count: fall,
        rise_count: rise,
        min_healthy_targets: MinHealthy::Count(1),
    }
}

#[test]
fn reasons_read_like_the_contract() {
    let p = policy(MinHealthy::Count(2), 3, 2);
    let c = Counts {
        total: 2,
        up: 1,
        down: 1,
        unknown: 0,
    };
    let d = evaluate(c, &p, false, OverrideMode::None);
    assert_eq!(d.health, Health::Unhealthy);
    assert_eq!(d.reason, "1/2 endpoints healthy, need 2");
    let d = evaluate(Counts { up: 2, down: 0, ..c }, &p, false, OverrideMode::None);
    assert_eq!(
        (d.health, d.reason.as_str()),
        (Health::Healthy, "2/2 endpoints healthy")
    );
    let d = evaluate(c, &p, false, OverrideMode::Fail);
    assert_eq!((d.health, d.reason.as_str()), (Health::Unhealthy, "override: fail"));
    let d = evaluate(Counts::default(), &p, false, OverrideMode::Pass);
    assert_eq!((d.health, d.reason.as_str()), (Health::Healthy, "override: pass"));
    let d = evaluate(Counts::default(), &p, true, OverrideMode::None);
    assert_eq!((d.health, d.reason.as_str()), (Health::Unhealthy, "no endpoints"));
}

#[test]
fn grace_gives_unknown_endpoints_the_benefit_of_the_doubt() {
    let p = policy(MinHealthy::Count(1), 3, 2);
    let c = Counts {
        total: 2,
        up: 0,
        down: 0,
        unknown: 2,
    };
    let d = evaluate(c, &p, true, OverrideMode::None);
    assert_eq!(d.health, Health::Healthy);
    assert_eq!(d.reason, "0/2 endpoints healthy, 2 awaiting samples (start-up grace)");
    assert_eq!(evaluate(c, &p, false, OverrideMode::None).health, Health::Unhealthy);
    // A Down endpoint is not forgiven by grace.
    let c = Counts {
        total: 1,
        up: 0,
        down: 1,
        unknown: 0,
    };
    assert_eq!(evaluate(c, &p, true, OverrideMode::None).health, Health::Unhealthy);
}

#[test]
fn percent_rounds_up_and_needs_at_least_one() {
    assert_eq!(MinHealthy::Percent(50).required(3), 2);
    assert_eq!(MinHealthy::Percent(50).required(4), 2);
    assert_eq!(MinHealthy::Percent(1).required(1), 1);
    assert_eq!(MinHealthy::Percent(100).required(7), 7);
    assert_eq!(MinHealthy::Percent(10).required(0), 1);
    assert_eq!(MinHealthy::Count(3).required(10), 3);
}

/// Every combination of small counts, policies, grace and overrides: the verdict
/// matches a direct reading of the rules.
#[test]
fn evaluate_exhaustively_matches_the_rules() {
    for total in 0..=6usize {
        for up in 0..=total {
            for down in 0..=(total - up) {
                let unknown = total - up - down;
                let c = Counts {
                    total,
                    up,
                    down,
                    unknown,
                };
                for min in (1..=7)
                    .map(MinHealthy::Count)
                    .chain([1u8, 33, 50, 67, 100].map(MinHealthy::Percent))
                {
                    let p = policy(min, 2, 2);
                    for in_grace in [false, true] {
                        for ovr in [OverrideMode::None, OverrideMode::Fail, OverrideMode::Pass] {
                            let d = evaluate(c, &p, in_grace, ovr);
                            let need = min.required(total);
                            let expect = match ovr {
                                OverrideMode::Fail => false,
                                OverrideMode::Pass => true,
                                OverrideMode::None => total > 0 && (up >= need || (in_grace && up + unknown >= need)),
                            };
                            assert_eq!(d.health.is_healthy(), expect, "{c:?} {min:?} grace={in_grace} {ovr:?}");
                            assert!(d.reason.len() < 200);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn tracker_needs_fall_failures_to_go_down_and_rise_successes_to_come_back() {
    let p = policy(MinHealthy::Count(1), 3, 2);
    let mut t = EndpointTracker::default();
    assert!(!t.observe(true, &p));
    assert_eq!(t.state, EndpointState::Unknown);
    assert!(t.observe(true, &p));
    assert_eq!(t.state, EndpointState::Up);
    assert!(!t.observe(false, &p));
    assert!(!t.observe(false, &p));
    assert!(!t.observe(true, &p), "a success resets the failure run");
    for _ in 0..2 {
        assert!(!t.observe(false, &p));
    }
    assert!(t.observe(false, &p));
    assert_eq!(t.state, EndpointState::Down);
    assert!(!t.observe(true, &p));
    assert!(t.observe(true, &p));
    assert_eq!(t.state, EndpointState::Up);
    assert_eq!(t.samples, 10);
}

/// One step of a simulated app: which endpoint was probed and whether it passed,
/// or the end of start-up grace.
#[derive(Clone, Debug)]
enum Step {
    Probe(usize, bool),
    GraceEnds,
}

fn steps(endpoints: usize) -> impl Strategy<Value = Vec<Step>> {
    let probe = (0..endpoints, any::<bool>()).prop_map(|(i, ok)| Step::Probe(i, ok));
    prop::collection::vec(prop_oneof![20 => probe, 1 => Just(Step::GraceEnds)], 0..200)
}

fn min_strategy() -> impl Strategy<Value = MinHealthy> {
    prop_oneof![
        (1u32..5).prop_map(MinHealthy::Count),
        (1u8..=100).prop_map(MinHealthy::Percent)
    ]
}

proptest! {
    /// The hysteresis invariants: an observation turns an app unhealthy only right
    /// after `fallCount` failures in a row on the probed endpoint, and healthy only
    /// right after `riseCount` successes in a row.
    #[test]
    fn never_flips_faster_than_fall_or_rise_samples(
        n in 1usize..5, fall in 1u32..6, rise in 1u32..6, min in min_strategy(),
        start_in_grace in any::<bool>(), seq in steps(4),
    ) {
        let p = policy(min, fall, rise);
        let mut trackers = vec![EndpointTracker::default(); n];
        let mut history: Vec<Vec<bool>> = vec![Vec::new(); n];
        let mut in_grace = start_in_grace;
        let counts = |t: &[EndpointTracker]| Counts::of(t.iter().map(|t| &t.state));
        let mut verdict = evaluate(counts(&trackers), &p, in_grace, OverrideMode::None).health;
        for step in seq {
            match step {
                Step::GraceEnds => in_grace = false,
                Step::Probe(i, ok) => {
                    let i = i % n;
                    trackers[i].observe(ok, &p);
                    history[i].push(ok);
                    let next = evaluate(counts(&trackers), &p, in_grace, OverrideMode::None).health;
                    let h = &history[i];
                    if verdict == Health::Healthy && next == Health::Unhealthy {
                        prop_assert!(h.len() >= fall as usize && h[h.len() - fall as usize..].iter().all(|ok| !ok),
                            "went unhealthy without {fall} failures in a row: {h:?}");
                    }
                    if verdict == Health::Unhealthy && next == Health::Healthy {
                        prop_assert!(h.len() >= rise as usize && h[h.len() - rise as usize..].iter().all(|ok| *ok),
                            "went healthy without {rise} successes in a row: {h:?}");
                    }
                }
            }
            verdict = evaluate(counts(&trackers), &p, in_grace, OverrideMode::None).health;
        }
    }

    /// Endpoints that always pass never make an app unhealthy, in grace or after.
    #[test]
    fn always_passing_endpoints_are_never_unhealthy(
        n in 1usize..6, fall in 1u32..6, rise in 1u32..6, min in 1u32..6, seq in steps(6),
    ) {
        let p = policy(MinHealthy::Count(min.min(n as u32)), fall, rise);
        let mut trackers = vec![EndpointTracker::default(); n];
        let mut in_grace = true;
        for step in seq {
            match step {
                Step::GraceEnds => in_grace = false,
                Step::Probe(i, _) => { trackers[i % n].observe(true, &p); }
            }
            let all_up_or_grace = in_grace || trackers.iter().all(|t| t.samples >= rise as u64);
            let d = evaluate(Counts::of(trackers.iter().map(|t| &t.state)), &p, in_grace, OverrideMode::None);
            if all_up_or_grace {
                prop_assert_eq!(d.health, Health::Healthy, "{}", d.reason);
            }
        }
    }

    /// More healthy endpoints never make a healthy verdict unhealthy.
    #[test]
    fn verdict_is_monotone_in_healthy_endpoints(
        total in 1usize..50, up in 0usize..50, min in min_strategy(), in_grace in any::<bool>(),
    ) {
        let up = up.min(total);
        let p = policy(min, 3, 2);
        let a = evaluate(Counts { total, up, down: total - up, unknown: 0 }, &p, in_grace, OverrideMode::None);
        if up < total {
            let b = evaluate(Counts { total, up: up + 1, down: total - up - 1, unknown: 0 }, &p, in_grace, OverrideMode::None);
            prop_assert!(!a.health.is_healthy() || b.health.is_healthy(), "healthy with {} up, unhealthy with one more", up);
        }
    }

    /// Overrides win over any signal.
    #[test]
    fn overrides_always_win(total in 0usize..20, up in 0usize..20, in_grace in any::<bool>(), min in min_strategy()) {
        let up = up.min(total);
        let c = Counts { total, up, down: total - up, unknown: 0 };
        let p = policy(min, 3, 2);
        prop_assert_eq!(evaluate(c, &p, in_grace, OverrideMode::Fail).health, Health::Unhealthy);
        prop_assert_eq!(evaluate(c, &p, in_grace, OverrideMode::Pass).health, Health::Healthy);
    }
}
