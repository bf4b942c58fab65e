//! Which checks to try, computed exactly as the agent will create them
//! ([`Owner::check_for`]): from a static config, from the cluster's `AppHealth`
//! objects, or from `--public-hostname` and `--app` on the command line.

use super::{Error, Result};
use crate::cli::PreflightArgs;
use crate::model::AppKey;
use crate::publish::route53::objects::CheckConfig;
use crate::publish::route53::DesiredApp;
use crate::spec::route53::validate;
use crate::spec::route53::Owner;
use crate::spec::route53::Routing;
use crate::spec::route53::Settings;
use crate::spec::valid_app_name;
use std::path::Path;

/// The checks to try, and the apps that will have none.
#[derive(Debug, Default)]
pub struct Targets {
    /// Where the apps came from, for the report's first line.
    pub source: String,
    /// `(app, its check)`, in app order.
    pub checks: Vec<(String, CheckConfig)>,
    /// `(app, why)`: in-cluster apps whose `spec.route53` is invalid, so the agent
    /// makes no check for them until it is fixed.
    pub invalid: Vec<(String, String)>,
}

/// Reads the apps `args` name. A bad combination of flags is [`Error::Usage`],
/// with one line naming the flag and the fix.
pub async fn load(args: &PreflightArgs) -> Result<Targets> {
    let usage = |m: &str| Err(Error::Usage(m.into()));
    match (&args.config, args.cluster, args.apps.is_empty()) {
        (Some(_), true, _) => {
            usage("--config and --cluster: choose one (the apps come from the file or from the cluster)")
        }
        (Some(_), _, false) | (None, true, false) => usage(
            "--app goes with --public-hostname alone: \
             with --config or --cluster, every app with a route53 block is checked",
        ),
        (Some(path), false, true) => from_config(path, args),
        (None, true, true) => from_cluster(args).await,
        (None, false, false) => from_flags(args),
        (None, false, true) => usage("name the apps: --config FILE, --cluster, or --public-hostname HOST --app NAME"),
    }
}

/// The apps of a static config that have a `route53` block, at its
/// `publicHostname` (or `--public-hostname`), with its listener keys.
fn from_config(path: &Path, args: &PreflightArgs) -> Result<Targets> {
    let cfg = crate::spec::load(path)?;
    let apps = crate::run::standalone::route53_desired(&cfg);
    let Some(mut owner) = cfg.aws.owner.clone().filter(|_| !apps.is_empty()) else {
        return Err(Error::Usage(format!(
            "{}: no app has a route53 block, so Route 53 checks nothing; \
             to check apps anyway, use --public-hostname HOST --app NAME",
            path.display()
        )));
    };
    if let Some(host) = &args.agent.public_hostname {
        owner.public_hostname = hostname(host)?;
    }
    Ok(Targets {
        source: format!("{} app(s) with route53 in {}", apps.len(), path.display()),
        // A CLOUDWATCH_METRIC check calls no endpoint: nothing to preflight.
        checks: apps
            .iter()
            .filter(|a| a.settings.metric.is_none())
            .map(|a| (a.key.name.clone(), owner.check_for(a)))
            .collect(),
        invalid: Vec::new(),
    })
}

/// The served `AppHealth` objects with a `route53` block, as the leader sees
/// them, at the hostname and listener the agents run with (flags, then the agent
/// DaemonSet's environment). Only Kubernetes is read: the checks need no AWS call.
#[tracing::instrument(skip_all)]
async fn from_cluster(args: &PreflightArgs) -> Result<Targets> {
    use crate::cluster::kube::agent_env;
    use crate::cluster::kube::crd::AppHealth;
    use crate::cluster::serving::resolve;
    use kube::api::{Api, ListParams};
    use kube::ResourceExt;
    let a = &args.agent;
    let (daemonset, source) = agent_env::read(&a.agent_namespace, &a.agent_daemonset).await;
    // The cluster ID names no part of a check: do without one rather than refuse.
    let mut flags = a.clone();
    if flags.cluster_id.is_none() && !daemonset.env.contains_key("CLUSTER_ID") {
        flags.cluster_id = Some("unnamed".into());
    }
    let settings = flags
        .resolve(&daemonset)
        .map_err(|e| Error::Usage(format!("{e} (settings: {source})")))?;
    let Some(mut owner) = settings.owner else {
        return Err(Error::Usage(format!(
            "--cluster needs the public hostname: PUBLIC_HOSTNAME on the agent DaemonSet, or --public-hostname HOST (settings: {source})"
        )));
    };
    owner.public_hostname = hostname(&owner.public_hostname)?;
    let client = crate::cluster::kube::client::connect().await?;
    let all = Api::<AppHealth>::all(client).list(&ListParams::default()).await?;
    // The Conflict rule: an object that loses its key is not served, so not checked.
    let served = resolve::resolve(all.items.into_iter().map(std::sync::Arc::new)).served;
    // The Region only fills defaults (set identifier, latency region) a check never uses.
    let region = settings.region.as_deref().unwrap_or("region-unset");
    let mut t = Targets::default();
    for (key, ah) in &served {
        let Some(block) = &ah.spec.route53 else { continue };
        let mut errs = Vec::new();
        let ns = ah.namespace().unwrap_or_default();
        match validate("spec.route53", block, region, &mut errs) {
            Some(s) => match settings
                .policy
                .as_ref()
                .map_or(Ok(()), |p| p.check(&ns, &s.zone_id, &s.record_name))
            {
                Err(why) => t.invalid.push((
                    key.clone(),
                    format!("route53Policy does not allow it, so the agent makes no check: {why}"),
                )),
                Ok(()) => {
                    let app = DesiredApp {
                        key: AppKey {
                            namespace: ns.clone(),
                            name: key.clone(),
                        },
                        incarnation: ah.uid().unwrap_or_default(),
                        settings: s,
                    };
                    if app.settings.metric.is_none() {
                        t.checks.push((key.clone(), owner.check_for(&app)));
                    }
                }
            },
            None => t.invalid.push((
                key.clone(),
                format!(
                    "spec.route53 is invalid, so the agent makes no check: {}",
                    errs.join("; ")
                ),
            )),
        }
    }
    let id = Some(owner.cluster_id.as_str())
        .filter(|id| *id != "unnamed")
        .map(|id| format!(" of cluster {id}"))
        .unwrap_or_default();
    let from = match settings.from_daemonset.as_slice() {
        [] => String::new(),
        vars => format!("; {} from the DaemonSet", vars.join(", ")),
    };
    t.source = format!(
        "{} AppHealth object(s) with route53{id} (settings: {source}{from})",
        t.checks.len() + t.invalid.len()
    );
    Ok(t)
}

/// `--app` names at `--public-hostname`, with the listener flags: the checks the
/// agent makes for apps whose `route53` block has no `healthCheck` of its own.
fn from_flags(args: &PreflightArgs) -> Result<Targets> {
    let Some(host) = &args.agent.public_hostname else {
        return Err(Error::Usage(
            "--app needs --public-hostname HOST, the hostname Route 53 checks (e.g. health.eu-west-1.example.com)"
                .into(),
        ));
    };
    let owner = owner(hostname(host)?, args);
    let mut names: Vec<&String> = Vec::new();
    for name in &args.apps {
        if !valid_app_name(name) {
            return Err(Error::Usage(format!(
                "--app {name:?}: not an app name; use the /health/<app> key, 1-63 of a-z, 0-9, '-' and '.'"
            )));
        }
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let checks = names
        .iter()
        .map(|n| ((*n).clone(), owner.check_for(&plain(n))))
        .collect();
    Ok(Targets {
        source: format!("{} app(s) from the command line", names.len()),
        checks,
        invalid: Vec::new(),
    })
}

/// The owner the flags describe (the cluster ID is not part of a check).
fn owner(public_hostname: String, args: &PreflightArgs) -> Owner {
    Owner {
        cluster_id: args.agent.cluster_id.clone().unwrap_or_default(),
        public_hostname,
        public: args.agent.listener.listener(),
    }
}

/// A bare hostname, as Route 53 checks it; a URL or `host:port` is a usage error.
fn hostname(h: &str) -> Result<String> {
    let h = h.trim();
    if h.is_empty() || h.contains(|c: char| c == '/' || c == ':' || c.is_whitespace()) {
        return Err(Error::Usage(format!(
            "--public-hostname {h:?}: give the bare hostname, \
             e.g. health.eu-west-1.example.com (the port is --public-port)"
        )));
    }
    Ok(h.to_owned())
}

/// An app whose `route53` block sets nothing about its check: only the key and
/// the check settings matter here, the record fields are placeholders.
fn plain(name: &str) -> DesiredApp {
    DesiredApp {
        key: AppKey {
            namespace: String::new(),
            name: name.to_owned(),
        },
        incarnation: String::new(),
        settings: Settings {
            zone_id: String::new(),
            record_name: String::new(),
            routing: Routing::Weighted(0),
            set_identifier: String::new(),
            alias: None,
            record_types: None,
            interval: 10,
            failure_threshold: 3,
            protocol: None,
            port: None,
            search_string: None,
            metric: None,
        },
    }
}
