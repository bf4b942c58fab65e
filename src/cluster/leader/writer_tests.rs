//! Tests of `cluster/leader/writer.rs`.

use super::*;

fn ah(status: serde_json::Value) -> AppHealth {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
        "metadata": { "name": "web", "namespace": "shop", "generation": 3 },
        "spec": { "services": ["web"] },
        "status": status,
    }))
    .unwrap()
}

#[test]
fn what_replicas_serve_is_typed_and_a_patch_clears_what_is_gone() {
    let old = ah(serde_json::json!({ "verdict": "healthy", "healthCheckId": "hc-1",
            "healthyTargets": 1, "totalTargets": 2, "targetsStale": false, "route53Problems": ["denied"] }));
    let tally = Tally {
        total: 3,
        ready: 3,
        probed: 3,
        healthy: 1,
        unknown: 1,
        ..Tally::default()
    };
    let alb = TargetCounts {
        healthy: 0,
        total: 2,
        stale: true,
    };
    let route53 = Route53Part {
        sync: Route53Sync::Failed {
            reason: "Error",
            problems: vec!["a".into(), "b".into()],
        },
        health_check_id: None,
        healthy: Some(false),
    };
    let p = Published {
        verdict: Some(Health::Unhealthy),
        reason: "1/3 endpoints healthy, need 2".into(),
        tally,
        alb: Some(alb),
        route53: Some(route53),
        ..Published::default()
    };
    let st = status(&old, "web", p, "now");
    assert_eq!(
        (
            st.unknown_endpoints,
            st.healthy_targets,
            st.total_targets,
            st.targets_stale
        ),
        (Some(1), Some(0), Some(2), Some(true))
    );
    assert_eq!(
        st.health_check_id.as_deref(),
        Some("hc-1"),
        "kept while the term knows none"
    );
    assert_eq!(
        (st.route53_healthy, st.route53_problems.clone()),
        (Some(false), vec!["a".into(), "b".into()])
    );
    let cond = |t: &str| st.conditions.iter().find(|c| c.type_ == t).cloned().unwrap();
    assert!(
        cond("Stale").message.contains(ALB_STALE),
        "said in words for people too"
    );
    assert_eq!(
        (
            cond("Route53Synced").status.as_str(),
            cond("Route53Synced").message.as_str()
        ),
        ("False", "a; b")
    );

    // No ALB view and no Route 53 block any more: the patch nulls their fields.
    let now = ah(serde_json::to_value(&st).unwrap());
    let bare = status(&now, "web", Published::default(), "now");
    assert_eq!((bare.targets_stale, bare.route53_problems.len()), (None, 0));
    let patch = merge_patch(now.status.as_ref().unwrap(), &bare).unwrap();
    for gone in [
        "healthyTargets",
        "totalTargets",
        "targetsStale",
        "route53Healthy",
        "route53Problems",
        "verdict",
    ] {
        assert_eq!(patch[gone], serde_json::Value::Null, "{gone}");
    }
    assert_eq!(patch["healthCheckId"], "hc-1");
    assert_eq!(patch["unknownEndpoints"], 0);
}
