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

use super::call::{Api, CallError, Caller};
use crate::policy::TargetCounts;
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
mod tests {
    use super::*;
    use crate::aws::{Api, Kind};

    #[test]
    fn a_failed_read_keeps_the_last_counts_and_marks_them_stale() {
        let s = TargetStore::default();
        let (a, b) = ("tg-a".to_string(), "tg-b".to_string());
        assert_eq!(s.view(std::slice::from_ref(&a)), None, "never read: no ALB signal");
        assert!(s.update(&a, Ok(GroupHealth { healthy: 2, total: 3 })));
        assert_eq!(
            s.view(std::slice::from_ref(&a)),
            Some(TargetCounts {
                healthy: 2,
                total: 3,
                stale: false
            })
        );
        let err = CallError {
            api: Api::DescribeTargetHealth,
            kind: Kind::Throttled,
            code: Some("Throttling".into()),
            message: String::new(),
            attempts: 5,
        };
        assert!(s.update(&a, Err(&err)));
        assert_eq!(
            s.view(std::slice::from_ref(&a)),
            Some(TargetCounts {
                healthy: 2,
                total: 3,
                stale: true
            })
        );
        assert!(!s.update(&a, Err(&err)), "nothing new to report");
        assert!(s.update(&a, Ok(GroupHealth { healthy: 3, total: 3 })));
        assert!(!s.any_stale());
        // Summed over groups; a group not read yet makes the sum stale.
        assert_eq!(
            s.view(&[a.clone(), b.clone()]),
            Some(TargetCounts {
                healthy: 3,
                total: 3,
                stale: true
            })
        );
        s.update(&b, Ok(GroupHealth { healthy: 0, total: 2 }));
        assert_eq!(
            s.view(&[a, b]),
            Some(TargetCounts {
                healthy: 3,
                total: 5,
                stale: false
            })
        );
    }

    #[test]
    fn the_maximum_age_is_three_effective_read_intervals() {
        let s = Duration::from_secs;
        assert_eq!(max_age(s(10), 10, 2.5), s(30), "10 groups: the interval");
        assert_eq!(max_age(s(10), 0, 2.5), s(30));
        assert_eq!(
            max_age(s(10), 500, 2.5),
            s(600),
            "500 groups at 2.5/s: a round is 200 s"
        );
        assert_eq!(max_age(s(10), 5, 0.0), Duration::MAX, "no rate: no limit");
    }

    #[tokio::test(start_paused = true)]
    async fn counts_older_than_three_read_intervals_are_stale_until_read_again() {
        let s = TargetStore::default();
        let a = "tg-a".to_string();
        assert!(s.update(&a, Ok(GroupHealth { healthy: 1, total: 1 })));
        assert!(!s.expire(Instant::now()), "no maximum age yet");
        s.set_max_age(Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(!s.expire(Instant::now()), "30 s is not older than 30 s");
        assert!(!s.view(std::slice::from_ref(&a)).unwrap().stale);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(s.expire(Instant::now()), "older than 3 intervals");
        assert!(s.view(std::slice::from_ref(&a)).unwrap().stale);
        assert!(s.any_stale());
        assert!(!s.expire(Instant::now()), "reported once");
        assert!(
            s.update(&a, Ok(GroupHealth { healthy: 1, total: 1 })),
            "a read makes it fresh"
        );
        assert!(!s.any_stale());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_read_leaves_counts_to_go_stale_three_effective_intervals_after_the_last_read() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        // Two groups at 0.1 calls/s: a round takes 20 s, longer than the 10 s interval.
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let read = move |_arn: String| {
            let first_round = c.fetch_add(1, Ordering::Relaxed) < 2;
            async move {
                if first_round {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    Ok(GroupHealth { healthy: 2, total: 2 })
                } else {
                    std::future::pending().await
                }
            }
        };
        let arns: BTreeSet<String> = ["tg-a".to_string(), "tg-b".to_string()].into();
        let (_tx, rx) = watch::channel(arns.clone());
        let store = Arc::new(TargetStore::default());
        let changes = Arc::new(AtomicUsize::new(0));
        let ch = changes.clone();
        let stop = CancellationToken::new();
        let t0 = Instant::now();
        let task = tokio::spawn(poll_with(
            read,
            rx,
            (Duration::from_secs(10), 0.1),
            store.clone(),
            move || {
                ch.fetch_add(1, Ordering::Relaxed);
            },
            stop.clone(),
        ));
        let list: Vec<String> = arns.into_iter().collect();
        // tg-a was read at 10 s, tg-b at 20 s; the maximum age is 3 × 20 s.
        tokio::time::sleep_until(t0 + Duration::from_secs(69)).await;
        let v = store.view(&list).unwrap();
        assert_eq!((v.healthy, v.stale), (4, false), "both read within 60 s");
        let before = changes.load(Ordering::Relaxed);
        tokio::time::sleep_until(t0 + Duration::from_secs(72)).await;
        assert!(store.view(&list[..1]).unwrap().stale, "tg-a's counts are 62 s old");
        assert!(!store.view(&list[1..]).unwrap().stale, "tg-b's are 52 s old");
        assert!(changes.load(Ordering::Relaxed) > before, "apps are told");
        tokio::time::sleep_until(t0 + Duration::from_secs(82)).await;
        let v = store.view(&list).unwrap();
        assert_eq!(
            (v.healthy, v.total, v.stale),
            (4, 4, true),
            "last counts kept, marked stale"
        );
        assert_eq!(calls.load(Ordering::Relaxed), 3, "the stuck read is the only one since");
        stop.cancel();
        let _ = task.await;
    }
}
