//! The probe engine: one scheduler task drives every probe.
//!
//! Instead of a sleeping task per target, [`run`] keeps a min-heap of due times and
//! one timer. When a target is due it starts its probe as a future inside the same
//! task, up to `concurrency` in flight; when a probe ends, the result goes to the
//! caller's `on_result` at once. Each target keeps a fixed period: its first probe
//! is placed at a random phase within one interval (so targets spread out), and
//! each next probe is due exactly one interval after the last was due. A target
//! that fell more than one interval behind skips ahead instead of bursting.
//!
//! With a fixed period, a target that dies is seen failing by its `fallCount`-th
//! probe after death, at most `interval × fallCount + timeout` later.
//!
//! Probing never blocks serving: the scheduler is one task among the runtime's, and
//! results reach the verdict store through a short critical section.

pub mod guard;
pub mod http;
pub mod tcp;

use crate::config::ProbeSpec;
use crate::model::{ProbeOutcome, ProbeResult, Target};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One endpoint to probe, with the caller's `tag` to route its results.
#[derive(Clone, Debug)]
pub struct Job<T> {
    pub target: Target,
    pub spec: Arc<ProbeSpec>,
    pub tag: T,
}

/// Probes one target once, bounded by the spec's timeout.
pub async fn probe_once(http: &http::HttpProber, target: &Target, spec: &ProbeSpec) -> ProbeResult {
    let fut = async {
        match target {
            Target::Http { uri, .. } => http.probe(uri, spec).await,
            Target::Tcp { addr } => tcp::probe(*addr).await,
        }
    };
    match tokio::time::timeout(spec.timeout, fut).await {
        Ok(r) => r,
        Err(_) => ProbeResult {
            outcome: ProbeOutcome::Timeout,
            latency: spec.timeout,
            status: None,
        },
    }
}

/// The next due time of a target that was due at `due`, seen at `now`.
pub fn next_due(due: Instant, interval: Duration, now: Instant) -> Instant {
    let next = due + interval;
    if next + interval < now {
        now + interval
    } else {
        next
    }
}

/// The whole set of jobs. The source replaces it when targets change.
pub type JobSet<T> = Arc<Vec<Job<T>>>;

type Heap = BinaryHeap<Reverse<(Instant, usize)>>;

/// Due times for `new`: a target already scheduled (same target and interval) keeps
/// its due time, so a change elsewhere never resets its cadence; a new target gets a
/// random phase within its interval.
fn reschedule<T>(old: &[Job<T>], heap: &Heap, new: &[Job<T>], now: Instant) -> Heap {
    let due: HashMap<(&Target, Duration), Instant> = heap
        .iter()
        .map(|Reverse((due, i))| ((&old[*i].target, old[*i].spec.interval), *due))
        .collect();
    new.iter()
        .enumerate()
        .map(|(i, j)| {
            let at = due.get(&(&j.target, j.spec.interval)).copied();
            Reverse((at.unwrap_or_else(|| now + j.spec.interval.mul_f64(fastrand::f64())), i))
        })
        .collect()
}

async fn probe_job<T>(http: http::HttpProber, set: JobSet<T>, i: usize) -> (JobSet<T>, usize, ProbeResult) {
    let result = probe_once(&http, &set[i].target, &set[i].spec).await;
    (set, i, result)
}

/// Runs the scheduler until `shutdown` is cancelled, probing the latest job set
/// from `jobs` and calling `on_result` with each finished probe (a probe started
/// before a change still reports, with the job it was started for).
pub async fn run<T, F>(
    mut jobs: watch::Receiver<JobSet<T>>,
    concurrency: usize,
    mut on_result: F,
    shutdown: CancellationToken,
) where
    F: FnMut(&Job<T>, ProbeResult),
{
    let http = http::HttpProber::new();
    let mut set: JobSet<T> = jobs.borrow_and_update().clone();
    let mut heap = reschedule(&[], &Heap::new(), &set, Instant::now());
    let mut inflight = FuturesUnordered::new();
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    let concurrency = concurrency.max(1);
    let mut source_open = true;
    loop {
        let now = Instant::now();
        while inflight.len() < concurrency {
            match heap.peek() {
                Some(Reverse((due, i))) if *due <= now => {
                    let (due, i) = (*due, *i);
                    heap.pop();
                    heap.push(Reverse((next_due(due, set[i].spec.interval, now), i)));
                    inflight.push(probe_job(http.clone(), set.clone(), i));
                }
                _ => break,
            }
        }
        let wait_for_timer = inflight.len() < concurrency;
        if let Some(Reverse((due, _))) = heap.peek() {
            if timer.deadline() != *due {
                timer.as_mut().reset(*due);
            }
        }
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            Some((done, i, result)) = inflight.next(), if !inflight.is_empty() => on_result(&done[i], result),
            changed = jobs.changed(), if source_open => match changed {
                Ok(()) => {
                    let new = jobs.borrow_and_update().clone();
                    heap = reschedule(&set, &heap, &new, Instant::now());
                    set = new;
                }
                // The source is gone: keep probing the last set.
                Err(_) => source_open = false,
            },
            _ = &mut timer, if wait_for_timer && !heap.is_empty() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_is_fixed_and_lag_skips_ahead() {
        let t0 = Instant::now();
        let i = Duration::from_secs(2);
        assert_eq!(next_due(t0, i, t0), t0 + i);
        // Late by less than an interval: keep the cadence.
        assert_eq!(next_due(t0, i, t0 + Duration::from_millis(2500)), t0 + i);
        // More than an interval behind: skip ahead, no burst of catch-up probes.
        let now = t0 + Duration::from_secs(10);
        assert_eq!(next_due(t0, i, now), now + i);
    }

    fn job(port: u16, interval_ms: u64) -> Job<()> {
        let spec = ProbeSpec {
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(10),
            expected_status: None,
            body_contains: None,
        };
        Job {
            target: Target::Tcp {
                addr: ([127, 0, 0, 1], port).into(),
            },
            spec: Arc::new(spec),
            tag: (),
        }
    }

    #[test]
    fn a_changed_job_set_keeps_the_cadence_of_targets_it_still_has() {
        let now = Instant::now();
        let old = vec![job(1, 1000), job(2, 1000)];
        let heap: Heap = [
            Reverse((now + Duration::from_millis(300), 0)),
            Reverse((now + Duration::from_millis(700), 1)),
        ]
        .into();
        // Target 1 goes, 2 stays, 3 arrives; 2 with a new interval counts as new.
        let new = vec![job(3, 1000), job(2, 1000), job(2, 500)];
        let h = reschedule(&old, &heap, &new, now);
        let due: HashMap<usize, Instant> = h.iter().map(|Reverse((d, i))| (*i, *d)).collect();
        assert_eq!(due.len(), 3);
        assert_eq!(due[&1], now + Duration::from_millis(700), "kept its due time");
        assert!(
            due[&0] >= now && due[&0] < now + Duration::from_secs(1),
            "new target within one interval"
        );
        assert!(due[&2] < now + Duration::from_millis(500));
    }
}
