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
#[path = "report_tests.rs"]
mod tests;
