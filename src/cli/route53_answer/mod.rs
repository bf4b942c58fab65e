//! `failover-agent route53 answer NAME`: what Route 53 answers for one record name
//! right now, and why, from any machine with read-only credentials.
//!
//! It finds NAME's hosted zone, reads every A record at NAME (the routed ones form
//! the record set), reads each distinct health check's status as Route 53 judges it
//! (`GetHealthCheckStatus`: healthy when more than 18% of its checkers succeed) and
//! computes the answer with [`crate::publish::route53::answer`].
//!
//! Guarantees: it calls only `ListHostedZonesByName` (without `--zone-id`),
//! `GetHostedZone` (with it), `ListResourceRecordSets` and `GetHealthCheckStatus`;
//! it never writes. Exit codes: 0 with an answer; 1 when NAME has no routed records,
//! no hosted zone holds it, or AWS fails; 64 for bad usage (a malformed NAME, an
//! unknown `--zone-id`, or NAME in more than one zone of the same name).

mod show;
mod zone;

pub use show::{Output, Report, Row};
pub use zone::Zone;

use crate::aws::{self, Api, Budget, CallError, Caller};
use crate::publish::route53::answer::{answer, Health};
use crate::publish::route53::metric_status;
use crate::publish::route53::records_named;
use crate::publish::route53::sets::RecordSet;
use crate::publish::route53::status::judge;
use crate::spec::route53::fqdn;
use crate::telemetry::Metrics;
use aws_sdk_route53::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// `route53 answer` flags.
#[derive(Debug, clap::Args)]
pub struct AnswerArgs {
    /// The record name, e.g. app1.example.com.
    pub name: String,
    /// The hosted zone that holds NAME. Default: the zone whose name is the longest
    /// suffix of NAME (needed when a public and a private zone both have that name).
    #[arg(long, value_name = "ID")]
    pub zone_id: Option<String>,
    /// `text`: a summary line and one row per record; `json`: the same as one object.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// Why `route53 answer` gave no answer; [`Error::is_usage`] ones exit 64.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("route53 answer: {0}")]
    Usage(String),
    /// Nothing to answer: no zone holds NAME, or NAME has no routed records there.
    #[error("route53 answer: {0}")]
    NotFound(String),
    #[error(transparent)]
    Aws(#[from] CallError),
    #[error("cannot write the answer: {0}")]
    Io(#[from] std::io::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot encode the answer as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// True for bad flags or arguments (exit 64).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Usage(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One health check as Route 53 judges it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckView {
    /// Healthy (more than 18% of checkers succeed); `None` before any checker
    /// reported, or when the check does not exist.
    pub healthy: Option<bool>,
    /// Checkers whose latest report is a success, of those that reported.
    pub checkers_ok: u32,
    pub checkers: u32,
    /// The record names a check that Route 53 does not have (`NoSuchHealthCheck`).
    pub missing: bool,
}

/// Runs the command for `args`, writing to `out`, with the agent's default AWS
/// budget (reading three checks' status takes about 4 s at 0.5 call/s).
pub async fn run(args: &AnswerArgs, out: &mut impl Write) -> Result<bool> {
    let name = parse_name(&args.name)?;
    let clients = aws::load("us-east-1").await;
    let caller = Caller::new(Budget::default(), Metrics::new("us-east-1")?.aws);
    let mut report = read(&clients.route53, &caller, &name, args.zone_id.as_deref()).await?;
    let bad = report.unhealthy_checks();
    if !bad.is_empty() {
        // How long: from Route 53's CloudWatch metric, if this caller may read it.
        match metric_status::unhealthy_for(&clients.cloudwatch, &caller, &bad).await {
            Ok(spells) => report = report.with_spells(&spells, std::time::SystemTime::now()),
            Err(e) => tracing::info!(error = %e, "how long the checks have been unhealthy is not shown"),
        }
    }
    report.write(args.output, out)?;
    Ok(true)
}

/// Reads Route 53 and computes what it answers for `name` (any case, with or without
/// the trailing dot), in `zone_id` or in the zone found for it. Only reads.
pub async fn read(r53: &Client, caller: &Caller, name: &str, zone_id: Option<&str>) -> Result<Report> {
    let name = parse_name(name)?;
    let zone = zone::find(r53, caller, &name, zone_id).await?;
    let records = records_named(r53, caller, &zone.id, &name).await?;
    let set = RecordSet::of(&zone.id, &name, &records);
    if set.members.is_empty() {
        let plain = records.len();
        let why = if plain > 0 {
            format!(" ({plain} simple A record(s): Route 53 always answers them)")
        } else {
            String::new()
        };
        return Err(Error::NotFound(format!(
            "{} has no routed A records in zone {} ({}){why}",
            name.trim_end_matches('.'),
            zone.id,
            zone.name
        )));
    }
    let ids: BTreeSet<&str> = set.check_ids().collect();
    let mut views = BTreeMap::new();
    for id in ids {
        views.insert(id.to_owned(), check_view(r53, caller, id).await?);
    }
    let status: BTreeMap<String, Option<bool>> = views.iter().map(|(id, v)| (id.clone(), v.healthy)).collect();
    let records = set.with_health(&status);
    let Some(answer) = answer(&records) else {
        return Err(Error::NotFound(format!(
            "{}: its records mix routing policies, which Route 53 does not answer by one rule",
            name.trim_end_matches('.')
        )));
    };
    Ok(Report::new(zone, &set, &records, &views, answer))
}

/// Reads one check's status with `GetHealthCheckStatus`. A check that Route 53
/// does not have is `missing` (its status unknown), not an error.
async fn check_view(r53: &Client, caller: &Caller, id: &str) -> Result<CheckView> {
    let got = caller
        .call(Api::GetHealthCheckStatus, || {
            r53.get_health_check_status().health_check_id(id).send()
        })
        .await;
    let out = match got {
        Ok(out) => out,
        Err(e) if e.is("NoSuchHealthCheck") => {
            return Ok(CheckView {
                healthy: None,
                checkers_ok: 0,
                checkers: 0,
                missing: true,
            })
        }
        Err(e) => return Err(e.into()),
    };
    let reports: Vec<&str> = out
        .health_check_observations()
        .iter()
        .filter_map(|o| o.status_report().and_then(|s| s.status()))
        .collect();
    Ok(CheckView {
        healthy: judge(reports.iter().copied()),
        checkers_ok: reports.iter().filter(|r| r.starts_with("Success")).count() as u32,
        checkers: reports.len() as u32,
        missing: false,
    })
}

/// NAME as Route 53 spells it (`app1.example.com.`), or a usage error naming it.
fn parse_name(name: &str) -> Result<String> {
    let n = fqdn(name);
    let bare = n.trim_end_matches('.');
    let ok = !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(n)
    } else {
        Err(Error::Usage(format!(
            "NAME {name:?} is not a DNS name; give the record's name, e.g. app1.example.com"
        )))
    }
}

/// How a record's health reads in the output.
fn health_word(h: Health) -> &'static str {
    match h {
        Health::NoCheck => "no check",
        Health::Healthy => "healthy",
        Health::Unhealthy => "unhealthy",
        Health::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_bad_ones_are_usage_errors() {
        assert_eq!(parse_name("App1.Example.com").unwrap(), "app1.example.com.");
        assert_eq!(parse_name("app1.example.com.").unwrap(), "app1.example.com.");
        for bad in ["", ".", "a..b", "a b.com", "*.example.com"] {
            let e = parse_name(bad).unwrap_err();
            assert!(e.is_usage() && e.to_string().contains("NAME"), "{bad}: {e}");
        }
    }
}
