//! `failover-agent route53 plan|apply --config FILE`: one reconcile from the
//! command line. `plan` reads Route 53 and prints the changes; `apply` also makes
//! them and prints what failed.

use super::{apply, read};
use crate::aws::{self, CallError, Caller};
use crate::config::AgentConfig;
use crate::telemetry::Metrics;
use std::io::Write;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("route53: set clusterId and publicHostname in the config: they name the health checks this agent owns")]
    NoOwner,
    #[error(transparent)]
    Aws(#[from] CallError),
    #[error("cannot write the plan: {0}")]
    Io(#[from] std::io::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Plans (and, if `apply_it`, applies) the Route 53 objects of `cfg`, writing the
/// plan and the result to `out`. Returns true if every change was applied (or,
/// for a plan, if it could be read).
pub async fn run(cfg: &AgentConfig, apply_it: bool, out: &mut impl Write) -> Result<bool> {
    let owner = cfg.aws.owner.clone().ok_or(Error::NoOwner)?;
    let desired = crate::agent::route53_desired(cfg);
    let clients = aws::load(&cfg.region).await;
    let metrics = Metrics::new(&cfg.region)?;
    let caller = Caller::new(cfg.aws.budget, metrics.aws.clone());
    let actual = read(&clients.route53, &caller, &desired).await?;
    let p = super::plan(&owner, &desired, &actual);
    writeln!(
        out,
        "# cluster {} ({}), {} app(s) with route53",
        owner.cluster_id,
        owner.public_hostname,
        desired.len()
    )?;
    write!(out, "{p}")?;
    if !apply_it || p.is_empty() {
        return Ok(true);
    }
    let done = apply(&clients.route53, &caller, &p).await;
    writeln!(out, "Applied {} change(s).", done.applied.len())?;
    for f in &done.failed {
        writeln!(out, "FAILED {}: {}", f.step, f.error)?;
    }
    for (app, id) in &done.check_ids {
        writeln!(out, "health check {}/{}: {id}", app.namespace, app.name)?;
    }
    Ok(done.is_complete())
}
