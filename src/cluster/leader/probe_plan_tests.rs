//! Tests of `cluster/leader/probe_plan.rs`.

use super::*;
use crate::cluster::kube::slices::Refused;
use crate::cluster::kube::spec::settings;
use crate::cluster::node::assignment::spec_of;

fn ep(ip: &str, node: Option<&str>, refused: Option<Refused>) -> Endpoint {
    Endpoint {
        ip: ip.parse().unwrap(),
        port: Some(8080),
        node: node.map(str::to_string),
        ready: true,
        serving: true,
        terminating: false,
        refused,
    }
}

fn set(v: serde_json::Value) -> AppSettings {
    settings(&serde_json::from_value(v).unwrap()).unwrap()
}

#[test]
fn each_node_gets_its_own_probe_able_endpoints_with_the_apps_settings() {
    let web = set(serde_json::json!({ "services": ["web"],
            "probe": { "path": "/ready", "expectedStatus": [200], "bodyContains": "ok" },
            "policy": { "riseCount": 4, "fallCount": 5 } }));
    let db = set(serde_json::json!({ "services": ["db"], "probe": { "scheme": "TCP", "port": 5432 } }));
    let mut plan = Plan::default();
    plan.set(
        "ns/web",
        &web,
        &[
            ep("10.0.0.2", Some("a"), None),
            ep("10.0.0.1", Some("a"), None),
            ep("10.0.0.3", Some("b"), None),
            ep("10.0.0.4", None, None),
            ep("10.0.0.5", Some("b"), Some(Refused::NotControllerManaged)),
            ep("::1", Some("a"), Some(Refused::Loopback)),
        ],
    );
    plan.set("ns/db", &db, &[ep("fd00::7", Some("a"), None)]);
    plan.set("ns/empty", &db, &[ep("10.0.0.9", Some("c"), Some(Refused::NotAPod))]);
    let nodes = plan.take_changed().expect("a new plan");
    assert_eq!(
        nodes.keys().collect::<Vec<_>>(),
        ["a", "b"],
        "node c has nothing to probe"
    );
    let a = &spec_of("a", &nodes["a"]).apps;
    assert_eq!(a["ns/web"].endpoints, ["10.0.0.1:8080", "10.0.0.2:8080"]);
    assert_eq!(
        a["ns/web"].probe,
        AssignedProbe {
            scheme: ProbeScheme::Http,
            path: Some("/ready".into()),
            interval_seconds: 2.0,
            timeout_seconds: 1.0,
            expected_status: Some(vec![200]),
            body_contains: Some("ok".into()),
            grpc_service: None,
            tls: None,
        }
    );
    assert_eq!((a["ns/web"].rise_count, a["ns/web"].fall_count), (4, 5));
    assert_eq!(a["ns/db"].endpoints, ["[fd00::7]:5432"], "the probe's port wins");
    assert_eq!(a["ns/db"].probe.path, None, "TCP has no path");
    let b = spec_of("b", &nodes["b"]);
    assert_eq!((b.node.as_str(), b.truncated), ("b", None));
    assert_eq!(b.apps["ns/web"].endpoints, ["10.0.0.3:8080"]);
    assert!(!b.apps.contains_key("ns/db"));
}

#[test]
fn a_plan_changes_only_when_an_apps_shares_do() {
    let web = set(serde_json::json!({ "services": ["web"] }));
    let mut empty = Plan::default();
    assert_eq!(
        empty.take_changed(),
        Some(Nodes::new()),
        "a new plan is news, even empty"
    );
    assert_eq!(empty.take_changed(), None);
    let mut plan = Plan::default();
    plan.set(
        "ns/web",
        &web,
        &[ep("10.0.0.1", Some("a"), None), ep("10.0.0.2", Some("b"), None)],
    );
    plan.set("ns/api", &web, &[ep("10.0.0.3", Some("b"), None)]);
    let first = plan.take_changed().expect("new shares");
    assert_eq!(first.keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(plan.take_changed(), None, "nothing since");
    let mut not_ready = ep("10.0.0.2", Some("b"), None);
    not_ready.ready = false;
    plan.set("ns/web", &web, &[ep("10.0.0.1", Some("a"), None), not_ready]);
    assert_eq!(plan.take_changed(), None, "readiness is not part of an assignment");
    // The Pod on node a moves to node c.
    plan.set(
        "ns/web",
        &web,
        &[ep("10.0.0.1", Some("c"), None), ep("10.0.0.2", Some("b"), None)],
    );
    let moved = plan.take_changed().expect("a share moved");
    assert_eq!(moved.keys().collect::<Vec<_>>(), ["b", "c"], "node a has nothing left");
    assert_eq!(moved["b"].len(), 2);
    let slow = set(serde_json::json!({ "services": ["web"], "probe": { "intervalSeconds": 10 } }));
    plan.set("ns/api", &slow, &[ep("10.0.0.3", Some("b"), None)]);
    let b = &plan.take_changed().expect("new settings")["b"];
    assert_eq!(b["ns/api"].settings.probe.interval_seconds, 10.0);
    plan.sweep();
    plan.keep("ns/api");
    plan.sweep();
    let left = plan.take_changed().expect("an app went: the pass did not keep it");
    assert_eq!(left.keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(left["b"].keys().map(|k| &**k).collect::<Vec<_>>(), ["ns/api"]);
    plan.remove("ns/api");
    assert_eq!(plan.take_changed(), Some(Nodes::new()), "no node has anything to probe");
}

/// A gRPC app's probe reaches the node whole: the leader's plan, the
/// `ProbeAssignment` as the API server stores it (JSON), and the node's job.
#[test]
fn a_grpc_probe_flows_from_the_plan_through_the_assignment_to_the_node() {
    use crate::cluster::node::assignment::ProbeAssignmentSpec;
    use crate::cluster::node::prober::assigned_jobs;
    let ledger = set(serde_json::json!({ "services": ["ledger"],
            "probe": { "scheme": "GRPC", "port": 50051, "grpcService": "payments.v1.Ledger", "path": "/ignored" } }));
    let mut plan = Plan::default();
    plan.set("ns/ledger", &ledger, &[ep("10.0.0.1", Some("a"), None)]);
    let nodes = plan.take_changed().expect("a new plan");
    let spec = spec_of("a", &nodes["a"]);
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        json["apps"]["ns/ledger"]["probe"],
        serde_json::json!({ "scheme": "GRPC", "intervalSeconds": 2.0, "timeoutSeconds": 1.0,
            "grpcService": "payments.v1.Ledger" }),
        "no HTTP path for a gRPC probe"
    );
    let stored: ProbeAssignmentSpec = serde_json::from_value(json).unwrap();
    let rules = crate::spec::ProbeTargets { allow_loopback: false };
    let jobs = assigned_jobs(Some(&stored), rules);
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        jobs[0].target,
        crate::model::Target::Grpc {
            addr: "10.0.0.1:50051".parse().unwrap()
        }
    );
    assert_eq!(jobs[0].spec.grpc_service.as_deref(), Some("payments.v1.Ledger"));
}

/// `probe.tls` reaches the node, whose `caFile` is a file of its CA directory.
#[test]
fn a_verified_https_probe_flows_to_the_node_with_its_ca_file_in_the_ca_directory() {
    use crate::cluster::node::assignment::ProbeAssignmentSpec;
    use crate::cluster::node::prober::assigned_jobs;
    let web = set(serde_json::json!({ "services": ["web"],
            "probe": { "scheme": "HTTPS", "tls": { "verify": true, "caFile": "web-ca.pem", "serverName": "web.internal" } } }));
    let mut plan = Plan::default();
    plan.set("ns/web", &web, &[ep("10.0.0.1", Some("a"), None)]);
    let nodes = plan.take_changed().expect("a new plan");
    let json = serde_json::to_value(spec_of("a", &nodes["a"])).unwrap();
    assert_eq!(
        json["apps"]["ns/web"]["probe"]["tls"],
        serde_json::json!({ "verify": true, "caFile": "web-ca.pem", "serverName": "web.internal" })
    );
    let mut stored: ProbeAssignmentSpec = serde_json::from_value(json).unwrap();
    let rules = crate::spec::ProbeTargets { allow_loopback: false };
    let jobs = assigned_jobs(Some(&stored), rules);
    let tls = jobs[0].spec.tls.clone().expect("tls settings");
    assert_eq!(
        (tls.verify, tls.ca_file, tls.server_name.as_deref()),
        (
            true,
            Some(crate::tls::probe_ca_dir().join("web-ca.pem")),
            Some("web.internal")
        )
    );
    // A hand-written assignment cannot reach outside the CA directory.
    if let Some(t) = stored.apps.get_mut("ns/web").and_then(|a| a.probe.tls.as_mut()) {
        t.ca_file = Some("../token".into());
    }
    assert!(assigned_jobs(Some(&stored), rules).is_empty(), "not probed");
}
