//! The leader's continuous read of every record set's checks, and what it costs.

use super::{read, PER_CALL};
use crate::aws::Caller;
use aws_sdk_cloudwatch::Client;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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
