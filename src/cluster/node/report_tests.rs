//! Tests of `cluster/node/report.rs`.

use super::*;

fn report(apps: Apps, truncated: Option<Truncated>) -> ProbeReport {
    let mut r = ProbeReport::new(
        "ip-10-0-1-23.eu-west-1.compute.internal",
        ProbeReportSpec {
            node: "ip-10-0-1-23.eu-west-1.compute.internal".into(),
            pod: "failover-agent-x7k2p".into(),
            apps,
            truncated,
        },
    );
    r.metadata.namespace = Some("failover-agent".into());
    r
}

/// `n_apps` apps of `per_app` endpoints, spread over `namespaces`.
fn apps(
    n_apps: usize,
    per_app: usize,
    namespaces: usize,
    name: impl Fn(usize) -> String,
    ip: impl Fn(usize) -> String,
) -> Apps {
    let states = [EndpointState::Up, EndpointState::Down, EndpointState::Unknown];
    (0..n_apps)
        .map(|a| {
            let eps = (0..per_app).map(|e| (ip(a * per_app + e), states[e % 3])).collect();
            (app_ref(&format!("team-{:02}", a % namespaces), &name(a)), eps)
        })
        .collect()
}

/// The report as JSON plus the `managedFields` entry the API server adds for its
/// writer (fieldsV1 names every app and address), as an estimate of what etcd stores.
fn stored(r: &ProbeReport) -> (usize, usize) {
    let apps: serde_json::Map<String, serde_json::Value> = r
        .spec
        .apps
        .iter()
        .map(|(k, v)| {
            let ips: serde_json::Map<String, serde_json::Value> =
                v.keys().map(|ip| (format!("f:{ip}"), serde_json::json!({}))).collect();
            (format!("f:{k}"), serde_json::Value::Object(ips))
        })
        .collect();
    let fields =
        serde_json::json!({ "f:spec": { ".": {}, "f:apps": apps, "f:node": {}, "f:pod": {}, "f:truncated": {} } });
    let entry = serde_json::json!({ "apiVersion": "failover-agent.io/v1alpha1", "fieldsType": "FieldsV1",
            "fieldsV1": fields, "manager": "failover-agent", "operation": "Update", "time": "2026-01-01T00:00:00Z" });
    let body = serde_json::to_vec(r).unwrap().len();
    (body, body + serde_json::to_vec(&entry).unwrap().len())
}

fn ipv4(i: usize) -> String {
    format!("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256)
}

#[test]
fn a_report_of_ten_thousand_endpoints_stays_well_under_etcds_limit() {
    let mut sizes = Vec::new();
    // Realistic: IPv4, names like "checkout-api-0042", 10 or 100 endpoints an app.
    for (n_apps, per_app) in [(1000, 10), (100, 100)] {
        let a = apps(n_apps, per_app, 20, |i| format!("checkout-api-{i:04}"), ipv4);
        let (kept, cut) = bound(a.clone(), REPORT_BUDGET);
        assert_eq!((kept.len(), cut), (n_apps, None), "nothing is cut");
        let (bytes, with_fields) = stored(&report(kept, cut));
        sizes.push(format!(
            "{n_apps} apps × {per_app}: {bytes} bytes ({with_fields} with managedFields)"
        ));
        assert!(with_fields < 1024 * 1024, "{with_fields}");
    }
    // Worst case: one IPv6 endpoint per app, 63-character namespaces and names.
    let long_ns = |a: usize| format!("{}-{:02}", "n".repeat(60), a % 20);
    let a: Apps = (0..10_000)
        .map(|i| {
            let key = app_ref(&long_ns(i), &format!("{}-{i:05}", "a".repeat(57)));
            let ip = format!("2600:1f18:4a3:6902:{:x}:{:x}:abcd:ef01", i / 65536, i % 65536);
            (key, BTreeMap::from([(ip, EndpointState::Unknown)]))
        })
        .collect();
    let whole = serde_json::to_vec(&report(a.clone(), None)).unwrap().len();
    let (kept, cut) = bound(a, REPORT_BUDGET);
    let cut = cut.expect("the worst case is cut");
    assert_eq!(kept.len() + cut.apps as usize, 10_000);
    assert_eq!(cut.endpoints, cut.apps, "one endpoint each");
    let (bytes, with_fields) = stored(&report(kept.clone(), Some(cut)));
    assert!(bytes <= REPORT_BUDGET + 1024, "{bytes}");
    assert!(with_fields < 1024 * 1024, "{with_fields}");
    let namespaces: std::collections::BTreeSet<&str> = kept
        .keys()
        .filter_map(|k| k.split_once('/').map(|(ns, _)| ns))
        .collect();
    assert_eq!(namespaces.len(), 20, "every namespace keeps some apps");
    sizes.push(format!(
            "worst case 10000 apps × 1 IPv6, 63-char names: {whole} bytes whole, {bytes} bytes kept ({with_fields} with managedFields; {} apps), {} apps cut",
            kept.len(),
            cut.apps
        ));
    eprintln!("ProbeReport sizes at 10,000 endpoints: {}", sizes.join("; "));
}

#[test]
fn cuts_go_round_robin_over_namespaces() {
    // Namespace "a" has 4 apps, "b" one; room for 3 of the 5.
    let a: Apps = ["a/1", "a/2", "a/3", "a/4", "b/1"]
        .iter()
        .map(|k| {
            (
                k.to_string(),
                BTreeMap::from([("10.0.0.1".to_string(), EndpointState::Up)]),
            )
        })
        .collect();
    let one = 3 + 4 + r#"{"10.0.0.1":"up"}"#.len();
    let (kept, cut) = bound(a, 2 + 3 * one);
    assert_eq!(kept.keys().collect::<Vec<_>>(), ["a/1", "a/2", "b/1"]);
    assert_eq!(cut, Some(Truncated { apps: 2, endpoints: 2 }));
    assert_eq!(
        serde_json::to_vec(&kept).unwrap().len(),
        2 + 3 * one - 1,
        "the cost is exact"
    );
}
