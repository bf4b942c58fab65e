//! Tests of `cluster/leader/assigner.rs`.

use super::*;
use crate::cluster::kube::crd::ProbeScheme;

fn apps(eps: &[&str]) -> assignment::Apps {
    let app = crate::cluster::node::assignment::test_app(ProbeScheme::Tcp, None, eps);
    BTreeMap::from([("ns/web".to_string(), app)])
}

/// The leader's plan for one node: `apps` in compact form.
fn shares(eps: &[&str]) -> assignment::Shares {
    let a = &apps(eps)["ns/web"];
    let settings = Arc::new(assignment::Settings {
        probe: a.probe.clone(),
        rise_count: a.rise_count,
        fall_count: a.fall_count,
    });
    let endpoints = eps.iter().map(|e| e.parse().unwrap()).collect();
    BTreeMap::from([(Arc::from("ns/web"), assignment::Share { settings, endpoints })])
}

fn stored(node: &str, eps: &[&str], rv: &str) -> (String, Arc<Written>) {
    let mut a = ProbeAssignment::new(node, assignment::spec(node, apps(eps)));
    a.metadata.resource_version = Some(rv.into());
    // As the leader reads it back from the API server.
    let read: Written = serde_json::from_value(serde_json::to_value(&a).unwrap()).unwrap();
    (node.to_string(), Arc::new(read))
}

#[test]
fn only_what_differs_is_written_and_nodes_without_endpoints_lose_their_assignment() {
    let nodes: Nodes = BTreeMap::from([
        ("a".to_string(), Arc::new(shares(&["10.0.0.1:80"]))),
        ("b".to_string(), Arc::new(shares(&["10.0.0.2:80", "10.0.0.3:80"]))),
        ("c".to_string(), Arc::new(shares(&["10.0.0.4:80"]))),
    ]);
    let want = fingerprints(&nodes, &mut BTreeMap::new());
    let have = BTreeMap::from([
        stored("a", &["10.0.0.1:80"], "5"),
        stored("b", &["10.0.0.2:80"], "6"),
        stored("gone", &["10.0.0.9:80"], "7"),
    ]);
    assert_eq!(
        changes(&want, &have),
        [
            Change::Replace {
                node: "b".into(),
                resource_version: Some("6".into())
            },
            Change::Create { node: "c".into() },
            Change::Delete {
                name: "gone".into(),
                resource_version: Some("7".into())
            },
        ],
        "a is already right"
    );
    let settled: BTreeMap<String, Arc<Written>> = nodes
        .iter()
        .map(|(n, a)| {
            let eps: Vec<String> = a["ns/web"].endpoints.iter().map(ToString::to_string).collect();
            let eps: Vec<&str> = eps.iter().map(String::as_str).collect();
            stored(n, &eps, "9")
        })
        .collect();
    assert!(changes(&want, &settled).is_empty(), "nothing to write twice");
}

#[test]
fn a_fingerprint_sees_values_not_their_spelling() {
    let spec = assignment::spec("a", apps(&["10.0.0.1:80"]));
    let mut json = serde_json::to_value(&spec).unwrap();
    // An API server may store 2.0 as 2.
    json["apps"]["ns/web"]["probe"]["intervalSeconds"] = serde_json::json!(2);
    let read: Written =
        serde_json::from_value(serde_json::json!({ "metadata": { "name": "a" }, "spec": json })).unwrap();
    assert_eq!(read.fingerprint, fingerprint(&spec));
    let mut other = spec.clone();
    other.apps.values_mut().for_each(|a| a.rise_count = 3);
    assert_ne!(fingerprint(&other), fingerprint(&spec));
    let junk: Written =
        serde_json::from_value(serde_json::json!({ "metadata": { "name": "a" }, "spec": { "apps": 7 } })).unwrap();
    assert_eq!(junk.fingerprint, 0, "an invalid spec never matches, so it is rewritten");
}
