//! Tests of `cluster/leader/finalizer.rs`.

use super::*;
use crate::spec::route53::Route53Block;
use std::collections::{BTreeMap, BTreeSet};

fn ah(route53: bool, finalizer: bool, deleting: bool) -> AppHealth {
    let mut a: AppHealth = serde_json::from_value(serde_json::json!({
        "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
        "metadata": { "name": "app1", "namespace": "team", "uid": "uid-1" },
        "spec": { "services": ["web"] }
    }))
    .unwrap();
    if route53 {
        a.spec.route53 = Some(
            serde_json::from_value::<Route53Block>(serde_json::json!({
                "hostedZoneId": "Z1", "recordName": "app1.example.com", "routing": { "latency": {} }
            }))
            .unwrap(),
        );
    }
    if finalizer {
        a.metadata.finalizers = Some(vec![FINALIZER.into()]);
    }
    if deleting {
        a.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::now(),
        ));
    }
    a
}

fn report(wanted: &[&str], problem: bool) -> Report {
    let key = AppKey {
        namespace: "team".into(),
        name: "app1".into(),
    };
    Report {
        check_ids: BTreeMap::new(),
        problems: if problem {
            BTreeMap::from([(key, vec!["x".into()])])
        } else {
            BTreeMap::new()
        },
        complete: !problem,
        incarnations: wanted.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
        held: BTreeSet::new(),
        sets: BTreeMap::new(),
    }
}

#[test]
fn added_while_wanted_removed_only_after_a_clean_reconcile_without_it() {
    let key = AppKey {
        namespace: "team".into(),
        name: "app1".into(),
    };
    assert_eq!(
        decide(&ah(true, false, false), &key, true, true, None),
        Some(Action::Add)
    );
    assert_eq!(decide(&ah(true, true, false), &key, true, true, None), None);
    assert_eq!(decide(&ah(false, false, false), &key, true, true, None), None);
    let deleting = ah(true, true, true);
    assert_eq!(
        decide(&deleting, &key, true, true, None),
        None,
        "no reconcile yet this term"
    );
    assert_eq!(
        decide(&deleting, &key, true, true, Some(&report(&["uid-1"], false))),
        None,
        "still wanted then"
    );
    assert_eq!(
        decide(&deleting, &key, true, true, Some(&report(&[], true))),
        None,
        "its delete failed"
    );
    assert_eq!(
        decide(&deleting, &key, true, true, Some(&report(&[], false))),
        Some(Action::Remove)
    );
    assert_eq!(
        decide(&ah(false, true, false), &key, true, true, Some(&report(&[], false))),
        Some(Action::Remove),
        "block dropped"
    );
    assert_eq!(
        decide(&deleting, &key, true, false, None),
        Some(Action::Remove),
        "Route 53 not managed: never block deletion"
    );
}
