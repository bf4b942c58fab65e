//! Validation: turns a [`FileConfig`] into an [`AgentConfig`], collecting every
//! problem with the field path and the fix, so one run shows them all.

use super::numbers::{finite_secs, problem, show};
use super::{Error, FileApp, FileConfig, OneOrMany, Result, DEFAULT_ADMIN_LISTEN, DEFAULT_HEALTH_LISTEN};
use crate::model::{AppKey, OverrideMode, Target};
use crate::policy::{MinHealthy, Policy};
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The validated configuration of one agent.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub region: String,
    pub health_listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub probe_concurrency: usize,
    pub public_listener: super::PublicListener,
    pub allow_remote_override: bool,
    pub aws: super::aws::AwsSettings,
    pub apps: Vec<AppConfig>,
}

impl AgentConfig {
    /// One line for `check-config`: Region, apps, endpoints, and the AWS parts.
    pub fn summary(&self) -> String {
        let endpoints: usize = self.apps.iter().map(|a| a.targets.len()).sum();
        let groups: usize = self.apps.iter().map(|a| a.target_groups.len()).sum();
        let route53 = self.apps.iter().filter(|a| a.route53.is_some()).count();
        let mut s = format!(
            "region {}, {} apps, {endpoints} endpoints",
            self.region,
            self.apps.len()
        );
        if groups > 0 {
            s += &format!(", {groups} target groups");
        }
        if let Some(o) = &self.aws.owner {
            s += &format!(", {route53} apps with route53 (cluster {})", o.cluster_id);
        }
        s
    }
}

/// One validated app.
#[derive(Clone, Debug)]
pub struct AppConfig {
    pub key: AppKey,
    pub targets: Vec<Target>,
    pub probe: Arc<ProbeSpec>,
    pub policy: Policy,
    pub startup_grace: Duration,
    pub override_mode: OverrideMode,
    /// ALB target groups read as a third signal; empty for none.
    pub target_groups: Vec<String>,
    /// The app's Route 53 objects, when the agent manages them.
    pub route53: Option<crate::route53::spec::Settings>,
}

/// How an app's endpoints are probed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSpec {
    #[serde(with = "secs")]
    pub interval: Duration,
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Passing status codes; `None` means any 2xx or 3xx.
    pub expected_status: Option<Vec<u16>>,
    pub body_contains: Option<String>,
}

impl ProbeSpec {
    pub fn status_passes(&self, status: u16) -> bool {
        match &self.expected_status {
            Some(list) => list.contains(&status),
            None => (200..400).contains(&status),
        }
    }
}

mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

const DEFAULT_INTERVAL: f64 = 2.0;
const DEFAULT_TIMEOUT: f64 = 1.0;
const DEFAULT_FALL: u32 = 3;
const DEFAULT_RISE: u32 = 2;
const DEFAULT_CONCURRENCY: usize = 512;

pub(super) fn validate(file: FileConfig) -> Result<AgentConfig> {
    let mut errs = Vec::new();
    if file.region.trim().is_empty() {
        errs.push("region: must not be empty; set it to this cluster's AWS Region, e.g. eu-west-1".into());
    }
    let (health_listen, admin_listen, probe_concurrency) = serving(
        (file.health_listen.as_deref(), file.admin_listen.as_deref()),
        DEFAULT_ADMIN_LISTEN,
        file.probe_concurrency,
        &mut errs,
    );
    let public_listener = super::listener::validate("publicListener", &file.public_listener, &mut errs);
    if file.apps.is_empty() {
        errs.push("apps: is empty; list at least one app with a name and endpoints".into());
    }
    let needs_owner = file.apps.iter().any(|a| a.route53.is_some());
    let public = super::aws::Public {
        cluster_id: file.cluster_id,
        hostname: file.public_hostname,
        port: file.public_port,
        protocol: file.public_protocol,
        match_verdict: file.match_verdict,
    };
    let aws = super::aws::settings(public, &file.aws, needs_owner, &mut errs);
    let mut names = HashSet::new();
    let mut apps = Vec::with_capacity(file.apps.len());
    for (i, app) in file.apps.into_iter().enumerate() {
        let at = format!("apps[{i}]");
        if !names.insert(app.name.clone()) {
            errs.push(format!(
                "{at}.name: `{}` is used twice; app names are /health/<name> keys and must be unique",
                app.name
            ));
        }
        if let Some(app) = validate_app(&at, app, &file.region, &mut errs) {
            apps.push(app);
        }
    }
    super::aws::unique_records(&apps, &mut errs);
    if !errs.is_empty() {
        return Err(Error::Invalid(errs));
    }
    Ok(AgentConfig {
        region: file.region,
        health_listen,
        admin_listen,
        probe_concurrency,
        public_listener,
        allow_remote_override: file.allow_remote_override,
        aws,
        apps,
    })
}

/// `probeConcurrency`, with its default (shared with the settings file).
pub(super) fn probe_concurrency(given: Option<usize>, errs: &mut Vec<String>) -> usize {
    let n = given.unwrap_or(DEFAULT_CONCURRENCY);
    if !(1..=65_536).contains(&n) {
        errs.push(format!(
            "probeConcurrency: {n} is out of range; use 1 to 65536 (default {DEFAULT_CONCURRENCY})"
        ));
    }
    n
}

/// A listener key (`healthListen`, `adminListen`), with its default.
/// The keys the static config and the settings file share about serving: the two
/// listeners (`healthListen`, `adminListen`, whose default differs by mode) and
/// `probeConcurrency`.
pub(super) fn serving(
    (health, admin): (Option<&str>, Option<&str>),
    admin_default: &str,
    concurrency: Option<usize>,
    errs: &mut Vec<String>,
) -> (SocketAddr, SocketAddr, usize) {
    (
        listen_addr("healthListen", health, DEFAULT_HEALTH_LISTEN, errs),
        listen_addr("adminListen", admin, admin_default, errs),
        probe_concurrency(concurrency, errs),
    )
}

pub(super) fn listen_addr(field: &str, given: Option<&str>, default: &str, errs: &mut Vec<String>) -> SocketAddr {
    let text = given.unwrap_or(default);
    text.parse().unwrap_or_else(|_| {
        errs.push(format!("{field}: `{text}` is not IP:PORT; write e.g. `{default}`"));
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    })
}

/// Checks that `name` is usable as a `/health/<name>` key and a metric label:
/// 1 to 63 characters of `a-z`, `0-9`, `-` and `.`, starting and ending alphanumeric.
pub fn valid_app_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'.')
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

fn validate_app(at: &str, app: FileApp, region: &str, errs: &mut Vec<String>) -> Option<AppConfig> {
    let before = errs.len();
    let target_groups = super::aws::target_groups(at, &app.target_group_arns, errs);
    let route53 = super::aws::route53(at, app.route53.as_ref(), region, errs);
    if !valid_app_name(&app.name) {
        errs.push(format!(
            "{at}.name: `{}` is not a valid app name; use 1-63 lowercase letters, digits, `-` or `.`, starting and ending with a letter or digit",
            app.name.escape_debug()
        ));
    }
    let namespace = app.namespace.unwrap_or_else(|| "static".into());
    if !valid_app_name(&namespace) {
        errs.push(format!(
            "{at}.namespace: `{}` is not valid; use a Kubernetes-style name such as `payments`",
            namespace.escape_debug()
        ));
    }

    let p = &app.probe;
    let expected_status = p.expected_status.clone().map(|s| match s {
        OneOrMany::One(c) => vec![c],
        OneOrMany::Many(v) => v,
    });
    let probe = RawProbe {
        interval_seconds: p.interval_seconds,
        timeout_seconds: p.timeout_seconds,
        expected_status,
        body_contains: p.body_contains.clone(),
        path: p.path.clone(),
    };
    let pol = &app.policy;
    let raw_policy = RawPolicy {
        min_healthy_endpoints: pol.min_healthy_endpoints,
        min_healthy_percent: pol.min_healthy_percent,
        fall_count: pol.fall_count,
        rise_count: pol.rise_count,
        startup_grace_seconds: pol.startup_grace_seconds,
        min_healthy_targets: pol.min_healthy_targets,
        min_healthy_target_percent: pol.min_healthy_target_percent,
    };
    let (probe, policy, grace) = probe_and_policy(at, &probe, &raw_policy, errs);
    if let MinHealthy::Count(n) = policy.min_healthy {
        if n as usize > app.endpoints.len() && !app.endpoints.is_empty() {
            errs.push(format!(
                "{at}.policy.minHealthyEndpoints: {n} is more than the {} endpoints listed, so the app could never be healthy; lower it or add endpoints",
                app.endpoints.len()
            ));
        }
    }

    if app.endpoints.is_empty() {
        errs.push(format!(
            "{at}.endpoints: is empty; list the app's pods as http://IP:PORT/path or tcp://IP:PORT"
        ));
    }
    let mut targets = Vec::with_capacity(app.endpoints.len());
    for (j, ep) in app.endpoints.iter().enumerate() {
        match super::endpoint::parse(ep, app.probe.path.as_deref()) {
            Ok(t) if targets.contains(&t) => errs.push(format!(
                "{at}.endpoints[{j}]: `{ep}` is listed twice; remove the duplicate"
            )),
            Ok(t) => targets.push(t),
            Err(why) => errs.push(format!("{at}.endpoints[{j}]: `{}` {why}", ep.escape_debug())),
        }
    }
    if errs.len() > before {
        return None;
    }
    Some(AppConfig {
        key: AppKey {
            namespace,
            name: app.name,
        },
        targets,
        probe: Arc::new(probe),
        policy,
        startup_grace: grace,
        override_mode: pol.override_mode.unwrap_or_default(),
        target_groups,
        route53,
    })
}

fn count_field(at: &str, field: &str, v: Option<u32>, default: u32, errs: &mut Vec<String>) -> u32 {
    let v = v.unwrap_or(default);
    if !(1..=100).contains(&v) {
        errs.push(format!(
            "{at}.policy.{field}: {v} is out of range; use 1 to 100 (default {default})"
        ));
        return default;
    }
    v
}

/// Probe keys shared by the static file and the `AppHealth` resource.
pub(crate) struct RawProbe {
    pub interval_seconds: Option<f64>,
    pub timeout_seconds: Option<f64>,
    pub expected_status: Option<Vec<u16>>,
    pub body_contains: Option<String>,
    pub path: Option<String>,
}

/// Policy keys shared by the static file and the `AppHealth` resource.
pub(crate) struct RawPolicy {
    pub min_healthy_endpoints: Option<u32>,
    pub min_healthy_percent: Option<u32>,
    pub fall_count: Option<u32>,
    pub rise_count: Option<u32>,
    pub startup_grace_seconds: Option<f64>,
    pub min_healthy_targets: Option<u32>,
    pub min_healthy_target_percent: Option<u32>,
}

/// Validates the probe and policy keys of one app, with defaults. Problems go to
/// `errs`, prefixed with `at` (e.g. `apps[0]` or `spec`).
pub(crate) fn probe_and_policy(
    at: &str,
    p: &RawProbe,
    pol: &RawPolicy,
    errs: &mut Vec<String>,
) -> (ProbeSpec, Policy, Duration) {
    let interval_v = p.interval_seconds.unwrap_or(DEFAULT_INTERVAL);
    let interval = finite_secs(
        &format!("{at}.probe.intervalSeconds"),
        interval_v,
        (0.1, 3600.0),
        &format!(" (default {DEFAULT_INTERVAL})"),
        errs,
    );
    let timeout_v = p.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT);
    let timeout_max = interval.map_or(3600.0, |d| d.as_secs_f64());
    let timeout = match problem(timeout_v, (0.01, timeout_max)) {
        None => Duration::try_from_secs_f64(timeout_v).ok(),
        Some(why) => {
            let why = if timeout_v.is_finite() {
                String::new()
            } else {
                format!("{why}; it ")
            };
            errs.push(format!("{at}.probe.timeoutSeconds: {} {why}must be at least 0.01 and at most intervalSeconds ({}); lower it or raise the interval", show(timeout_v), show(interval_v)));
            None
        }
    };
    if let Some(list) = &p.expected_status {
        if list.is_empty() || list.iter().any(|c| !(100..=599).contains(c)) {
            errs.push(format!("{at}.probe.expectedStatus: {list:?} must list HTTP status codes between 100 and 599, e.g. 200 or [200, 204]"));
        }
    }
    if let Some(path) = &p.path {
        if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
            errs.push(format!(
                "{at}.probe.path: `{}` must be an absolute URL path such as /healthz",
                path.escape_debug()
            ));
        }
    }
    if matches!(&p.body_contains, Some(s) if s.is_empty() || s.len() > 1024) {
        errs.push(format!(
            "{at}.probe.bodyContains: must be 1 to 1024 bytes; remove it to skip the body check"
        ));
    }
    let min_healthy = match (pol.min_healthy_endpoints, pol.min_healthy_percent) {
        (Some(_), Some(_)) => {
            errs.push(format!(
                "{at}.policy: set only one of minHealthyEndpoints and minHealthyPercent"
            ));
            MinHealthy::Count(1)
        }
        (_, Some(pct)) if !(1..=100).contains(&pct) => {
            errs.push(format!(
                "{at}.policy.minHealthyPercent: {pct} is out of range; use 1 to 100"
            ));
            MinHealthy::Count(1)
        }
        (_, Some(pct)) => MinHealthy::Percent(pct as u8),
        (Some(0), _) => {
            errs.push(format!("{at}.policy.minHealthyEndpoints: 0 would make the app always healthy; use 1 or more, or `override: pass`"));
            MinHealthy::Count(1)
        }
        (Some(n), _) => MinHealthy::Count(n),
        (None, None) => MinHealthy::Count(1),
    };
    let min_healthy_targets = match (pol.min_healthy_targets, pol.min_healthy_target_percent) {
        (Some(_), Some(_)) => {
            errs.push(format!(
                "{at}.policy: set only one of minHealthyTargets and minHealthyTargetPercent"
            ));
            MinHealthy::Count(1)
        }
        (_, Some(pct)) if !(1..=100).contains(&pct) => {
            errs.push(format!(
                "{at}.policy.minHealthyTargetPercent: {pct} is out of range; use 1 to 100"
            ));
            MinHealthy::Count(1)
        }
        (_, Some(pct)) => MinHealthy::Percent(pct as u8),
        (Some(0), _) => {
            errs.push(format!(
                "{at}.policy.minHealthyTargets: 0 would ignore the ALB; use 1 or more, or remove targetGroupArns"
            ));
            MinHealthy::Count(1)
        }
        (Some(n), _) => MinHealthy::Count(n),
        (None, None) => MinHealthy::Count(1),
    };
    let fall_count = count_field(at, "fallCount", pol.fall_count, DEFAULT_FALL, errs);
    let rise_count = count_field(at, "riseCount", pol.rise_count, DEFAULT_RISE, errs);
    let grace = match (pol.startup_grace_seconds, interval, timeout) {
        (Some(g), _, _) => finite_secs(
            &format!("{at}.policy.startupGraceSeconds"),
            g,
            (0.0, MAX_GRACE),
            " (default riseCount × intervalSeconds + timeoutSeconds)",
            errs,
        ),
        (None, Some(i), Some(t)) => {
            let g = i * rise_count + t;
            if g.as_secs_f64() > MAX_GRACE {
                errs.push(format!("{at}.policy.startupGraceSeconds: the default, riseCount × intervalSeconds + timeoutSeconds, is {}, over {MAX_GRACE}; set startupGraceSeconds to 0 to {MAX_GRACE}, or lower riseCount or intervalSeconds", show(g.as_secs_f64())));
            }
            Some(g)
        }
        // The interval or timeout is already refused; no second message about it.
        (None, _, _) => None,
    };
    let probe = ProbeSpec {
        interval: interval.unwrap_or(Duration::from_secs(2)),
        timeout: timeout.unwrap_or(Duration::from_secs(1)),
        expected_status: p.expected_status.clone(),
        body_contains: p.body_contains.clone(),
    };
    let policy = Policy {
        min_healthy,
        fall_count,
        rise_count,
        min_healthy_targets,
    };
    (probe, policy, grace.unwrap_or_default())
}

/// Longest `startupGraceSeconds`: one day.
const MAX_GRACE: f64 = 86_400.0;
