//! Tests of `cluster/kube/slices.rs`.

use super::*;

const RULES: ProbeTargets = ProbeTargets { allow_loopback: false };

/// A slice as the EndpointSlice controller writes it: labelled, every endpoint a
/// Pod of `ns` (unless it names its own `targetRef`).
fn slice(ns: &str, svc: &str, port: i32, eps: serde_json::Value) -> EndpointSlice {
    let mut eps = eps;
    for e in eps.as_array_mut().into_iter().flatten() {
        if e.get("targetRef").is_none() {
            e["targetRef"] = serde_json::json!({ "kind": "Pod", "namespace": ns, "name": "p" });
        }
    }
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": format!("{svc}-x"), "namespace": ns,
                      "labels": { SERVICE_LABEL: svc, MANAGED_BY_LABEL: CONTROLLER } },
        "addressType": "IPv4",
        "ports": [{ "name": "http", "port": port, "protocol": "TCP" }],
        "endpoints": eps,
    }))
    .unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn conditions_follow_the_endpointslice_contract() {
    let s = slice(
        "ns",
        "app1",
        8080,
        serde_json::json!([
            { "addresses": ["10.0.0.1"], "nodeName": "a" },
            { "addresses": ["10.0.0.2"], "nodeName": "b", "conditions": { "ready": false, "serving": true, "terminating": true } },
            { "addresses": ["10.0.0.3"], "nodeName": "b", "conditions": { "ready": false } },
            { "addresses": ["169.254.169.254", "not-an-ip"], "nodeName": "c" },
        ]),
    );
    let other = slice("ns", "other", 80, serde_json::json!([{ "addresses": ["10.0.0.9"] }]));
    let elsewhere = slice("ns2", "app1", 80, serde_json::json!([{ "addresses": ["10.0.0.8"] }]));
    let eps = endpoints_of("ns", "app1", [&s, &other, &elsewhere], RULES);
    assert_eq!(
        eps.len(),
        3,
        "metadata address dropped, other services and namespaces skipped"
    );
    let e1 = &eps[&ip("10.0.0.1")];
    assert!(e1.ready && e1.serving && !e1.terminating && e1.is_ready());
    assert_eq!(e1.node.as_deref(), Some("a"));
    assert_eq!(e1.refused, None);
    assert_eq!(e1.probe_addr(None), Some("10.0.0.1:8080".parse().unwrap()));
    assert_eq!(e1.probe_addr(Some(9000)), Some("10.0.0.1:9000".parse().unwrap()));
    let e2 = &eps[&ip("10.0.0.2")];
    assert!(e2.serving && e2.terminating && !e2.is_ready());
    let e3 = &eps[&ip("10.0.0.3")];
    assert!(!e3.ready && !e3.serving, "serving defaults to ready");
}

#[test]
fn an_address_in_two_slices_counts_once_and_ready_wins() {
    let a = slice(
        "ns",
        "s",
        80,
        serde_json::json!([{ "addresses": ["10.0.0.1"], "conditions": { "ready": false } }]),
    );
    let b = slice(
        "ns",
        "s",
        80,
        serde_json::json!([{ "addresses": ["10.0.0.1"], "conditions": { "ready": true } }]),
    );
    for order in [[&a, &b], [&b, &a]] {
        let eps = endpoints_of("ns", "s", order, RULES);
        assert_eq!(eps.len(), 1);
        assert!(eps.values().next().unwrap().ready);
    }
}

#[test]
fn only_pods_of_the_apps_namespace_in_controller_slices_are_probed() {
    let pod = |ns: &str| serde_json::json!({ "kind": "Pod", "namespace": ns, "name": "p" });
    let managed = slice(
        "ns",
        "s",
        80,
        serde_json::json!([
            { "addresses": ["10.0.0.1"] },
            { "addresses": ["10.0.0.2"], "targetRef": pod("other") },
            { "addresses": ["10.0.0.3"], "targetRef": { "kind": "Node", "name": "n1" } },
            { "addresses": ["10.0.0.4"], "targetRef": { "kind": "Pod", "name": "p" } },
            { "addresses": ["10.0.0.5"], "targetRef": null },
            { "addresses": ["127.0.0.1"] },
            { "addresses": ["127.3.2.1"], "conditions": { "ready": false } },
        ]),
    );
    let mut hand_made = slice("ns", "s", 80, serde_json::json!([{ "addresses": ["10.0.0.6"] }]));
    hand_made.metadata.name = Some("s-hand-made".into());
    hand_made.metadata.labels.as_mut().unwrap().remove(MANAGED_BY_LABEL);
    let mut other_controller = slice("ns", "s", 80, serde_json::json!([{ "addresses": ["10.0.0.7"] }]));
    other_controller
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert(MANAGED_BY_LABEL.into(), "mirroring-controller.k8s.io".into());
    let all = [&managed, &hand_made, &other_controller];
    let eps = endpoints_of("ns", "s", all, RULES);
    let refused: Vec<(String, Option<Refused>)> = eps.values().map(|e| (e.ip.to_string(), e.refused)).collect();
    assert_eq!(
        refused,
        [
            ("10.0.0.1".into(), None),
            ("10.0.0.2".into(), Some(Refused::OtherNamespace)),
            ("10.0.0.3".into(), Some(Refused::NotAPod)),
            ("10.0.0.4".into(), None),
            ("10.0.0.5".into(), Some(Refused::NotAPod)),
            ("10.0.0.6".into(), Some(Refused::NotControllerManaged)),
            ("10.0.0.7".into(), Some(Refused::NotControllerManaged)),
            ("127.0.0.1".into(), Some(Refused::Loopback)),
            ("127.3.2.1".into(), Some(Refused::Loopback)),
        ],
        "a targetRef without a namespace is the slice's namespace"
    );
    assert!(
        eps.values()
            .filter(|e| e.refused.is_some())
            .all(|e| e.is_ready() || e.ip == ip("127.3.2.1")),
        "refused endpoints still count for readiness"
    );
    let allowed = endpoints_of("ns", "s", all, ProbeTargets { allow_loopback: true });
    assert_eq!(allowed[&ip("127.0.0.1")].refused, None, "allowLoopback");
    assert_eq!(
        allowed[&ip("10.0.0.6")].refused,
        Some(Refused::NotControllerManaged),
        "allowLoopback allows loopback only"
    );
}

#[test]
fn loopback_in_any_form_is_loopback_and_metadata_is_dropped_whatever_the_rules() {
    for lo in ["127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1"] {
        assert!(is_loopback(ip(lo)), "{lo}");
    }
    for not in ["10.0.0.1", "128.0.0.1", "::2", "::ffff:10.0.0.1", "fe80::1"] {
        assert!(!is_loopback(ip(not)), "{not}");
    }
    let s = slice(
        "ns",
        "s",
        80,
        serde_json::json!([{ "addresses": ["169.254.169.254"] }, { "addresses": ["169.254.1.1"] }, { "addresses": ["0.0.0.0"] }]),
    );
    for rules in [RULES, ProbeTargets { allow_loopback: true }] {
        assert!(endpoints_of("ns", "s", [&s], rules).is_empty());
    }
}

#[test]
fn a_probed_copy_of_an_address_wins_over_a_refused_one() {
    let good = slice("ns", "s", 80, serde_json::json!([{ "addresses": ["10.0.0.1"] }]));
    let mut bad = good.clone();
    bad.metadata.labels.as_mut().unwrap().remove(MANAGED_BY_LABEL);
    for order in [[&good, &bad], [&bad, &good]] {
        assert_eq!(endpoints_of("ns", "s", order, RULES)[&ip("10.0.0.1")].refused, None);
    }
}
