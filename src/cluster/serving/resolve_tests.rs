//! Tests of `cluster/serving/resolve.rs`.

use super::*;

fn ah(ns: &str, name: &str, app: Option<&str>, created: Option<&str>) -> Arc<AppHealth> {
    let mut v = serde_json::json!({
        "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
        "metadata": { "name": name, "namespace": ns },
        "spec": { "services": ["s"] },
    });
    if let Some(a) = app {
        v["spec"]["app"] = a.into();
    }
    if let Some(c) = created {
        v["metadata"]["creationTimestamp"] = c.into();
    }
    Arc::new(serde_json::from_value(v).unwrap())
}

#[test]
fn the_older_claim_wins_whatever_the_order() {
    let old = ah("team-a", "web", Some("shop"), Some("2026-01-01T00:00:00Z"));
    let new = ah("team-b", "shop", None, Some("2026-02-01T00:00:00Z"));
    let other = ah("team-c", "api", None, Some("2026-03-01T00:00:00Z"));
    for input in [
        vec![old.clone(), new.clone(), other.clone()],
        vec![other.clone(), new.clone(), old.clone()],
    ] {
        let r = resolve(input);
        assert_eq!(r.served.keys().collect::<Vec<_>>(), ["api", "shop"]);
        assert_eq!(r.served["shop"].namespace().as_deref(), Some("team-a"));
        assert_eq!(r.rejected.len(), 1);
        assert_eq!(
            r.rejected[0].1,
            Rejected::Conflict {
                key: "shop".into(),
                winner: "team-a/web".into()
            }
        );
    }
}

#[test]
fn ties_break_by_namespace_then_name_and_unstamped_objects_lose() {
    let t = Some("2026-01-01T00:00:00Z");
    let r = resolve([
        ah("b", "x", Some("k"), t),
        ah("a", "y", Some("k"), t),
        ah("0", "z", Some("k"), None),
    ]);
    assert_eq!(r.served["k"].namespace().as_deref(), Some("a"));
    assert_eq!(r.rejected.len(), 2);
}

#[test]
fn conflict_losers_and_invalid_specs_are_held_and_the_winner_is_not() {
    let old = ah("team-a", "web", Some("shop"), Some("2026-01-01T00:00:00Z"));
    let new = ah("team-b", "shop", None, Some("2026-02-01T00:00:00Z"));
    let same_ns = ah("team-a", "shop2", Some("shop"), Some("2026-03-01T00:00:00Z"));
    let mut bad = ah("team-c", "api", None, Some("2026-03-01T00:00:00Z")).as_ref().clone();
    bad.spec.policy.keys.min_healthy_endpoints = Some(1);
    bad.spec.policy.keys.min_healthy_percent = Some(50);
    let holds = resolve([old, new, same_ns, Arc::new(bad)]).route53_holds().apps;
    let names: Vec<String> = holds.iter().map(|k| format!("{}/{}", k.namespace, k.name)).collect();
    assert_eq!(
        names,
        ["team-b/shop", "team-c/api"],
        "the winner team-a/shop is served, not held"
    );
}

#[test]
fn invalid_keys_are_rejected() {
    let r = resolve([ah("a", "x", Some("Bad_Key"), None)]);
    assert!(r.served.is_empty());
    assert_eq!(r.rejected[0].1, Rejected::InvalidKey { key: "Bad_Key".into() });
}
