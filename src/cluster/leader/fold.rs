//! The leader's verdict: the pure fold of one app's signals.
//!
//! Inputs are the app's endpoints from its EndpointSlices (readiness) and the
//! debounced probe state of each endpoint from the report of the agent on its node.
//! An endpoint is healthy when Kubernetes says it is ready and not terminating,
//! and its node's agent says its probes pass. An endpoint whose node has no live
//! agent report is judged on readiness alone and counted as unprobed: the agent's
//! own trouble never fails an app. An endpoint that may not be probed at all (see
//! [`crate::cluster::kube::slices::refusal`]) is judged on readiness alone too, and counted apart.
//! A ready endpoint whose probe state is still `unknown` counts as healthy while
//! it is in start-up grace ([`super::grace`]) and as not healthy after, as in
//! static mode.

use crate::cluster::kube::slices::Endpoint;
use crate::cluster::kube::slices::Refused;
use crate::model::Counts;
use crate::model::EndpointState;
use crate::model::OverrideMode;
use crate::spec::policy::Policy;
use crate::verdict::policy;
use crate::verdict::policy::Decision;
use serde::Serialize;
use std::net::IpAddr;

/// The counts written to `AppHealth.status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub total: u32,
    pub ready: u32,
    /// Ready endpoints with a probe state from a live agent.
    pub probed: u32,
    pub healthy: u32,
    /// Ready endpoints whose probe state is still unknown (too few samples yet).
    pub unknown: u32,
    /// Ready endpoints whose node has no live agent report.
    pub unprobed: u32,
    /// Ready endpoints that are never probed (not a Pod of the app's namespace in
    /// a slice of the EndpointSlice controller, or loopback), judged on readiness.
    pub refused_ready: u32,
    /// All endpoints that are never probed, ready or not, by [`Refused::index`].
    pub refused: [u32; Refused::ALL.len()],
}

impl Tally {
    /// The refused endpoints, in words: `1 not a Pod (targetRef), 2 a loopback address`.
    pub fn refused_text(&self) -> Option<String> {
        let parts: Vec<String> = Refused::ALL
            .iter()
            .filter(|r| self.refused[r.index()] > 0)
            .map(|r| format!("{} {}", self.refused[r.index()], r.as_str()))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Folds one app's signals into a decision and the tally.
///
/// `probe` gives the debounced probe state of an endpoint from its node's live
/// agent, or `None` when no live agent reports on it; `in_grace` tells whether an
/// endpoint whose state is `unknown` is still in start-up grace.
pub fn fold<'a>(
    endpoints: impl IntoIterator<Item = &'a Endpoint>,
    probe: impl Fn(IpAddr) -> Option<EndpointState>,
    in_grace: impl Fn(IpAddr) -> bool,
    policy: &Policy,
    ovr: OverrideMode,
) -> (Decision, Tally) {
    let mut t = Tally::default();
    // As the policy counts them: an `unknown` endpoint past its grace counts as down.
    let mut states = Vec::new();
    for e in endpoints {
        t.total += 1;
        if let Some(r) = e.refused {
            t.refused[r.index()] += 1;
        }
        let state = if !e.is_ready() {
            EndpointState::Down
        } else if e.refused.is_some() {
            t.ready += 1;
            t.refused_ready += 1;
            EndpointState::Up
        } else {
            t.ready += 1;
            match probe(e.ip) {
                Some(EndpointState::Unknown) => {
                    t.probed += 1;
                    t.unknown += 1;
                    if in_grace(e.ip) {
                        EndpointState::Unknown
                    } else {
                        EndpointState::Down
                    }
                }
                Some(s) => {
                    t.probed += 1;
                    s
                }
                None => {
                    t.unprobed += 1;
                    EndpointState::Up
                }
            }
        };
        if state == EndpointState::Up {
            t.healthy += 1;
        }
        states.push(state);
    }
    // Only the `unknown` endpoints still in grace are left `unknown` in `states`.
    let mut d = policy::evaluate(Counts::of(states.iter()), policy, true, ovr);
    if ovr == OverrideMode::None && t.total > 0 {
        // Healthy endpoints are the unprobed and never-probed ready ones plus the
        // probed ones that pass.
        let passing = t.healthy - t.unprobed - t.refused_ready;
        d.reason = format!("{} ({} ready, {passing} passing probes", d.reason, t.ready);
        if t.unprobed > 0 {
            d.reason.push_str(&format!(", {} unprobed", t.unprobed));
        }
        if t.refused_ready > 0 {
            d.reason.push_str(&format!(", {} never probed", t.refused_ready));
        }
        d.reason.push(')');
    }
    (d, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Health;
    use crate::spec::policy::MinHealthy;
    use std::collections::HashMap;

    fn ep(ip: &str, ready: bool) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap(),
            port: Some(80),
            node: Some("n".into()),
            ready,
            serving: ready,
            terminating: false,
            refused: None,
        }
    }

    const P: Policy = Policy {
        min_healthy: MinHealthy::Count(2),
        fall_count: 3,
        rise_count: 2,
        min_healthy_targets: MinHealthy::Count(1),
    };

    fn run(eps: &[Endpoint], probes: &[(&str, EndpointState)], grace: bool) -> (Decision, Tally) {
        let m: HashMap<IpAddr, EndpointState> = probes.iter().map(|(ip, s)| (ip.parse().unwrap(), *s)).collect();
        fold(eps, |ip| m.get(&ip).copied(), |_| grace, &P, OverrideMode::None)
    }

    #[test]
    fn healthy_means_ready_and_passing() {
        let eps = [ep("10.0.0.1", true), ep("10.0.0.2", true), ep("10.0.0.3", true)];
        let (d, t) = run(
            &eps,
            &[
                ("10.0.0.1", EndpointState::Up),
                ("10.0.0.2", EndpointState::Down),
                ("10.0.0.3", EndpointState::Down),
            ],
            false,
        );
        assert_eq!(d.health, Health::Unhealthy);
        assert_eq!(d.reason, "1/3 endpoints healthy, need 2 (3 ready, 1 passing probes)");
        assert_eq!(
            t,
            Tally {
                total: 3,
                ready: 3,
                probed: 3,
                healthy: 1,
                unprobed: 0,
                ..Tally::default()
            }
        );
    }

    #[test]
    fn a_not_ready_endpoint_is_down_whatever_its_probes_say() {
        let eps = [ep("10.0.0.1", true), ep("10.0.0.2", false)];
        let (d, t) = run(
            &eps,
            &[("10.0.0.1", EndpointState::Up), ("10.0.0.2", EndpointState::Up)],
            false,
        );
        assert_eq!(d.health, Health::Unhealthy);
        assert_eq!((t.ready, t.healthy), (1, 1));
        assert_eq!(d.reason, "1/2 endpoints healthy, need 2 (1 ready, 1 passing probes)");
    }

    #[test]
    fn endpoints_without_a_live_agent_count_on_readiness_alone() {
        let eps = [ep("10.0.0.1", true), ep("10.0.0.2", true)];
        let (d, t) = run(&eps, &[], false);
        assert_eq!(d.health, Health::Healthy, "a missing agent must not fail the app");
        assert_eq!(t.unprobed, 2);
        assert_eq!(
            d.reason,
            "2/2 endpoints healthy (2 ready, 0 passing probes, 2 unprobed)"
        );
    }

    #[test]
    fn endpoints_that_may_not_be_probed_count_on_readiness_alone_and_are_never_asked_about() {
        let mut hand_made = ep("10.0.0.2", true);
        hand_made.refused = Some(Refused::NotControllerManaged);
        let mut lo = ep("127.0.0.1", false);
        lo.refused = Some(Refused::Loopback);
        let eps = [ep("10.0.0.1", true), hand_made, lo];
        let (d, t) = fold(
            &eps,
            |ip| {
                assert_eq!(
                    ip,
                    "10.0.0.1".parse::<IpAddr>().unwrap(),
                    "asked about a refused endpoint"
                );
                Some(EndpointState::Up)
            },
            |_| false,
            &P,
            OverrideMode::None,
        );
        assert_eq!(d.health, Health::Healthy, "the ready hand-made endpoint counts");
        assert_eq!(
            (t.total, t.ready, t.probed, t.healthy, t.unprobed, t.refused_ready),
            (3, 2, 1, 2, 0, 1)
        );
        assert_eq!(
            d.reason,
            "2/3 endpoints healthy (2 ready, 1 passing probes, 1 never probed)"
        );
        assert_eq!(
            t.refused_text().as_deref(),
            Some("1 not in an EndpointSlice of the EndpointSlice controller, 1 a loopback address")
        );
        assert_eq!(Tally::default().refused_text(), None);
    }

    #[test]
    fn grace_and_overrides_apply() {
        let eps = [ep("10.0.0.1", true), ep("10.0.0.2", true)];
        let probes = [("10.0.0.1", EndpointState::Unknown), ("10.0.0.2", EndpointState::Up)];
        assert_eq!(run(&eps, &probes, true).0.health, Health::Healthy);
        assert_eq!(run(&eps, &probes, false).0.health, Health::Unhealthy);
        let (d, _) = fold(&eps, |_| Some(EndpointState::Up), |_| false, &P, OverrideMode::Fail);
        assert_eq!((d.health, d.reason.as_str()), (Health::Unhealthy, "override: fail"));
        let (d, _) = fold(&[], |_| None, |_| false, &P, OverrideMode::None);
        assert_eq!(d.reason, "no endpoints");
    }

    #[test]
    fn grace_is_per_endpoint_and_unknown_is_counted_either_way() {
        let eps = [ep("10.0.0.1", true), ep("10.0.0.2", true), ep("10.0.0.3", true)];
        let probes = |ip: IpAddr| {
            Some(if ip == "10.0.0.1".parse::<IpAddr>().unwrap() {
                EndpointState::Up
            } else {
                EndpointState::Unknown
            })
        };
        // .2 is still in grace, .3 is past it: one healthy, one given the benefit of the doubt.
        let fresh = |ip: IpAddr| ip == "10.0.0.2".parse::<IpAddr>().unwrap();
        let (d, t) = fold(&eps, probes, fresh, &P, OverrideMode::None);
        assert_eq!(d.health, Health::Healthy);
        assert_eq!(
            d.reason,
            "1/3 endpoints healthy, 1 awaiting samples (start-up grace) (3 ready, 1 passing probes)"
        );
        assert_eq!((t.probed, t.healthy, t.unknown), (3, 1, 2));
        let (d, t) = fold(&eps, probes, |_| false, &P, OverrideMode::None);
        assert_eq!(d.reason, "1/3 endpoints healthy, need 2 (3 ready, 1 passing probes)");
        assert_eq!(
            t.unknown, 2,
            "still unknown, only no longer given the benefit of the doubt"
        );
    }
}
