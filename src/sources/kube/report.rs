//! `ProbeReport`: how one node's agent tells the leader what its probes see.
//!
//! One object per node, named after the node, in the agent's namespace. It holds
//! the debounced probe state of every endpoint that node's agent probes, keyed by
//! `namespace/app` and endpoint IP. The agent writes it only when a state changes,
//! and only the leader watches these objects, so probe traffic to the API server
//! does not grow with nodes × nodes.

use crate::policy::EndpointState;
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
}

/// The report key of an app.
pub fn app_ref(namespace: &str, app: &str) -> String {
    format!("{namespace}/{app}")
}
