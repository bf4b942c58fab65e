//! Tests of `cluster/leader/fold.rs`.

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
