//! Publishes the verdict of every app with a `CLOUDWATCH_METRIC` check to
//! CloudWatch, in the agent's Region: namespace `FailoverAgent`, metric
//! `AppHealthy` (1 healthy, 0 not), dimensions `Cluster` and `App`
//! (`namespace/app`). Its alarm ([`crate::publish::route53::alarms`]) and the
//! Route 53 check on it follow.
//!
//! Guarantees:
//! - every such app with a verdict is published at least every [`EVERY`] (one
//!   standard-resolution datapoint per alarm period), and at once (within
//!   [`LOOK`]) when a verdict changes;
//! - `PutMetricData` carries up to [`PER_CALL`] apps, through the caller's own
//!   `PutMetricData` budget, so 1,000 apps cost one call a minute;
//! - a failed put is logged, counted (`failover_agent_aws_errors_total{api="PutMetricData"}`)
//!   and retried after [`RETRY`], with the verdicts of then: never silently dropped;
//! - an app with no verdict yet is not published: missing data leaves the check to
//!   its `InsufficientDataHealthStatus` (by default its last known status).

use crate::aws::{Api, CallError, Caller};
use crate::model::AppKey;
use crate::publish::route53::alarms::{DIM_APP, DIM_CLUSTER, METRIC, NAMESPACE};
use crate::publish::route53::objects::app_tag;
use crate::publish::route53::Desired;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_cloudwatch::Client;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The longest time between two puts of an app's verdict: one alarm period.
pub const EVERY: Duration = Duration::from_secs(60);
/// How often the verdicts are looked at for a change (in memory, no AWS call).
pub const LOOK: Duration = Duration::from_secs(1);
/// The wait before a failed put is tried again.
pub const RETRY: Duration = Duration::from_secs(5);
/// `PutMetricData`'s limit on metrics per call.
pub const PER_CALL: usize = 1000;

/// Each app's verdict as the agent serves it (`None`: none yet).
pub type Verdicts = Arc<dyn Fn(&AppKey) -> Option<bool> + Send + Sync>;

/// The verdicts to publish now: every desired app with a metric check that has one.
pub fn wanted(desired: &Desired, verdicts: &Verdicts) -> BTreeMap<AppKey, bool> {
    desired
        .apps
        .iter()
        .filter(|d| d.settings.metric.is_some())
        .filter_map(|d| Some((d.key.clone(), verdicts(&d.key)?)))
        .collect()
}

/// The `PutMetricData` bodies of `now`: at most [`PER_CALL`] data each.
pub fn batches(cluster: &str, now: &BTreeMap<AppKey, bool>) -> Vec<Vec<MetricDatum>> {
    let data: Vec<MetricDatum> = now
        .iter()
        .map(|(key, healthy)| {
            MetricDatum::builder()
                .metric_name(METRIC)
                .dimensions(Dimension::builder().name(DIM_CLUSTER).value(cluster).build())
                .dimensions(Dimension::builder().name(DIM_APP).value(app_tag(key)).build())
                .value(if *healthy { 1.0 } else { 0.0 })
                .unit(StandardUnit::None)
                .build()
        })
        .collect();
    data.chunks(PER_CALL).map(<[MetricDatum]>::to_vec).collect()
}

/// Puts every batch; the first failure ends the round.
async fn put(cw: &Client, caller: &Caller, cluster: &str, now: &BTreeMap<AppKey, bool>) -> Result<(), CallError> {
    for batch in batches(cluster, now) {
        caller
            .call(Api::PutMetricData, || {
                cw.put_metric_data()
                    .namespace(NAMESPACE)
                    .set_metric_data(Some(batch.clone()))
                    .send()
            })
            .await?;
    }
    Ok(())
}

/// Publishes, as cluster `cluster`, the verdicts of the apps `desired` holds with a
/// metric check, until `stop`.
pub async fn run(
    cw: Client,
    caller: Arc<Caller>,
    cluster: String,
    desired: watch::Receiver<Desired>,
    verdicts: Verdicts,
    stop: CancellationToken,
) {
    let mut sent: BTreeMap<AppKey, bool> = BTreeMap::new();
    let mut due = Instant::now();
    loop {
        let now = wanted(&desired.borrow(), &verdicts);
        if !now.is_empty() && (now != sent || Instant::now() >= due) {
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                r = put(&cw, &caller, &cluster, &now) => r,
            };
            match result {
                Ok(()) => {
                    tracing::debug!(apps = now.len(), "verdicts published to CloudWatch");
                    sent = now;
                    due = Instant::now() + EVERY;
                }
                Err(e) => {
                    tracing::error!(error = %e, apps = now.len(), "cannot publish the verdicts to CloudWatch; will retry");
                    due = Instant::now() + RETRY;
                    // Retried at `due` whatever changes meanwhile.
                    sent.clear();
                    sleep_until(due, &stop).await;
                    if stop.is_cancelled() {
                        return;
                    }
                    continue;
                }
            }
        }
        if !sleep_until(Instant::now() + LOOK, &stop).await {
            return;
        }
    }
}

/// Sleeps until `at`; false if `stop` came first.
async fn sleep_until(at: Instant, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep_until(at) => true,
    }
}

#[cfg(test)]
mod tests;
