//! `failover-agent preflight`: from the workstation, do what Route 53's checkers
//! will do for each app's health check, and name each mistake before Route 53
//! quietly counts it as healthy (or as down).
//!
//! Three steps, each in its own file:
//! - [`targets`]: which checks, computed exactly as the agent will create them;
//! - [`probe`]: the I/O, as a checker does it (IPv4 addresses, 4 s to connect,
//!   2 s to the status line, the first 5,120 bytes, certificates not validated);
//! - [`judge`]: pure, unit-tested: is that the agent's answer, and if not, which
//!   mistake (a closed port, a redirect, another backend, an unknown app, a
//!   search string that never matches)?
//!
//! It prints one line per app × address, then a summary; [`main`] returns true
//! when every check would measure the agent.

pub mod judge;
pub mod probe;
pub mod targets;

pub use judge::{judge, NoAnswer, Verdict};

use crate::cli::PreflightArgs;
use crate::publish::route53::objects::CheckConfig;
use futures_util::{stream, StreamExt};
use probe::Prober;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;

/// Checks in flight at once (a cluster may have hundreds of apps × 3 zones).
const PARALLEL: usize = 32;

/// Why preflight could not run at all. A check that would fail is not an error:
/// it is a `FAIL` line, and [`main`] returns false.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::spec::Error),
    #[error("preflight: {0}")]
    Usage(String),
    /// Reading the `AppHealth` objects failed (its source chain says why).
    #[error("cannot list the AppHealth objects of the current kube context")]
    Kube(#[from] kube::Error),
    #[error("cannot set up the TLS client")]
    Tls(#[from] rustls::Error),
    #[error("cannot write the report")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// True for bad flags or configuration (exit 64).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Config(_) | Error::Usage(_))
    }

    /// A fixed label for this kind of error, for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Usage(_) => "usage",
            Error::Kube(_) => "kube",
            Error::Tls(_) => "tls",
            Error::Io(_) => "io",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One line of the report.
struct Row {
    ok: bool,
    app: String,
    /// `ip:port`, or what stands in for it (the hostname that does not resolve).
    at: String,
    detail: String,
}

/// Runs the checks `args` name, writing the report to `out`. Returns true when
/// every app × address would give Route 53 the agent's own answer.
#[tracing::instrument(skip_all)]
pub async fn main(args: &PreflightArgs, out: &mut impl Write) -> Result<bool> {
    let targets = targets::load(args).await?;
    crate::tls::install_crypto_provider();
    let prober = Prober::new()?;
    writeln!(out, "# preflight: {}, checked as Route 53 will", targets.source)?;
    for (app, check) in &targets.checks {
        writeln!(out, "# {app}: {check}")?;
    }
    // Each hostname is resolved once; every app × IPv4 address is one check.
    let mut addresses: BTreeMap<&str, Result<Vec<Ipv4Addr>, String>> = BTreeMap::new();
    for (_, check) in &targets.checks {
        if !addresses.contains_key(check.fqdn.as_str()) {
            addresses.insert(&check.fqdn, probe::resolve(&check.fqdn).await);
        }
    }
    let mut jobs = Vec::new();
    for (app, check) in &targets.checks {
        match addresses.get(check.fqdn.as_str()) {
            Some(Ok(ips)) => jobs.extend(ips.iter().map(|ip| (app, check, Ok(*ip)))),
            Some(Err(why)) => jobs.push((app, check, Err(why.clone()))),
            None => {}
        }
    }
    let mut rows: Vec<Row> = stream::iter(jobs)
        .map(|(app, check, ip)| check_one(&prober, app, check, ip))
        .buffered(PARALLEL)
        .collect()
        .await;
    rows.extend(targets.invalid.into_iter().map(|(app, why)| Row {
        ok: false,
        app,
        at: "-".into(),
        detail: why,
    }));
    report(&rows, out)?;
    Ok(rows.iter().all(|r| r.ok))
}

/// One app × address: ask it as a checker would, and judge the answer.
async fn check_one(prober: &Prober, app: &str, check: &CheckConfig, ip: Result<Ipv4Addr, String>) -> Row {
    let (at, verdict) = match ip {
        Err(why) => (check.fqdn.clone(), Verdict::Unresolved { why }),
        Ok(ip) => {
            let verdict = match prober.fetch(ip, check).await {
                Ok(a) => judge(app, check, a.status, a.location.as_deref(), &a.body),
                Err(e) => Verdict::Unreachable(e),
            };
            (format!("{ip}:{}", check.port), verdict)
        }
    };
    let detail = verdict.explain(app, check);
    let (ok, app) = (verdict.is_ok(), app.to_owned());
    Row { ok, app, at, detail }
}

/// Writes the rows in aligned columns, then the summary line.
fn report(rows: &[Row], out: &mut impl Write) -> Result<()> {
    let app_w = rows.iter().map(|r| r.app.len()).max().unwrap_or(0);
    let at_w = rows.iter().map(|r| r.at.len()).max().unwrap_or(0);
    for r in rows {
        let tag = if r.ok { "ok" } else { "FAIL" };
        writeln!(out, "{tag:<4}  {:<app_w$}  {:<at_w$}  {}", r.app, r.at, r.detail)?;
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    let verdict = match (rows.len(), failed) {
        (0, _) => "nothing to check",
        (_, 0) => "Route 53 will see each app's own verdict",
        _ => "fix each FAIL line before Route 53 checks it",
    };
    writeln!(
        out,
        "Preflight: {} ok, {failed} failed: {verdict}.",
        rows.len() - failed
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
