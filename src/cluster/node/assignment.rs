//! `ProbeAssignment`: what one node's agent must probe, the mirror of `ProbeReport`.
//!
//! One object per node, named after the node, in the agent's namespace, written
//! only by the leader (see `assigner`). It holds every endpoint that node's agent
//! probes, grouped by app (`namespace/app`, as in the report), each app with its
//! resolved probe settings and rise/fall counts, so a replica needs no `AppHealth`
//! spec and no EndpointSlice to probe: it watches only its own assignment
//! (field selector `metadata.name=<node>`) and probes exactly what it says.
//!
//! **What is assigned.** The endpoints of served apps (after the Conflict rule and
//! the namespace limits) with a valid spec, on a named node, that may be probed
//! ([`crate::cluster::kube::slices::refusal`] finds nothing against them) and have a port. Every
//! other endpoint is judged on readiness alone by the leader. A node with nothing
//! to probe has no assignment; a missing assignment means probe nothing.
//!
//! **Bounded.** Like a report, an assignment's `apps` are kept under
//! [`ASSIGNMENT_BUDGET`] bytes of JSON by [`super::report::bound`]: round-robin over
//! namespaces while they fit, the rest counted in `truncated`. A node does not probe
//! the apps left out, so the leader judges their endpoints there on readiness alone.

use super::report::{Entry, Truncated};
use crate::cluster::kube::crd::ProbeScheme;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The endpoints one node's agent probes.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "failover-agent.io",
    version = "v1alpha1",
    kind = "ProbeAssignment",
    plural = "probeassignments",
    namespaced,
    doc = "The endpoints one node's failover-agent probes, written by the cluster's leader agent."
)]
#[serde(rename_all = "camelCase")]
pub struct ProbeAssignmentSpec {
    /// The node whose agent probes these endpoints (also the object's name).
    pub node: String,
    /// The apps with endpoints on this node, by `namespace/app`.
    #[serde(default)]
    pub apps: BTreeMap<String, AssignedApp>,
    /// Set when apps were left out to keep the object small: how many. Their
    /// endpoints on this node are judged on readiness alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncated>,
}

/// One app's share of a node's probes: its settings and its endpoints there.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignedApp {
    /// How to probe each endpoint, with every default resolved.
    pub probe: AssignedProbe,
    /// Consecutive successes before an endpoint is up.
    pub rise_count: u32,
    /// Consecutive failures before an endpoint is down.
    pub fall_count: u32,
    /// The sockets to probe, `ip:port` (`[ip]:port` for IPv6), sorted by address.
    pub endpoints: Vec<String>,
}

/// The probe of an assigned app, as `AppHealth.spec.probe` after validation and defaults.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignedProbe {
    /// `HTTP`, `HTTPS`, `TCP` or `GRPC`.
    pub scheme: ProbeScheme,
    /// HTTP path (HTTP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Seconds between probes of one endpoint.
    pub interval_seconds: f64,
    /// Seconds before a probe fails.
    pub timeout_seconds: f64,
    /// Passing HTTP status codes; absent: any 2xx or 3xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_status: Option<Vec<u16>>,
    /// A string the first 64 KiB of the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// The service a gRPC probe asks about (gRPC only); absent: the server's overall health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_service: Option<String>,
    /// Certificate checks (HTTPS only); absent: any certificate. Its `caFile` is a
    /// file name in the node's probe CA directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<crate::spec::ProbeTlsKeys>,
}

impl Entry for AssignedApp {
    fn endpoints(&self) -> usize {
        self.endpoints.len()
    }
}

/// Assigned apps by `namespace/app`: an assignment's content.
pub type Apps = BTreeMap<String, AssignedApp>;

/// An app's probe settings, shared by its shares on every node.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub probe: AssignedProbe,
    pub rise_count: u32,
    pub fall_count: u32,
}

/// One app's share of a node's probes, compact: the settings are shared between
/// nodes and the endpoints are socket addresses, so the leader's plan stays small.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    pub settings: Arc<Settings>,
    /// Sorted, without duplicates.
    pub endpoints: Vec<SocketAddr>,
}

/// One node's shares by `namespace/app`.
pub type Shares = BTreeMap<Arc<str>, Share>;
/// Every node's shares, by node name: the leader's plan. Each node's shares are
/// shared, so handing the plan to the assigner copies only this map, and a change
/// copies only the nodes it touches.
pub type Nodes = BTreeMap<String, Arc<Shares>>;

/// Most JSON bytes of an assignment's `apps`: a quarter of etcd's 1.5 MiB object
/// limit, as for ProbeReports. An endpoint is one string in a list, so the
/// `managedFields` entry the API server adds names apps, not addresses, and stays small.
pub const ASSIGNMENT_BUDGET: usize = 384 * 1024;

/// The spec of `node`'s assignment for its `shares`, cut to [`ASSIGNMENT_BUDGET`].
pub fn spec_of(node: &str, shares: &Shares) -> ProbeAssignmentSpec {
    let apps = shares
        .iter()
        .map(|(app, s)| {
            let a = AssignedApp {
                probe: s.settings.probe.clone(),
                rise_count: s.settings.rise_count,
                fall_count: s.settings.fall_count,
                endpoints: s.endpoints.iter().map(ToString::to_string).collect(),
            };
            (app.to_string(), a)
        })
        .collect();
    spec(node, apps)
}

/// The spec of `node`'s assignment for `apps`, cut to [`ASSIGNMENT_BUDGET`].
pub fn spec(node: &str, apps: Apps) -> ProbeAssignmentSpec {
    let (apps, truncated) = super::report::bound(apps, ASSIGNMENT_BUDGET);
    ProbeAssignmentSpec {
        node: node.to_string(),
        apps,
        truncated,
    }
}

/// A test app: `scheme` on `path`, 2 s interval, 1 s timeout, rise 2, fall 3.
#[cfg(test)]
pub(crate) fn test_app(
    scheme: crate::cluster::kube::crd::ProbeScheme,
    path: Option<&str>,
    eps: &[&str],
) -> AssignedApp {
    AssignedApp {
        probe: AssignedProbe {
            scheme,
            path: path.map(str::to_string),
            interval_seconds: 2.0,
            timeout_seconds: 1.0,
            expected_status: None,
            body_contains: None,
            grpc_service: None,
            tls: None,
        },
        rise_count: 2,
        fall_count: 3,
        endpoints: eps.iter().map(|e| e.to_string()).collect(),
    }
}

#[cfg(test)]
#[path = "assignment_tests.rs"]
mod tests;
