//! `failover-agent route53 plan|apply`: one reconcile from the command line.
//! `plan` reads Route 53 and prints the changes; `apply` also makes them and
//! prints what failed. The apps come from a static config (`--config`) or, with
//! `--cluster`, from the `AppHealth` objects of the current kube context: the
//! same plan the cluster's leader carries out.

use super::{apply, plan_holding, read, Desired};
use crate::aws::{self, Budget, CallError, Caller};
use crate::cli::Route53Args;
use crate::telemetry::Metrics;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    #[error("route53: {0}")]
    Usage(String),
    #[error(transparent)]
    Aws(#[from] CallError),
    #[error("Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot write the plan: {0}")]
    Io(#[from] std::io::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl Error {
    /// True for bad configuration or flags (exit 64).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Config(_) | Error::Usage(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs `plan` (or `apply`, if `apply_it`) for `args`, writing to `out`. Returns
/// true if every change was applied (for a plan: if it could be made).
pub async fn run(args: &Route53Args, apply_it: bool, out: &mut impl Write) -> Result<bool> {
    // The static config, or (--cluster) the agents' settings: flags, then the
    // DaemonSet's own environment. The apps come below.
    let (owner, region, cfg, policy, limits) = match &args.config {
        Some(path) => {
            let cfg = crate::config::load(path)?;
            let owner = cfg.aws.owner.clone().ok_or_else(|| {
                Error::Usage(
                    "set clusterId and publicHostname in the config: they name the health checks this agent owns"
                        .into(),
                )
            })?;
            (owner, cfg.region.clone(), Some(cfg), None, None)
        }
        None => {
            let a = &args.agent;
            let (daemonset, source) =
                crate::sources::kube::agent_env::read(&a.agent_namespace, &a.agent_daemonset).await;
            let settings = a
                .resolve(&daemonset)
                .map_err(|e| Error::Usage(format!("{e} (settings: {source})")))?;
            let (Some(owner), Some(region)) = (settings.owner, settings.region) else {
                return Err(Error::Usage(format!("--cluster needs CLUSTER_ID, PUBLIC_HOSTNAME and AWS_REGION: the chart sets them on the agent DaemonSet, or give --cluster-id, --public-hostname and --region (settings: {source})")));
            };
            writeln!(
                out,
                "# settings: {source}; from the DaemonSet: {}",
                settings.from_daemonset.join(", ")
            )?;
            (owner, region, None, settings.policy, settings.limits)
        }
    };
    let clients = aws::load(&region).await;
    let caller = Caller::new(Budget::default(), Metrics::new(&region)?.aws);
    let desired = match cfg {
        Some(cfg) => Desired {
            apps: crate::agent::route53_desired(&cfg),
            hold: Default::default(),
        },
        None => {
            let client = crate::sources::kube::client::connect().await?;
            let (desired, held) = crate::sources::kube::discovery::from_cluster(
                &client,
                &clients.elbv2,
                &caller,
                &region,
                policy.as_ref(),
                limits,
            )
            .await?;
            for (app, why) in held {
                writeln!(
                    out,
                    "! held          {:<20} {}: {}",
                    format!("{}/{}", app.namespace, app.name),
                    why.reason,
                    why.message
                )?;
            }
            desired
        }
    };
    let actual = read(&clients.route53, &caller, &desired.apps).await?;
    let p = plan_holding(&owner, &desired.apps, &desired.hold, &actual);
    writeln!(
        out,
        "# cluster {} ({}), {} app(s) with route53",
        owner.cluster_id,
        owner.public_hostname,
        desired.apps.len()
    )?;
    write!(out, "{p}")?;
    // An app that could not be planned (its zone unreadable) leaves the run incomplete.
    let planned_all = p.errors.is_empty();
    if !apply_it || p.is_empty() {
        return Ok(planned_all);
    }
    // The command line leads alone: its fence is always open.
    let done = apply(&clients.route53, &caller, &p, &crate::fence::Always).await;
    writeln!(out, "Applied {} change(s).", done.applied.len())?;
    for f in &done.failed {
        writeln!(out, "FAILED {}: {}", f.step, f.error)?;
    }
    for (app, id) in &done.check_ids {
        writeln!(out, "health check {}/{}: {id}", app.namespace, app.name)?;
    }
    Ok(done.is_complete() && planned_all)
}
