//! Validation: turns a [`FileConfig`] into an [`AgentConfig`], collecting every
//! problem with the field path and the fix, so one run shows them all.
//!
//! - this file: the whole file and the keys it shares with the settings file;
//! - [`app`]: one app of the static file;
//! - [`probe`] and [`policy`]: the probe and policy keys, which the static file
//!   and the `AppHealth` resource share ([`probe_and_policy`]).

mod app;
mod policy;
mod probe;
mod probe_tls;

pub(crate) use policy::probe_and_policy;
pub use probe::ProbeSpec;
pub use probe_tls::ProbeTls;

use super::{Error, FileConfig, Result, DEFAULT_ADMIN_LISTEN, DEFAULT_HEALTH_LISTEN};
use crate::model::{AppKey, OverrideMode, Target};
use crate::spec::policy::Policy;
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
    pub route53: Option<crate::spec::route53::Settings>,
}

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
        if let Some(app) = app::validate(&at, app, &file.region, &mut errs) {
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
