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
        dns: Some(dns(&[("eu-central-1", 1.0), ("eu-west-1", 0.0)])),
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
    assert_eq!(patch["dns"], serde_json::Value::Null);
}

fn dns(shares: &[(&str, f64)]) -> crate::model::DnsView {
    crate::model::DnsView {
        answer: "-> somewhere".into(),
        shares: shares.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        since: Some("t0".into()),
        regions: Vec::new(),
    }
}

#[test]
fn the_dns_view_is_written_and_a_record_gone_from_the_set_is_nulled_in_the_patch() {
    let old = ah(serde_json::json!({}));
    let part = |d| Route53Part {
        sync: Route53Sync::Synced,
        health_check_id: Some("hc-1".into()),
        healthy: Some(true),
        dns: Some(d),
    };
    let p = |d| Published {
        route53: Some(part(d)),
        ..Published::default()
    };
    let st = status(&old, "web", p(dns(&[("a", 0.5), ("b", 0.5)])), "now");
    assert_eq!(st.dns.as_ref().map(|d| d.shares.len()), Some(2));
    let now = ah(serde_json::to_value(&st).unwrap());
    let next = status(&now, "web", p(dns(&[("a", 1.0)])), "now");
    let patch = merge_patch(now.status.as_ref().unwrap(), &next).unwrap();
    assert_eq!(patch["dns"]["shares"]["a"], 1.0);
    assert_eq!(
        patch["dns"]["shares"]["b"],
        serde_json::Value::Null,
        "a merge patch keeps keys it does not name: b must be nulled"
    );
}
