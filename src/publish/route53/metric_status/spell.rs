//! How long a check has been unhealthy, from the history of Route 53's
//! `HealthCheckStatus` metric (for `route53 answer`).

use super::{query, PER_CALL};
use crate::aws::{Api, CallError, Caller};
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::MetricDataQuery;
use aws_sdk_cloudwatch::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

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
