//! The static configuration: the YAML model (this file), and its validation into
//! an [`AgentConfig`] that the rest of the crate trusts ([`validate`]).
//!
//! Parsing happens once, in [`load`] or [`parse`]; tests feed [`parse`] directly.
//! Unknown keys are errors, so a typo such as `fallcount` never silently falls
//! back to a default.

mod aws;
mod endpoint;
mod keys;
mod listener;
mod numbers;
mod settings;
mod validate;

pub use aws::{from_env as aws_from_env, valid_target_group_arn, AwsSettings, FileAws};
pub use keys::{PolicyKeys, ProbeKeys, ProbeTlsKeys};
pub use listener::{canonical, Cidr, FileListener, PublicListener};
pub use settings::{
    load_settings, parse_settings, FileLimits, FileProbeTargets, FileSettings, InCluster, Limits, OperatorSettings,
    ProbeTargets, DEFAULT_CLUSTER_ADMIN_LISTEN,
};
pub(crate) use validate::probe_and_policy;
pub use validate::{valid_app_name, AgentConfig, AppConfig, ProbeSpec, ProbeTls};

use serde::Deserialize;
pub use settings::PER_APP;
use std::path::Path;

/// Configuration errors. Each message names the field and the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config is not valid YAML for failover-agent: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("invalid config:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

impl Error {
    /// A fixed name per variant, for metric labels and log fields.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Read { .. } => "read",
            Error::Yaml(_) => "yaml",
            Error::Invalid(_) => "invalid",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Default public listener: every interface, for Route 53's checkers.
pub const DEFAULT_HEALTH_LISTEN: &str = "0.0.0.0:8080";
/// Default admin listener for static runs: loopback only.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

/// The file as written. Field docs give the defaults.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileConfig {
    /// This agent's AWS Region, shown on the status page. Required.
    pub region: String,
    /// Public listener address. Default `0.0.0.0:8080`. `--health-listen` wins.
    pub health_listen: Option<String>,
    /// Admin listener address. Default `127.0.0.1:9090`. `--admin-listen` wins.
    pub admin_listen: Option<String>,
    /// Most probes in flight at once, across all apps. Default 512.
    pub probe_concurrency: Option<usize>,
    /// Accept `POST /apps/<app>/override` from non-loopback peers. Default false.
    #[serde(default)]
    pub allow_remote_override: bool,
    /// Unique per cluster (per Region); tags the Route 53 health checks this agent
    /// owns. Required when any app has a `route53` block.
    pub cluster_id: Option<String>,
    /// This Region's public agent hostname, which Route 53's checkers call.
    /// Required when any app has a `route53` block.
    pub public_hostname: Option<String>,
    /// The port of the load balancer listener at `publicHostname` (not the agent's
    /// own 8080). Default 80 for HTTP, 443 for HTTPS.
    pub public_port: Option<u16>,
    /// `HTTP` or `HTTPS`: that listener's protocol. Default `HTTP`.
    pub public_protocol: Option<crate::spec::route53::Protocol>,
    /// Checks also require `HEALTHY <app>` in the body. Default false.
    pub match_verdict: Option<bool>,
    /// The public listener's limits and the load balancer in front.
    #[serde(default)]
    pub public_listener: FileListener,
    #[serde(default)]
    pub aws: FileAws,
    pub apps: Vec<FileApp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileApp {
    /// The `/health/<name>` key: lowercase letters, digits, `-` and `.`.
    pub name: String,
    /// Metric label and status-page grouping. Default `static`.
    pub namespace: Option<String>,
    /// `http://IP:PORT[/path]` or `tcp://IP:PORT`.
    pub endpoints: Vec<String>,
    /// How the endpoints are probed (the keys an `AppHealth` has too).
    #[serde(default)]
    pub probe: ProbeKeys,
    /// How the signals become a verdict (the keys an `AppHealth` has too, and `override`).
    #[serde(default)]
    pub policy: PolicyKeys,
    /// ALB target groups whose target health is a signal of the app.
    #[serde(default)]
    pub target_group_arns: Vec<String>,
    /// The app's Route 53 health check and alias record, owned by the agent.
    pub route53: Option<crate::spec::route53::Route53Block>,
}

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<AgentConfig> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text)
}

/// Parses and validates config text.
pub fn parse(text: &str) -> Result<AgentConfig> {
    let file: FileConfig = serde_yaml::from_str(text)?;
    validate::validate(file)
}

#[cfg(test)]
mod fuzz_tests;
pub mod guard;
pub mod policy;
pub mod record_types;
pub mod route53;
pub mod route53_policy;
#[cfg(test)]
mod settings_tests;
#[cfg(test)]
mod tests;
