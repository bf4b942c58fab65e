//! The ALB's view of each app: `DescribeTargetHealth` per target group, polled by
//! one agent per cluster (the leader; a static agent is a leader of one), paced by
//! the shared ELBv2 bucket.
//!
//! An AWS outage or throttling never flips a verdict: a target group whose read
//! fails keeps its last counts and is marked stale until a read succeeds. Counts
//! are also stale when they are old: when the group's last successful read is more
//! than [`max_age`] ago (3 read intervals), whatever the reason (reads stuck behind
//! a slow or throttled API, or a queue of groups longer than the interval allows).
//!
//! **The read interval with many groups.** Groups are read one after another from
//! one queue, paced by the ELBv2 budget (`elbv2CallsPerSecond`), so a group is read
//! every `targetHealthIntervalSeconds` only while `groups / rate` is shorter: with
//! 500 groups at 2.5 calls/s a round takes 200 s, and that is each group's effective
//! read interval. Age is measured against that effective interval.

use crate::aws::Api;
use crate::aws::CallError;
use crate::aws::Caller;
use crate::model::TargetCounts;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use aws_sdk_elasticloadbalancingv2::Client;
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

/// One target group's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupHealth {
    pub healthy: u32,
    /// Every target that is not draining.
    pub total: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    last: Option<GroupHealth>,
    /// The last read failed.
    failed: bool,
    /// When the last successful read ended.
    read_at: Option<Instant>,
    /// The last successful read is older than the store's maximum age.
    aged: bool,
}

impl Entry {
    fn stale(&self) -> bool {
        self.failed || self.aged
    }
}

/// The last read of every polled target group.
#[derive(Debug, Default)]
pub struct TargetStore {
    groups: Mutex<HashMap<String, Entry>>,
    /// Counts older than this are stale; `None` (never set) means no limit.
    max_age: Mutex<Option<Duration>>,
}

/// How old a group's counts may be before they are stale: 3 read intervals, where
/// the interval is `every` or, with more groups than the budget reads in that time,
/// one round of the queue (`groups / rate`, with `rate` in calls per second).
pub fn max_age(every: Duration, groups: usize, rate: f64) -> Duration {
    let round = if rate > 0.0 && rate.is_finite() {
        Duration::try_from_secs_f64(groups as f64 / rate).unwrap_or(Duration::MAX)
    } else {
        Duration::MAX
    };
    every.max(round).saturating_mul(3)
}

impl TargetStore {
    /// Records a read of `arn`, ended now. Returns true if what apps see changed.
    pub fn update(&self, arn: &str, read: Result<GroupHealth, &CallError>) -> bool {
        let mut g = self.groups.lock();
        let e = g.entry(arn.to_owned()).or_default();
        let before = *e;
        match read {
            Ok(h) => {
                e.last = Some(h);
                e.failed = false;
                e.read_at = Some(Instant::now());
                e.aged = false;
            }
            Err(_) => e.failed = true,
        }
        before.last != e.last || before.stale() != e.stale()
    }

    /// Sets how old counts may be (see [`max_age`]).
    pub fn set_max_age(&self, age: Duration) {
        *self.max_age.lock() = Some(age);
    }

    /// Marks counts older than the maximum age at `now` as stale. Returns true if
    /// what apps see changed.
    pub fn expire(&self, now: Instant) -> bool {
        let Some(max) = *self.max_age.lock() else { return false };
        let mut changed = false;
        for e in self.groups.lock().values_mut() {
            let aged = e.read_at.is_some_and(|t| now.saturating_duration_since(t) > max);
            if aged != e.aged {
                let before = e.stale();
                e.aged = aged;
                changed |= before != e.stale();
            }
        }
        changed
    }

    /// The ALB view of an app with target groups `arns`: counts summed over the
    /// groups read at least once; stale if any group's last read failed, is older
    /// than the maximum age, or was never made. `None` until some group has been read.
    pub fn view(&self, arns: &[String]) -> Option<TargetCounts> {
        let g = self.groups.lock();
        let mut out = TargetCounts::default();
        let mut any = false;
        for arn in arns {
            match g.get(arn) {
                Some(e @ Entry { last: Some(h), .. }) => {
                    any = true;
                    out.healthy += h.healthy;
                    out.total += h.total;
                    out.stale |= e.stale();
                }
                _ => out.stale = true,
            }
        }
        any.then_some(out)
    }

    /// True if any group's data is stale.
    pub fn any_stale(&self) -> bool {
        self.groups.lock().values().any(Entry::stale)
    }

    /// Forgets groups no longer polled.
    pub fn retain(&self, arns: &BTreeSet<String>) {
        self.groups.lock().retain(|k, _| arns.contains(k));
    }
}

/// Reads one target group.
#[instrument(skip(elb, caller))]
pub async fn describe(elb: &Client, caller: &Caller, arn: &str) -> Result<GroupHealth, CallError> {
    let out = caller
        .call(Api::DescribeTargetHealth, || {
            elb.describe_target_health().target_group_arn(arn).send()
        })
        .await?;
    let mut h = GroupHealth::default();
    for d in out.target_health_descriptions() {
        match d.target_health().and_then(|t| t.state()) {
            Some(TargetHealthStateEnum::Draining) => {}
            Some(TargetHealthStateEnum::Healthy) => {
                h.healthy += 1;
                h.total += 1;
            }
            _ => h.total += 1,
        }
    }
    Ok(h)
}

/// How often [`poll`] looks for counts that have grown too old, even while a read
/// is stuck.
pub const AGE_CHECK: Duration = Duration::from_secs(1);

/// Polls every group in `arns` once per `every` (or as fast as the bucket allows,
/// if slower), updating `store` and calling `on_change` when an app's view may
/// have changed. Counts older than [`max_age`] (for `every`, the number of groups
/// and `rate`, the ELBv2 calls per second) are marked stale, checked every
/// [`AGE_CHECK`]. Stops at `shutdown`.
#[allow(clippy::too_many_arguments)]
pub async fn poll(
    elb: Client,
    caller: Arc<Caller>,
    arns: watch::Receiver<BTreeSet<String>>,
    every: Duration,
    rate: f64,
    store: Arc<TargetStore>,
    on_change: impl Fn(),
    shutdown: CancellationToken,
) {
    let read = move |arn: String| {
        let (elb, caller) = (elb.clone(), caller.clone());
        async move { describe(&elb, &caller, &arn).await }
    };
    poll_with(read, arns, (every, rate), store, on_change, shutdown).await
}

/// [`poll`] with `read` reading one group (tests pass a fake one).
pub async fn poll_with<R, F>(
    read: R,
    mut arns: watch::Receiver<BTreeSet<String>>,
    (every, rate): (Duration, f64),
    store: Arc<TargetStore>,
    on_change: impl Fn(),
    shutdown: CancellationToken,
) where
    R: Fn(String) -> F,
    F: std::future::Future<Output = Result<GroupHealth, CallError>>,
{
    let mut ages = tokio::time::interval(AGE_CHECK);
    ages.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let expire = || {
        if store.expire(Instant::now()) {
            if store.any_stale() {
                tracing::warn!(
                    "target health not read successfully for 3 read intervals; keeping the last counts, marked stale"
                );
            }
            on_change();
        }
    };
    loop {
        let round = Instant::now();
        let set = arns.borrow_and_update().clone();
        store.retain(&set);
        store.set_max_age(max_age(every, set.len(), rate));
        for arn in &set {
            let one = read(arn.clone());
            tokio::pin!(one);
            let result = loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = &mut one => break r,
                    _ = ages.tick() => expire(),
                }
            };
            if let Err(e) = &result {
                tracing::warn!(target_group = %arn, error = %e, "target health unavailable; keeping the last counts, marked stale");
            }
            if store.update(arn, result.as_ref().map(|h| *h)) {
                on_change();
            }
        }
        let next = tokio::time::sleep_until(round + every);
        tokio::pin!(next);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = &mut next => break,
                r = arns.changed() => if r.is_err() { return } else { break },
                _ = ages.tick() => expire(),
            }
        }
    }
}

#[cfg(test)]
#[path = "targets_tests.rs"]
mod tests;
