//! Tests of `cluster/kube/view.rs`.

use super::*;
use crate::cluster::kube::crd::AppHealth;

#[test]
fn the_view_keeps_what_serving_reads_and_names_the_same_resource() {
    let v = serde_json::json!({
        "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
        "metadata": { "name": "web", "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z",
                      "labels": { "team": "x" }, "finalizers": ["failover-agent.io/route53"] },
        "spec": { "app": "shop", "services": ["web", "api"], "override": "fail",
                  "probe": { "path": "/healthz" }, "targetGroupArns": [],
                  "route53": { "hostedZoneId": "Z1", "recordName": "shop.example.com" } },
        "status": { "verdict": "unhealthy", "reason": "0/2 endpoints healthy", "totalEndpoints": 2,
                    "healthyEndpoints": 0, "readyEndpoints": 2, "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "unknownEndpoints": 1, "healthyTargets": 0, "totalTargets": 2, "targetsStale": true,
                    "route53Problems": ["denied"],
                    "conditions": [
                      { "type": "Healthy", "status": "False", "reason": "Unhealthy", "message": "long", "lastTransitionTime": "t" },
                      { "type": "Held", "status": "True", "reason": "AppsPerNamespace", "message": "long", "lastTransitionTime": "t" },
                      { "type": "Route53Synced", "status": "False", "reason": "Error", "message": "denied", "lastTransitionTime": "t" } ] },
    });
    let mut a: ServedApp = serde_json::from_value(v.clone()).unwrap();
    trim(&mut a);
    assert_eq!(a.spec.app.as_deref(), Some("shop"));
    assert_eq!(a.spec.override_mode, OverrideMode::Fail);
    assert!(a.spec.route53);
    assert!(a.is_held());
    assert_eq!((a.metadata.labels.clone(), a.metadata.finalizers.clone()), (None, None));
    let s = a.status.clone().unwrap_or_default();
    assert_eq!(s.verdict, Some(Health::Unhealthy));
    assert_eq!((s.total_endpoints, s.healthy_endpoints), (Some(2), Some(0)));
    let kept: Vec<&str> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
    assert_eq!(kept, ["Held"], "the rest is in typed fields");
    assert_eq!(s.route53_problems, ["denied"]);
    assert_eq!((s.unknown_endpoints, s.targets_stale), (Some(1), Some(true)));
    let mut bare = v;
    bare["spec"] = serde_json::json!({ "services": ["web"] });
    bare["status"] = serde_json::Value::Null;
    let b: ServedApp = serde_json::from_value(bare).unwrap();
    assert!(!b.spec.route53 && b.status.is_none() && !b.is_held());
    assert_eq!(
        ServedApp::url_path(&(), Some("shop")),
        AppHealth::url_path(&(), Some("shop"))
    );
}
