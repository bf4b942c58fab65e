//! Tests of `cluster/leader/memo.rs`.

use super::*;
use crate::cluster::kube::crd::AppHealth;

fn ah(rv: &str) -> AppHealth {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
        "metadata": { "name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": rv },
        "spec": { "services": ["web"] },
    }))
    .unwrap()
}

fn slice(name: &str, rv: &str) -> EndpointSlice {
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": name, "namespace": "shop", "uid": name, "resourceVersion": rv },
        "addressType": "IPv4", "endpoints": [],
    }))
    .unwrap()
}

fn of(
    rv: &str,
    slices: &[&EndpointSlice],
    probes: Option<&HashMap<IpAddr, EndpointState>>,
    alb: Option<TargetCounts>,
    aws_version: u64,
    kube_stale: bool,
) -> u64 {
    let inputs = Inputs {
        slices,
        probes,
        alb,
        aws_version,
        kube_stale,
        grace_expired: 0,
    };
    digest(&ah(rv), &inputs)
}

#[test]
fn the_digest_follows_every_input_and_ignores_order() {
    let (a, b) = (slice("a", "1"), slice("b", "1"));
    let up = HashMap::from([("10.0.0.1".parse().unwrap(), EndpointState::Up)]);
    let down = HashMap::from([("10.0.0.1".parse().unwrap(), EndpointState::Down)]);
    let d = of("5", &[&a, &b], Some(&up), None, 0, false);
    assert_eq!(
        d,
        of("5", &[&b, &a], Some(&up), None, 0, false),
        "slice order is the store's, not a change"
    );
    let alb = TargetCounts {
        healthy: 1,
        total: 2,
        stale: false,
    };
    let stale_alb = TargetCounts { stale: true, ..alb };
    let changed = [
        ("the object", of("6", &[&a, &b], Some(&up), None, 0, false)),
        ("a slice gone", of("5", &[&a], Some(&up), None, 0, false)),
        (
            "a slice changed",
            of("5", &[&a, &slice("b", "2")], Some(&up), None, 0, false),
        ),
        ("no probes", of("5", &[&a, &b], None, None, 0, false)),
        ("a probe state", of("5", &[&a, &b], Some(&down), None, 0, false)),
        ("ALB counts", of("5", &[&a, &b], Some(&up), Some(alb), 0, false)),
        ("AWS results", of("5", &[&a, &b], Some(&up), None, 1, false)),
        ("a failing watch", of("5", &[&a, &b], Some(&up), None, 0, true)),
    ];
    for (what, c) in changed {
        assert_ne!(d, c, "{what} changed");
    }
    let probes = Some(&up);
    let grace_ended = Inputs {
        slices: &[&a, &b],
        probes,
        alb: None,
        aws_version: 0,
        kube_stale: false,
        grace_expired: 1,
    };
    assert_ne!(d, digest(&ah("5"), &grace_ended), "an endpoint's grace ended");
    assert_ne!(
        of("5", &[&a, &b], Some(&up), Some(alb), 0, false),
        of("5", &[&a, &b], Some(&up), Some(stale_alb), 0, false),
        "the ALB view turned stale"
    );
}

#[test]
fn only_apps_found_in_line_are_remembered_and_a_pass_forgets_apps_it_did_not_meet() {
    let mut m = Memo::default();
    m.record("shop/web", 7, true, true);
    assert_eq!(m.in_line("shop/web", 7), Some(true));
    assert_eq!(m.in_line("shop/web", 8), None, "other inputs");
    m.record("shop/web", 8, true, false);
    assert_eq!(
        m.in_line("shop/web", 7),
        None,
        "a failed write is retried on the next fold"
    );
    m.record("shop/api", 1, true, true);
    m.record("shop/web", 2, false, true);
    m.sweep();
    assert_eq!(m.len(), 2, "both met in the first pass");
    assert_eq!(m.in_line("shop/web", 2), Some(false), "an invalid spec, in line");
    m.sweep();
    assert_eq!(m.len(), 1, "api was not met in the second pass: no longer served");
    assert_eq!(m.in_line("shop/web", 2), Some(false));
}
