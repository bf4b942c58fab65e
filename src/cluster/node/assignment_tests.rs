//! Tests of `cluster/node/assignment.rs`.

use super::*;
use crate::cluster::node::report::app_ref;

/// The assignment as JSON plus the `managedFields` entry the API server adds for
/// its writer (fieldsV1 names every app and its keys), as an estimate of what etcd stores.
fn stored(node: &str, apps: &Apps, truncated: Option<Truncated>) -> (usize, usize) {
    let mut a = ProbeAssignment::new(
        node,
        ProbeAssignmentSpec {
            node: node.into(),
            apps: apps.clone(),
            truncated,
        },
    );
    a.metadata.namespace = Some("failover-agent".into());
    let keys = serde_json::json!({ "f:probe": { ".": {}, "f:scheme": {}, "f:path": {}, "f:intervalSeconds": {},
            "f:timeoutSeconds": {} }, "f:riseCount": {}, "f:fallCount": {}, "f:endpoints": {} });
    let fields: serde_json::Map<String, serde_json::Value> =
        apps.keys().map(|k| (format!("f:{k}"), keys.clone())).collect();
    let entry = serde_json::json!({ "apiVersion": "failover-agent.io/v1alpha1", "fieldsType": "FieldsV1",
            "fieldsV1": { "f:spec": { ".": {}, "f:apps": fields, "f:node": {}, "f:truncated": {} } },
            "manager": "failover-agent", "operation": "Update", "time": "2026-01-01T00:00:00Z" });
    let body = serde_json::to_vec(&a).unwrap().len();
    (body, body + serde_json::to_vec(&entry).unwrap().len())
}

fn app(endpoints: Vec<String>) -> AssignedApp {
    AssignedApp {
        endpoints,
        ..test_app(ProbeScheme::Http, Some("/healthz"), &[])
    }
}

#[test]
fn an_assignment_of_ten_thousand_endpoints_stays_well_under_etcds_limit() {
    let node = "ip-10-0-1-23.eu-west-1.compute.internal";
    let ipv4 = |i: usize| format!("10.{}.{}.{}:8080", 100 + i / 65536, (i / 256) % 256, i % 256);
    let mut sizes = Vec::new();
    // 110 Pods on the node, shared by many apps, is the realistic high end; 10,000
    // endpoints is what a report is measured at too.
    for (n_apps, per_app) in [(1000, 10), (100, 100), (110, 1)] {
        let apps: Apps = (0..n_apps)
            .map(|a| {
                let key = app_ref(&format!("team-{:02}", a % 20), &format!("checkout-api-{a:04}"));
                (key, app((0..per_app).map(|e| ipv4(a * per_app + e)).collect()))
            })
            .collect();
        let s = spec(node, apps);
        let (bytes, with_fields) = stored(node, &s.apps, s.truncated);
        sizes.push(format!(
            "{n_apps} apps × {per_app}: {bytes} bytes ({with_fields} with managedFields), {} apps cut",
            s.truncated.map_or(0, |t| t.apps)
        ));
        assert!(with_fields < 1024 * 1024, "{with_fields}");
        if n_apps * per_app <= 1000 {
            assert_eq!(s.truncated, None, "a node's realistic load is never cut");
        }
    }
    // Worst case: one IPv6 endpoint per app, 63-character namespaces and names.
    let apps: Apps = (0..10_000)
        .map(|i| {
            let key = app_ref(
                &format!("{}-{:02}", "n".repeat(60), i % 20),
                &format!("{}-{i:05}", "a".repeat(57)),
            );
            let ip = format!("[2600:1f18:4a3:6902:{:x}:{:x}:abcd:ef01]:8080", i / 65536, i % 65536);
            (key, app(vec![ip]))
        })
        .collect();
    let whole = stored(node, &apps, None).0;
    let s = spec(node, apps);
    let cut = s.truncated.expect("the worst case is cut");
    assert_eq!(s.apps.len() + cut.apps as usize, 10_000);
    let (bytes, with_fields) = stored(node, &s.apps, s.truncated);
    assert!(bytes <= ASSIGNMENT_BUDGET + 1024, "{bytes}");
    assert!(with_fields < 1024 * 1024, "{with_fields}");
    sizes.push(format!(
            "worst case 10000 apps × 1 IPv6, 63-char names: {whole} bytes whole, {bytes} kept ({with_fields} with managedFields; {} apps), {} apps cut",
            s.apps.len(),
            cut.apps
        ));
    eprintln!("ProbeAssignment sizes: {}", sizes.join("; "));
}
