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
use std::time::{Duration, SystemTime};
use tracing::instrument;

mod round;
mod spell;
pub use round::{monthly_cost_usd, watch};
pub use spell::{spell, unhealthy_for, Spell, SPELL_LOOK_BACK};

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

#[cfg(test)]
mod tests;
