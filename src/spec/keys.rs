//! The probe and policy keys of an app, as written: one definition shared by the
//! static YAML file (`apps[].probe`, `apps[].policy`) and the `AppHealth` CRD
//! (`spec.probe`, `spec.policy`), validated by one function
//! ([`super::probe_and_policy`]).
//!
//! The static file is the strict side: these structs refuse unknown keys, so a
//! typo such as `fallcount` is an error naming the key. The CRD embeds them with
//! `#[serde(flatten)]` (see `sources::kube::crd`), which keeps the resource
//! lenient to keys a newer CRD may add, as Kubernetes' own types are; its schema
//! (with the `schemars` bounds below) is generated from these same fields.

use crate::model::OverrideMode;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// How an app's endpoints are probed. Every key is optional; the defaults are
/// applied by validation.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbeKeys {
    /// Seconds between probes of one endpoint. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.1, max = 3600.0))]
    pub interval_seconds: Option<f64>,
    /// Seconds before a probe fails. Default 1; at most intervalSeconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.01, max = 3600.0))]
    pub timeout_seconds: Option<f64>,
    /// HTTP path. Default `/`.
    // In the static file, for the endpoints whose URL has no path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024), regex(pattern = "^/"))]
    pub path: Option<String>,
    /// Passing HTTP status codes. Default: any 2xx or 3xx.
    // `expectedStatus: 200` reads as `[200]`; the CRD's schema allows the list only.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "one_or_many")]
    #[schemars(inner(range(min = 100, max = 599)))]
    pub expected_status: Option<Vec<u16>>,
    /// A string the first 64 KiB of the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub body_contains: Option<String>,
    /// gRPC probes only: the service whose health `grpc.health.v1.Health/Check`
    /// asks for. Default: the server's overall health (the empty name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub grpc_service: Option<String>,
    /// HTTPS probes only: how the server's certificate is checked. Default: not at
    /// all (any certificate, as the kubelet's HTTPS probes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ProbeTlsKeys>,
}

/// `probe.tls`: certificate checks of HTTPS probes.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProbeTlsKeys {
    /// Verify the server's certificate chain and name. Default false: any
    /// certificate is accepted, as the kubelet's HTTPS probes do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    /// PEM file of the CA certificates to verify against (with `verify: true`).
    /// Default: the system's roots. In an `AppHealth`, a file name in the agent's
    /// probe CA directory (the chart's `probeCA` ConfigMap), without `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub ca_file: Option<String>,
    /// The name the certificate must be for, also sent as SNI. Default: the
    /// endpoint's IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub server_name: Option<String>,
}

/// How an app's signals become its verdict. Every key is optional; the defaults
/// are applied by validation.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyKeys {
    /// Healthy endpoints needed. Default 1. Set this or minHealthyPercent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub min_healthy_endpoints: Option<u32>,
    /// Healthy endpoints needed as a percentage (rounded up, at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub min_healthy_percent: Option<u32>,
    /// Consecutive failures before an endpoint is down. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub fall_count: Option<u32>,
    /// Consecutive successes before an endpoint is up. Default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub rise_count: Option<u32>,
    /// Start-up grace. Default riseCount × interval + timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 86400.0))]
    pub startup_grace_seconds: Option<f64>,
    /// Healthy ALB targets needed over the app's target groups. Default 1 when the
    /// app has target groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub min_healthy_targets: Option<u32>,
    /// Healthy ALB targets needed, as a percent of all targets (rounded up, at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub min_healthy_target_percent: Option<u32>,
    /// `none`, `fail` or `pass`: the static file's game-day override. An
    /// `AppHealth` sets it at `spec.override`, so it is not in the CRD's schema
    /// (the API server prunes it) and `spec.policy.override` is refused.
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub override_mode: Option<OverrideMode>,
}

/// `expectedStatus: 200` or `expectedStatus: [200, 204]`, as a list.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u16>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(u16),
        Many(Vec<u16>),
    }
    Ok(Option::<OneOrMany>::deserialize(d)?.map(|s| match s {
        OneOrMany::One(c) => vec![c],
        OneOrMany::Many(v) => v,
    }))
}
