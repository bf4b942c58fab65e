//! The `AppHealth` custom resource, `failover-agent.io/v1alpha1`, namespaced.
//!
//! Each tenant team declares its app's health policy in its own namespace. The
//! CRD manifest is generated from these types (`failover-agent crd`), and a test
//! checks that the committed copy under `deploy/crd/` matches it.

// The derive's repeated `printcolumn(...)` entries trip this lint; they are distinct.
#![allow(clippy::duplicated_attributes)]

use crate::model::{Health, OverrideMode};
use crate::spec::PolicyKeys;
use crate::spec::ProbeKeys;
use kube::CustomResource;
use kube::CustomResourceExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Declares one app's health: which Services' endpoints make it up, how to probe
/// them, and the policy that turns the signals into the verdict served at
/// `/health/<app>`.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "failover-agent.io",
    version = "v1alpha1",
    kind = "AppHealth",
    plural = "apphealths",
    shortname = "ah",
    namespaced,
    status = "AppHealthStatus",
    doc = "Per-app health policy for failover-agent: one verdict per app at /health/<app>.",
    printcolumn(name = "App", type_ = "string", json_path = ".status.app"),
    printcolumn(name = "Verdict", type_ = "string", json_path = ".status.verdict"),
    printcolumn(name = "Healthy", type_ = "integer", json_path = ".status.healthyEndpoints"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyEndpoints"),
    printcolumn(name = "Total", type_ = "integer", json_path = ".status.totalEndpoints"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.reason", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct AppHealthSpec {
    /// The `/health/<app>` key. Defaults to `metadata.name`. Unique per cluster: when
    /// two objects claim one key, the older wins and the other gets `Conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))]
    pub app: Option<String>,
    /// Names of the Services (in this namespace) whose EndpointSlices are the app's endpoints.
    #[schemars(length(min = 1, max = 32))]
    pub services: Vec<String>,
    /// How the agent on each endpoint's node probes it.
    #[serde(default)]
    pub probe: AppProbe,
    /// How the signals become a verdict.
    #[serde(default)]
    pub policy: AppPolicy,
    /// Game-day override: `none`, `fail` or `pass`.
    #[serde(default, rename = "override")]
    pub override_mode: OverrideMode,
    /// ALB target groups whose target health is a signal of the app. When absent,
    /// they are discovered from the AWS Load Balancer Controller's
    /// TargetGroupBindings for `services`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub target_group_arns: Option<Vec<String>>,
    /// The app's Route 53 health check and alias record, kept by the leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route53: Option<crate::spec::route53::Route53Block>,
}

/// The probe each agent runs against the endpoints on its own node: the probe
/// keys of the static config, and the two an endpoint URL gives there.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppProbe {
    /// `HTTP` (default), `HTTPS` (TLS, any certificate unless `tls.verify`, as the kubelet), `TCP` or
    /// `GRPC` (`grpc.health.v1.Health/Check` over plaintext HTTP/2, as the kubelet).
    #[serde(default)]
    pub scheme: ProbeScheme,
    /// Port to probe. Default: the EndpointSlice's first port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// The keys the static config has too (one definition, one validation).
    #[serde(flatten)]
    pub keys: ProbeKeys,
}

/// Probe protocol.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ProbeScheme {
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "TCP")]
    Tcp,
    /// TLS, and any certificate is accepted, as the kubelet's HTTPS probes do,
    /// unless `probe.tls.verify` is true.
    #[serde(rename = "HTTPS")]
    Https,
    /// `grpc.health.v1.Health/Check` over plaintext HTTP/2 (h2c), as the kubelet's
    /// gRPC probes: `SERVING` passes.
    #[serde(rename = "GRPC")]
    Grpc,
}

/// The same keys as the static config's `policy`, but `override` (which is
/// `spec.override` here). Flattened, so that an object with a key this agent does
/// not know still parses, as it does elsewhere in the spec.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct AppPolicy {
    #[serde(flatten)]
    pub keys: PolicyKeys,
}

/// What the agent concluded, written by the cluster's leader (see
/// `writer::status`, its only builder).
///
/// Every replica serves an app from these typed fields alone: `verdict` and
/// `reason` (the answer), the endpoint counts, the ALB view (`healthyTargets`,
/// `totalTargets`, `targetsStale`) and the Route 53 view (`healthCheckId`,
/// `route53Healthy`, `route53Problems`). `reason` and `conditions` are also for
/// people and kubectl; no replica parses them. A field an older leader did not
/// write reads as absent: no unknown endpoints, a fresh ALB view, no Route 53 problems.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppHealthStatus {
    /// The resolved `/health/<app>` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// `healthy` or `unhealthy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Health>,
    /// Why, in words: e.g. `1/3 endpoints healthy, need 2`. Served as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Endpoints in the app's EndpointSlices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_endpoints: Option<u32>,
    /// Endpoints Kubernetes reports ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_endpoints: Option<u32>,
    /// Endpoints with a probe result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed_endpoints: Option<u32>,
    /// Endpoints both ready and passing probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_endpoints: Option<u32>,
    /// Ready endpoints whose probe state is still unknown (too few samples yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_endpoints: Option<u32>,
    /// Healthy ALB targets over the app's target groups, as last read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_targets: Option<u32>,
    /// All non-draining ALB targets over the app's target groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_targets: Option<u32>,
    /// True when the ALB counts are the last known ones: the last read failed, or
    /// none succeeded for 3 read intervals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets_stale: Option<bool>,
    /// The ID of the app's Route 53 health check, once the leader made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
    /// Route 53's own verdict on the check (more than 18% of checkers pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route53_healthy: Option<bool>,
    /// Why the app's Route 53 objects are not in line, when they are not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route53_problems: Vec<String>,
    /// Where DNS answers for the app go now and why, with every Region's record as
    /// Route 53 sees it (README: Where is each app served).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<crate::model::DnsView>,
    /// When the verdict last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Healthy`, `Conflict`, `Held`, `Stale`, `ProbesRefused` and `Route53Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// A standard Kubernetes condition.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Healthy`, `Conflict` or `Stale`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    #[serde(default)]
    pub message: String,
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// Every CRD manifest (AppHealth, ProbeReport, ProbeAssignment) as one YAML stream,
/// exactly as `failover-agent crd` prints it.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    let app = serde_yaml::to_string(&AppHealth::crd())?;
    let report = serde_yaml::to_string(&crate::cluster::node::report::ProbeReport::crd())?;
    let assignment = serde_yaml::to_string(&crate::cluster::node::assignment::ProbeAssignment::crd())?;
    Ok(format!("{app}---\n{report}---\n{assignment}"))
}

#[cfg(test)]
#[path = "crd_tests.rs"]
mod tests;
