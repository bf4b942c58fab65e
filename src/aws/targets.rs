//! The ALB's view of each app: `DescribeTargetHealth` per target group, polled by
//! one agent per cluster (the leader; a static agent is a leader of one), paced by
//! the shared ELBv2 bucket.
//!
//! An AWS outage or throttling never flips a verdict: a target group whose read
//! fails keeps its last counts and is marked stale until a read succeeds.

use super::call::{Api, CallError, Caller};
use crate::policy::TargetCounts;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use aws_sdk_elasticloadbalancingv2::Client;
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
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
    stale: bool,
}

/// The last read of every polled target group.
#[derive(Debug, Default)]
pub struct TargetStore {
    groups: Mutex<HashMap<String, Entry>>,
}

impl TargetStore {
    /// Records a read of `arn`. Returns true if what apps see changed.
    pub fn update(&self, arn: &str, read: Result<GroupHealth, &CallError>) -> bool {
        let mut g = self.groups.lock();
        let e = g.entry(arn.to_owned()).or_default();
        let before = *e;
        match read {
            Ok(h) => {
                e.last = Some(h);
                e.stale = false;
            }
            Err(_) => e.stale = true,
        }
        before.last != e.last || before.stale != e.stale
    }

    /// The ALB view of an app with target groups `arns`: counts summed over the
    /// groups read at least once; stale if any group's last read failed or was
    /// never made. `None` until some group has been read.
    pub fn view(&self, arns: &[String]) -> Option<TargetCounts> {
        let g = self.groups.lock();
        let mut out = TargetCounts::default();
        let mut any = false;
        for arn in arns {
            match g.get(arn) {
                Some(Entry { last: Some(h), stale }) => {
                    any = true;
                    out.healthy += h.healthy;
                    out.total += h.total;
                    out.stale |= *stale;
                }
                _ => out.stale = true,
            }
        }
        any.then_some(out)
    }

    /// True if any group's data is stale.
    pub fn any_stale(&self) -> bool {
        self.groups.lock().values().any(|e| e.stale)
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

/// Polls every group in `arns` once per `every` (or as fast as the bucket allows,
/// if slower), updating `store` and calling `on_change` when an app's view may
/// have changed. Stops at `shutdown`.
pub async fn poll(
    elb: Client,
    caller: Arc<Caller>,
    mut arns: watch::Receiver<BTreeSet<String>>,
    every: Duration,
    store: Arc<TargetStore>,
    on_change: impl Fn(),
    shutdown: CancellationToken,
) {
    loop {
        let round = tokio::time::Instant::now();
        let set = arns.borrow_and_update().clone();
        store.retain(&set);
        for arn in &set {
            let read = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = describe(&elb, &caller, arn) => r,
            };
            if let Err(e) = &read {
                tracing::warn!(target_group = %arn, error = %e, "target health unavailable; keeping the last counts, marked stale");
            }
            if store.update(arn, read.as_ref().map(|h| *h)) {
                on_change();
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(round + every) => {}
            r = arns.changed() => if r.is_err() { return },
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
}
