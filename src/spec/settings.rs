//! The operator's settings file for in-cluster mode (`run --settings FILE`, env
//! `FAILOVER_AGENT_SETTINGS`; the chart renders it into a ConfigMap): the static
//! config's top-level keys except `apps` (and `allowRemoteOverride`), plus the
//! Route 53 policy. Validated like the static config; the DaemonSet's variables
//! (`AWS_REGION`, `CLUSTER_ID`, `PUBLIC_HOSTNAME`, `PUBLIC_PROTOCOL`, `PUBLIC_PORT`,
//! `MATCH_VERDICT`) win over the file's keys ([`OperatorSettings::in_cluster`]).

use super::aws::{self, AwsSettings, Public};
use super::{Error, FileAws, Result};
use crate::spec::route53::Protocol;
use crate::spec::route53_policy::Route53Policy;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;

/// Default admin listener in the cluster: every interface, so Prometheus on other
/// nodes can scrape it.
pub const DEFAULT_CLUSTER_ADMIN_LISTEN: &str = "0.0.0.0:9090";

/// The file as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileSettings {
    /// This agent's AWS Region. `AWS_REGION` wins; else the instance metadata's.
    pub region: Option<String>,
    /// Public listener. Default `0.0.0.0:8080`. `--health-listen` wins.
    pub health_listen: Option<String>,
    /// Admin listener. Default `0.0.0.0:9090`. `--admin-listen` wins.
    pub admin_listen: Option<String>,
    /// Most probes in flight at once on this node. Default 512.
    pub probe_concurrency: Option<usize>,
    /// `CLUSTER_ID` wins.
    pub cluster_id: Option<String>,
    /// `PUBLIC_HOSTNAME` wins.
    pub public_hostname: Option<String>,
    /// `PUBLIC_PORT` wins.
    pub public_port: Option<u16>,
    /// `PUBLIC_PROTOCOL` wins.
    pub public_protocol: Option<Protocol>,
    /// `MATCH_VERDICT` wins.
    pub match_verdict: Option<bool>,
    /// The public listener's limits and the load balancer in front.
    #[serde(default)]
    pub public_listener: super::FileListener,
    #[serde(default)]
    pub aws: FileAws,
    /// Where Route 53 may be managed. Absent or no zones: nowhere.
    pub route53_policy: Option<Route53Policy>,
    /// Which EndpointSlice addresses may be probed.
    #[serde(default)]
    pub probe_targets: FileProbeTargets,
    /// What one tenant (namespace) may use of the agent.
    #[serde(default)]
    pub limits: FileLimits,
}

/// `limits` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileLimits {
    /// Apps served per namespace. Default 200.
    pub apps_per_namespace: Option<u32>,
    /// Endpoints of the served apps per namespace. Default 2000.
    pub endpoints_per_namespace: Option<u32>,
    /// Probes in flight per app on one node. Default 8.
    pub probes_in_flight_per_app: Option<u32>,
}

/// What one tenant may use, in-cluster (`limits`). Apps beyond a namespace's limits
/// are held: not served, not probed, their Route 53 objects left as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The oldest this many apps of a namespace are served. Default 200.
    pub apps_per_namespace: usize,
    /// Apps are served, oldest first, while their endpoints (all of them, ready or
    /// not, counted per app) fit in this many per namespace. Default 2000.
    pub endpoints_per_namespace: usize,
    /// Probes of one app in flight at once on one node. Default 8.
    pub probes_in_flight_per_app: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            apps_per_namespace: 200,
            endpoints_per_namespace: 2000,
            probes_in_flight_per_app: crate::spec::PER_APP,
        }
    }
}

/// The largest value each `limits` key takes.
const LIMITS_MAX: [(&str, u32); 3] = [
    ("appsPerNamespace", 100_000),
    ("endpointsPerNamespace", 10_000_000),
    ("probesInFlightPerApp", 1024),
];

fn limits(file: &FileLimits, errs: &mut Vec<String>) -> Limits {
    let d = Limits::default();
    let given = [
        (file.apps_per_namespace, d.apps_per_namespace),
        (file.endpoints_per_namespace, d.endpoints_per_namespace),
        (file.probes_in_flight_per_app, d.probes_in_flight_per_app),
    ];
    let mut out = [0usize; 3];
    for (i, ((value, default), (key, max))) in given.into_iter().zip(LIMITS_MAX).enumerate() {
        out[i] = match value {
            None => default,
            Some(v) if (1..=max).contains(&v) => v as usize,
            Some(v) => {
                errs.push(format!(
                    "limits.{key}: {v} is out of range; use 1 to {max} (default {default})"
                ));
                default
            }
        };
    }
    Limits {
        apps_per_namespace: out[0],
        endpoints_per_namespace: out[1],
        probes_in_flight_per_app: out[2],
    }
}

/// `probeTargets` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileProbeTargets {
    /// Probe loopback addresses (127.0.0.0/8, ::1) named in EndpointSlices. Default
    /// false; only for test clusters whose "pods" listen on loopback.
    pub allow_loopback: Option<bool>,
}

/// The operator's rules for in-cluster probe targets, beyond the ones that always
/// hold (see [`crate::spec::guard`] and `sources::kube::slices`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeTargets {
    /// Loopback addresses may be probed (`probeTargets.allowLoopback`). Default false.
    pub allow_loopback: bool,
}

/// The settings file, validated; [`Default`] is running without one.
#[derive(Clone, Debug)]
pub struct OperatorSettings {
    pub region: Option<String>,
    pub health_listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub probe_concurrency: usize,
    pub public_listener: super::PublicListener,
    /// Empty (deny all) when the file has none.
    pub route53_policy: Route53Policy,
    pub probe_targets: ProbeTargets,
    pub limits: Limits,
    /// The keys the variables may override, as written.
    public: Public,
    aws: FileAws,
    /// False for [`Default`]: messages then name only the variables.
    from_file: bool,
}

impl Default for OperatorSettings {
    fn default() -> Self {
        let mut s = validate_settings(FileSettings::default()).expect("the defaults are valid");
        s.from_file = false;
        s
    }
}

/// What in-cluster mode runs with: the file's keys under the variables.
#[derive(Clone, Debug)]
pub struct InCluster {
    /// `AWS_REGION`, else the file's `region`; `None` when neither is set.
    pub region: Option<String>,
    pub health_listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub probe_concurrency: usize,
    pub public_listener: super::PublicListener,
    pub probe_targets: ProbeTargets,
    pub limits: Limits,
    /// Pacing from the file; the owner from the variables over the file; the
    /// policy always `Some`.
    pub aws: AwsSettings,
}

/// Reads and validates the settings file at `path`.
pub fn load_settings(path: &Path) -> Result<OperatorSettings> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse_settings(&text)
}

/// Parses and validates settings text. An empty file is all defaults.
pub fn parse_settings(text: &str) -> Result<OperatorSettings> {
    let file: FileSettings = if text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    }) {
        FileSettings::default()
    } else {
        serde_yaml::from_str(text)?
    };
    validate_settings(file)
}

fn validate_settings(file: FileSettings) -> Result<OperatorSettings> {
    let mut errs = Vec::new();
    if matches!(&file.region, Some(r) if r.trim().is_empty()) {
        errs.push("region: must not be empty; set this cluster's AWS Region, e.g. eu-west-1, or remove the key (AWS_REGION or the instance metadata give it)".into());
    }
    let (health_listen, admin_listen, probe_concurrency) = super::validate::serving(
        (file.health_listen.as_deref(), file.admin_listen.as_deref()),
        DEFAULT_CLUSTER_ADMIN_LISTEN,
        file.probe_concurrency,
        &mut errs,
    );
    let public = Public {
        cluster_id: file.cluster_id,
        hostname: file.public_hostname,
        port: file.public_port,
        protocol: file.public_protocol,
        match_verdict: file.match_verdict,
    };
    // The keys on their own: the pacing, the listener, and the owner's formats when
    // both are here (one alone may be completed by a variable: checked after).
    aws::settings(public.clone(), &file.aws, false, &mut errs);
    let public_listener = super::listener::validate("publicListener", &file.public_listener, &mut errs);
    let route53_policy = file.route53_policy.unwrap_or_default();
    route53_policy.validate("route53Policy", &mut errs);
    let limits = limits(&file.limits, &mut errs);
    if !errs.is_empty() {
        return Err(Error::Invalid(errs));
    }
    Ok(OperatorSettings {
        region: file.region.map(|r| r.trim().to_owned()),
        health_listen,
        admin_listen,
        probe_concurrency,
        public_listener,
        route53_policy,
        probe_targets: ProbeTargets {
            allow_loopback: file.probe_targets.allow_loopback.unwrap_or(false),
        },
        limits,
        public,
        aws: file.aws,
        from_file: true,
    })
}

impl OperatorSettings {
    /// The settings in-cluster mode runs with: each variable (read by `var`; unset
    /// and empty are alike) over its key in the file. Problems name the variable,
    /// or the key when only the file set the value.
    pub fn in_cluster(&self, var: impl Fn(&str) -> Option<String>) -> Result<InCluster, Vec<String>> {
        let mut aws = aws::over_file(&var, self.public.clone(), &self.aws, self.from_file)?;
        aws.route53_policy = Some(self.route53_policy.clone());
        Ok(InCluster {
            region: var("AWS_REGION").or_else(|| self.region.clone()),
            health_listen: self.health_listen,
            admin_listen: self.admin_listen,
            probe_concurrency: self.probe_concurrency,
            public_listener: self.public_listener.clone(),
            probe_targets: self.probe_targets,
            limits: self.limits,
            aws,
        })
    }
}

/// Probes in flight per app unless the operator says otherwise.
pub const PER_APP: usize = 8;
