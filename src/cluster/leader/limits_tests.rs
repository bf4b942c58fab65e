//! Tests of `cluster/leader/limits.rs`.

use super::*;
use crate::cluster::kube::slices::by_service;
use crate::cluster::serving::resolve::resolve;
use kube::ResourceExt;

fn ah(ns: &str, name: &str, created: &str) -> Arc<AppHealth> {
    Arc::new(
        serde_json::from_value(serde_json::json!({
            "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
            "metadata": { "name": name, "namespace": ns, "creationTimestamp": created },
            "spec": { "services": [name] },
        }))
        .unwrap(),
    )
}

fn slice(ns: &str, svc: &str, n: u8) -> EndpointSlice {
    let eps: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({ "addresses": [format!("10.0.{}.{i}", svc.len())] }))
        .collect();
    serde_json::from_value(serde_json::json!({
        "metadata": { "name": format!("{svc}-x"), "namespace": ns, "labels": { "kubernetes.io/service-name": svc } },
        "addressType": "IPv4", "ports": [{ "port": 80 }], "endpoints": eps,
    }))
    .unwrap()
}

fn held(r: &Resolution) -> Vec<(String, &'static str)> {
    let mut v: Vec<(String, &'static str)> = r
        .rejected
        .iter()
        .filter_map(|(ah, why)| match why {
            Rejected::Limit { kind, .. } => Some((
                format!("{}/{}", ah.namespace().unwrap_or_default(), ah.name_any()),
                kind.reason(),
            )),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

const LIMITS: Limits = Limits {
    apps_per_namespace: 2,
    endpoints_per_namespace: 5,
    probes_in_flight_per_app: 8,
};

#[test]
fn the_oldest_apps_that_fit_are_served_and_the_rest_held_per_namespace() {
    let objects = [
        ah("a", "z-old", "2026-01-01T00:00:00Z"),
        ah("a", "b-mid", "2026-01-02T00:00:00Z"),
        ah("a", "a-new", "2026-01-03T00:00:00Z"),
        ah("b", "big", "2026-01-01T00:00:00Z"),
        ah("b", "huge", "2026-01-02T00:00:00Z"),
        ah("b", "one", "2026-01-03T00:00:00Z"),
        ah("c", "alone", "2026-01-09T00:00:00Z"),
    ];
    let slices = [
        slice("a", "z-old", 1),
        slice("a", "b-mid", 1),
        slice("a", "a-new", 1),
        slice("b", "big", 4),
        slice("b", "huge", 3),
        slice("b", "one", 1),
        slice("c", "alone", 5),
    ];
    let index = by_service(slices.iter());
    for order in [objects.to_vec(), objects.iter().rev().cloned().collect()] {
        let mut r = resolve(order);
        apply(&mut r, &index, LIMITS);
        assert_eq!(
            held(&r),
            [
                ("a/a-new".to_string(), "AppsPerNamespace"),
                ("b/huge".to_string(), "EndpointsPerNamespace")
            ],
            "by age, not by name; a younger app that fits is served"
        );
        assert_eq!(
            r.served.keys().collect::<Vec<_>>(),
            ["alone", "b-mid", "big", "one", "z-old"]
        );
    }
    let mut r = resolve(objects.to_vec());
    apply(&mut r, &index, Limits::default());
    assert!(held(&r).is_empty());
}

#[test]
fn held_apps_keep_their_route53_objects() {
    let mut r = resolve([
        ah("a", "x", "2026-01-01T00:00:00Z"),
        ah("a", "y", "2026-01-02T00:00:00Z"),
    ]);
    let lim = Limits {
        apps_per_namespace: 1,
        ..LIMITS
    };
    apply(&mut r, &HashMap::new(), lim);
    let holds = r.route53_holds();
    let names: Vec<String> = holds
        .apps
        .iter()
        .map(|k| format!("{}/{}", k.namespace, k.name))
        .collect();
    assert_eq!(names, ["a/y"]);
    let Some((_, Rejected::Limit { message, .. })) = r.rejected.first() else {
        panic!("{:?}", r.rejected)
    };
    assert!(
        message.starts_with("namespace a already has 1 older apps served, its limit (limits.appsPerNamespace 1)"),
        "{message}"
    );
}
