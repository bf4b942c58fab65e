//! `ProbeReport`: how one node's agent tells the leader what its probes see.
//!
//! One object per node, named after the node, in the agent's namespace. It holds
//! the debounced probe state of every endpoint that node's agent probes, keyed by
//! `namespace/app` and endpoint IP. The agent writes it only when a state changes,
//! and only the leader watches these objects, so probe traffic to the API server
//! does not grow with nodes × nodes.
//!
//! **Bounded.** etcd refuses objects over about 1.5 MiB, and one node's endpoints
//! times the apps that share them has no natural bound. [`bound`] keeps a report's
//! `apps` under [`REPORT_BUDGET`] of JSON: when the whole would not fit, apps are
//! kept round-robin over namespaces (then by name) while they fit, and the rest are
//! counted in `truncated`. The leader judges the endpoints of dropped apps on
//! readiness alone, as it does for a node without an agent.

use crate::model::EndpointState;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The probe states one node's agent sees.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "failover-agent.io",
    version = "v1alpha1",
    kind = "ProbeReport",
    plural = "probereports",
    namespaced,
    doc = "One node's failover-agent probe results, read by the cluster's leader agent."
)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReportSpec {
    /// The node whose endpoints these are.
    pub node: String,
    /// The agent Pod that writes this report; the leader trusts a report only
    /// while that Pod is running.
    pub pod: String,
    /// Debounced probe state by `namespace/app`, then endpoint IP.
    #[serde(default)]
    pub apps: BTreeMap<String, BTreeMap<String, EndpointState>>,
    /// Set when apps were left out to keep the object small: how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncated>,
}

/// What a report left out to stay under [`REPORT_BUDGET`].
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Truncated {
    /// Apps left out; their endpoints on this node are judged on readiness alone.
    pub apps: u32,
    /// Their endpoints.
    pub endpoints: u32,
}

/// Probe states by app, then endpoint IP: a report's content.
pub type Apps = BTreeMap<String, BTreeMap<String, EndpointState>>;

/// Most JSON bytes of a report's `apps`: a quarter of etcd's 1.5 MiB object limit.
/// The API server stores about as much again in `managedFields` (a field set names
/// every app and address), which still leaves half the limit free.
pub const REPORT_BUDGET: usize = 384 * 1024;

/// One app's entry in a per-node object that [`bound`] keeps small: it knows how
/// many endpoints it holds, for [`Truncated`].
pub trait Entry: Serialize {
    /// The endpoints this entry names.
    fn endpoints(&self) -> usize;
}

impl Entry for BTreeMap<String, EndpointState> {
    fn endpoints(&self) -> usize {
        self.len()
    }
}

/// `apps`, cut to at most `budget` bytes of JSON (see the module doc), and what was
/// left out, if anything. Used for ProbeReports and ProbeAssignments alike.
pub fn bound<V: Entry>(apps: BTreeMap<String, V>, budget: usize) -> (BTreeMap<String, V>, Option<Truncated>) {
    // Each entry costs its key, its value, the quotes, the colon and a comma.
    let cost = |k: &String, v: &V| k.len() + 4 + serde_json::to_vec(v).map_or(usize::MAX / 4, |b| b.len());
    let total: usize = 2 + apps.iter().map(|(k, v)| cost(k, v)).sum::<usize>();
    if total <= budget {
        return (apps, None);
    }
    let mut by_ns: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for k in apps.keys() {
        by_ns
            .entry(k.split_once('/').map_or("", |(ns, _)| ns))
            .or_default()
            .push(k);
    }
    let mut order = Vec::with_capacity(apps.len());
    let mut queues: Vec<std::vec::IntoIter<&String>> = by_ns.into_values().map(Vec::into_iter).collect();
    while order.len() < apps.len() {
        for q in &mut queues {
            order.extend(q.next());
        }
    }
    let mut left = budget.saturating_sub(2);
    let mut keep = Vec::new();
    let mut cut = Truncated::default();
    for k in order {
        let v = &apps[k];
        let c = cost(k, v);
        if c <= left {
            left -= c;
            keep.push(k.clone());
        } else {
            cut.apps += 1;
            cut.endpoints += v.endpoints() as u32;
        }
    }
    let mut apps = apps;
    let kept = keep.into_iter().filter_map(|k| apps.remove_entry(&k)).collect();
    (kept, Some(cut))
}

/// The report key of an app.
pub fn app_ref(namespace: &str, app: &str) -> String {
    format!("{namespace}/{app}")
}

#[cfg(test)]
mod tests {
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
}
