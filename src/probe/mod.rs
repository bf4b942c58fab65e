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
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;
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

/// Runs the scheduler over `jobs` until `shutdown` is cancelled, calling
/// `on_result` with each finished probe.
pub async fn run<T, F>(jobs: Vec<Job<T>>, concurrency: usize, mut on_result: F, shutdown: CancellationToken)
where
    F: FnMut(&Job<T>, ProbeResult),
{
    let http = http::HttpProber::new();
    let start = Instant::now();
    let mut heap: BinaryHeap<Reverse<(Instant, usize)>> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| Reverse((start + j.spec.interval.mul_f64(fastrand::f64()), i)))
        .collect();
    let mut inflight = FuturesUnordered::new();
    let timer = tokio::time::sleep_until(start);
    tokio::pin!(timer);
    let concurrency = concurrency.max(1);
    loop {
        let now = Instant::now();
        while inflight.len() < concurrency {
            match heap.peek() {
                Some(Reverse((due, i))) if *due <= now => {
                    let (due, i) = (*due, *i);
                    heap.pop();
                    heap.push(Reverse((next_due(due, jobs[i].spec.interval, now), i)));
                    let job = &jobs[i];
                    let http = &http;
                    inflight.push(async move { (i, probe_once(http, &job.target, &job.spec).await) });
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
            Some((i, result)) = inflight.next(), if !inflight.is_empty() => on_result(&jobs[i], result),
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
}
