//! Route 53's view of any check, the agent's or anyone's, from the metric Route 53
//! publishes for every check: `AWS/Route53 HealthCheckStatus` in us-east-1, 1 while
//! more than 18% of its checkers find the endpoint healthy, else 0, once a minute.
//!
//! One `GetMetricData` call reads up to [`PER_CALL`] checks, so every Region's view
//! of 200 apps × 3 Regions (600 checks) costs 2 calls a round. The per-check
//! `GetHealthCheckStatus` (about 1 call/s for the whole account) would need 10
//! minutes for the same round. README (Where is each app served) has the figures.

use crate::aws::{Api, CallError, Caller};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use aws_sdk_cloudwatch::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

/// Queries per `GetMetricData` call: CloudWatch's limit.
pub const PER_CALL: usize = 500;
/// The metric's period: Route 53 publishes one value a minute.
const PERIOD: i32 = 60;
/// How far back a read looks for the latest value. A check with no value in this
/// window (new, or deleted) is unknown.
const LOOK_BACK: Duration = Duration::from_secs(5 * 60);

/// Reads the status of every check in `ids`: `Some(true)` healthy, `Some(false)`
/// unhealthy, `None` no value in the last 5 minutes. One call per [`PER_CALL`]
/// checks (more only if CloudWatch pages its answer).
#[instrument(skip_all, fields(checks = ids.len()))]
pub async fn read(
    cw: &Client,
    caller: &Caller,
    ids: &BTreeSet<String>,
) -> Result<BTreeMap<String, Option<bool>>, CallError> {
    let mut out: BTreeMap<String, Option<bool>> = ids.iter().map(|id| (id.clone(), None)).collect();
    let ids: Vec<&String> = ids.iter().collect();
    let end = SystemTime::now();
    let start = end - LOOK_BACK;
    for chunk in ids.chunks(PER_CALL) {
        let queries: Vec<MetricDataQuery> = chunk.iter().enumerate().map(|(i, id)| query(i, id)).collect();
        let mut token: Option<String> = None;
        loop {
            let page = caller
                .call(Api::GetMetricData, || {
                    cw.get_metric_data()
                        .set_metric_data_queries(Some(queries.clone()))
                        .start_time(DateTime::from(start))
                        .end_time(DateTime::from(end))
                        .scan_by(ScanBy::TimestampDescending)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            for r in page.metric_data_results() {
                let Some(i) = r
                    .id()
                    .and_then(|q| q.strip_prefix('q'))
                    .and_then(|n| n.parse::<usize>().ok())
                else {
                    continue;
                };
                let (Some(id), Some(v)) = (chunk.get(i), latest(r.timestamps(), r.values())) else {
                    continue;
                };
                // A later page has older values: the first one seen is the latest.
                out.entry((*id).clone()).or_insert(None).get_or_insert(v >= 1.0);
            }
            match page.next_token() {
                Some(t) if !t.is_empty() && token.as_deref() != Some(t) => token = Some(t.to_owned()),
                _ => break,
            }
        }
    }
    Ok(out)
}

/// How far back [`unhealthy_for`] looks: the metric's values of the last 3 hours.
pub const SPELL_LOOK_BACK: Duration = Duration::from_secs(3 * 3600);

/// How long a check has been unhealthy without a break, from the metric's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spell {
    /// The start of its first unhealthy minute in a row.
    pub since: SystemTime,
    /// True when no healthy value precedes it in the history read: the spell began
    /// at `since` or earlier.
    pub at_least: bool,
}

/// For every check of `ids` whose latest value is unhealthy, how long it has been
/// (one `GetMetricData` call per [`PER_CALL`] checks, over [`SPELL_LOOK_BACK`]).
pub async fn unhealthy_for(
    cw: &Client,
    caller: &Caller,
    ids: &BTreeSet<String>,
) -> Result<BTreeMap<String, Spell>, CallError> {
    let ids: Vec<&String> = ids.iter().collect();
    let end = SystemTime::now();
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(PER_CALL) {
        let queries: Vec<MetricDataQuery> = chunk.iter().enumerate().map(|(i, id)| query(i, id)).collect();
        let page = caller
            .call(Api::GetMetricData, || {
                cw.get_metric_data()
                    .set_metric_data_queries(Some(queries.clone()))
                    .start_time(DateTime::from(end - SPELL_LOOK_BACK))
                    .end_time(DateTime::from(end))
                    .send()
            })
            .await?;
        for r in page.metric_data_results() {
            let i = r
                .id()
                .and_then(|q| q.strip_prefix('q'))
                .and_then(|n| n.parse::<usize>().ok());
            if let (Some(id), Some(s)) = (i.and_then(|i| chunk.get(i)), spell(r.timestamps(), r.values())) {
                out.insert((*id).clone(), s);
            }
        }
    }
    Ok(out)
}

/// The unhealthy spell at the end of a check's history, if its latest value is 0.
pub fn spell(times: &[DateTime], values: &[f64]) -> Option<Spell> {
    let mut points: Vec<(i64, f64)> = times.iter().map(|t| t.secs()).zip(values.iter().copied()).collect();
    points.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    let mut since = None;
    for (t, v) in &points {
        if *v >= 1.0 {
            break;
        }
        since = Some(*t);
    }
    let since = since?;
    let at_least = points.iter().all(|(_, v)| *v < 1.0);
    Some(Spell {
        since: SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(since).ok()?),
        at_least,
    })
}

/// The query for check `id`, numbered `i` (query IDs must start with a letter).
fn query(i: usize, id: &str) -> MetricDataQuery {
    let metric = Metric::builder()
        .namespace("AWS/Route53")
        .metric_name("HealthCheckStatus")
        .dimensions(Dimension::builder().name("HealthCheckId").value(id).build())
        .build();
    MetricDataQuery::builder()
        .id(format!("q{i}"))
        .metric_stat(
            MetricStat::builder()
                .metric(metric)
                .period(PERIOD)
                .stat("Minimum")
                .build(),
        )
        .return_data(true)
        .build()
}

/// The value at the latest timestamp (CloudWatch orders them as asked, but this
/// does not rely on it).
fn latest(times: &[DateTime], values: &[f64]) -> Option<f64> {
    times
        .iter()
        .zip(values)
        .max_by_key(|(t, _)| (t.secs(), t.subsec_nanos()))
        .map(|(_, v)| *v)
}

/// Reads the status of every check `ids` holds every `every`, and at once when the
/// set changes; calls `on_read` with each round's statuses. A failed round is
/// logged and retried at the next; the last statuses stand meanwhile.
pub async fn watch(
    cw: Client,
    caller: Arc<Caller>,
    mut ids: watch::Receiver<BTreeSet<String>>,
    every: Duration,
    on_read: impl Fn(BTreeMap<String, Option<bool>>),
    shutdown: CancellationToken,
) {
    let mut told = usize::MAX;
    loop {
        let set = ids.borrow_and_update().clone();
        if set.len() != told {
            told = set.len();
            tracing::info!(
                checks = told,
                every_s = every.as_secs_f64(),
                calls_per_round = told.div_ceil(PER_CALL),
                usd_per_month = format!("{:.2}", monthly_cost_usd(told, every)),
                "reading every Region's check statuses from CloudWatch (aws.dnsViewIntervalSeconds)"
            );
        }
        let round = tokio::time::Instant::now();
        if !set.is_empty() {
            let r = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = read(&cw, &caller, &set) => r,
            };
            match r {
                Ok(statuses) => on_read(statuses),
                Err(e) => {
                    tracing::warn!(error = %e, checks = set.len(), "cannot read Route 53's check statuses from CloudWatch; will retry")
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(round + every) => {}
            r = ids.changed() => if r.is_err() { return },
        }
    }
}

/// What reading `checks` statuses every `every` costs a month at CloudWatch's list
/// price for `GetMetricData` (USD 0.01 per 1,000 metrics requested, us-east-1,
/// read from aws.amazon.com/cloudwatch/pricing on 2026-12-03).
pub fn monthly_cost_usd(checks: usize, every: Duration) -> f64 {
    let reads_a_month = 30.0 * 86_400.0 / every.as_secs_f64().max(1.0);
    checks as f64 * reads_a_month * 0.01 / 1_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_value_wins_whatever_the_order() {
        let t = |s| DateTime::from_secs(s);
        assert_eq!(latest(&[t(60), t(180), t(120)], &[1.0, 0.0, 1.0]), Some(0.0));
        assert_eq!(latest(&[], &[]), None);
    }

    #[test]
    fn a_spell_runs_back_to_the_last_healthy_minute() {
        let t = |s| DateTime::from_secs(s);
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        // Healthy until 120, unhealthy from 180 on (values in any order).
        let s = spell(&[t(240), t(60), t(180), t(120)], &[0.0, 1.0, 0.0, 1.0]).unwrap();
        assert_eq!((s.since, s.at_least), (at(180), false));
        // Unhealthy over the whole history: at least since its start.
        let s = spell(&[t(60), t(120)], &[0.0, 0.0]).unwrap();
        assert_eq!((s.since, s.at_least), (at(60), true));
        // Healthy now: no spell.
        assert_eq!(spell(&[t(60), t(120)], &[0.0, 1.0]), None);
        assert_eq!(spell(&[], &[]), None);
    }

    #[test]
    fn query_ids_start_with_a_letter_and_name_the_check() {
        let q = query(7, "abc-123");
        assert_eq!(q.id(), Some("q7"));
        let dims = q
            .metric_stat()
            .and_then(|s| s.metric())
            .map(|m| m.dimensions().to_vec());
        assert_eq!(dims.unwrap()[0].value(), Some("abc-123"));
    }

    #[test]
    fn the_cost_grows_with_checks_and_shrinks_with_the_interval() {
        // 600 checks every minute: 25.9 M metrics a month, USD 259.
        let c = monthly_cost_usd(600, Duration::from_secs(60));
        assert!((c - 259.2).abs() < 0.1, "{c}");
        assert!((monthly_cost_usd(600, Duration::from_secs(300)) - c / 5.0).abs() < 0.01);
    }
}
