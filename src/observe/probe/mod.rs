//! The probe engine: one scheduler task drives every probe.
//!
//! Instead of a sleeping task per target, [`run`] keeps a min-heap of due times and
//! one timer. Each target keeps a fixed period: its first probe is placed at a
//! random phase within one interval (so targets spread out), and each next probe is
//! due exactly one interval after the last was due. A target that fell more than
//! one interval behind skips ahead instead of bursting. When a probe ends, the
//! result goes to the caller's `on_result` at once.
//!
//! With a fixed period, a target that dies is seen failing by its `fallCount`-th
//! probe after death, at most `interval × fallCount + timeout` later.
//!
//! **Fair between apps** ([`fair`]). Due probes start round-robin over the apps
//! (each [`Job::group`]), at most [`Limits::per_app`] in flight per app and one per
//! address, so an app with many slow or hanging endpoints queues behind itself.
//! A probe holds one of the node's [`Limits::global`] slots only for its first
//! [`SLOT_HOLD`]; after that it keeps running (to its own timeout) on its app's
//! slots alone. So however many apps hang, each with at most `per_app` probes
//! stuck, the node's slots turn over every [`SLOT_HOLD`] and every other app's
//! probes start on time, as long as the slots are not all taken by fresh probes.
//!
//! Probing never blocks serving: the scheduler is one task among the runtime's, and
//! results reach the verdict store through a short critical section.

pub mod fair;
pub mod grpc;
pub mod http;
mod https;
pub mod tcp;

use crate::model::{ProbeOutcome, ProbeResult, Target};
use crate::spec::ProbeSpec;
pub use crate::spec::PER_APP;
use futures_util::future::{self, Either};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::pin::Pin;
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
    /// The app the job is for: probes are shared fairly between groups.
    pub group: fair::Group,
    pub tag: T,
}

/// How many probes may be in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Probes in their first [`SLOT_HOLD`], all apps together (`probeConcurrency`).
    pub global: usize,
    /// Probes of one app, however long they have run.
    pub per_app: usize,
}

/// How long a probe holds one of the node's global slots. Longer probes run on
/// (to their own timeout) holding only their app's slot and their address.
pub const SLOT_HOLD: Duration = Duration::from_secs(1);

/// The pooled clients of every probe kind, shared by all probes. Cheap to clone.
#[derive(Clone, Default)]
pub struct Probers {
    pub http: http::HttpProber,
    pub grpc: grpc::GrpcProber,
}

impl Probers {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Probes one target once, bounded by the spec's timeout.
pub async fn probe_once(probers: &Probers, target: &Target, spec: &ProbeSpec) -> ProbeResult {
    let fut = async {
        match target {
            Target::Http { uri, .. } => probers.http.probe(uri, spec).await,
            Target::Tcp { addr } => tcp::probe(*addr).await,
            Target::Grpc { addr } => probers.grpc.probe(*addr, spec).await,
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

/// A job's identity across job sets: same app, target and interval.
type JobKey<'a> = (&'a str, &'a Target, Duration);

fn key<T>(j: &Job<T>) -> JobKey<'_> {
    (&j.group, &j.target, j.spec.interval)
}

/// Due times for `new`: a target already scheduled (same app, target and interval)
/// keeps its due time, so a change elsewhere never resets its cadence; a new target
/// gets a random phase within its interval.
fn reschedule<T>(old: &[Job<T>], heap: &Heap, new: &[Job<T>], now: Instant) -> Heap {
    let due: HashMap<JobKey<'_>, Instant> = heap.iter().map(|Reverse((due, i))| (key(&old[*i]), *due)).collect();
    new.iter()
        .enumerate()
        .map(|(i, j)| {
            let at = due.get(&key(j)).copied();
            Reverse((at.unwrap_or_else(|| now + j.spec.interval.mul_f64(fastrand::f64())), i))
        })
        .collect()
}

/// Runs the scheduler until `shutdown` is cancelled, probing the latest job set
/// from `jobs` over HTTP(S), TCP and gRPC and calling `on_result` with each finished probe
/// (a probe started before a change still reports, with the job it was started for).
pub async fn run<T, F>(jobs: watch::Receiver<JobSet<T>>, limits: Limits, on_result: F, shutdown: CancellationToken)
where
    T: Send + Sync + 'static,
    F: FnMut(&Job<T>, ProbeResult),
{
    let probers = Probers::new();
    let probe = move |job: &Job<T>| {
        let (probers, target, spec) = (probers.clone(), job.target.clone(), job.spec.clone());
        async move { probe_once(&probers, &target, &spec).await }
    };
    run_with(jobs, limits, probe, on_result, shutdown).await
}

/// A started probe, with the job set it was started from.
type Started<T> = Pin<Box<dyn Future<Output = (JobSet<T>, usize, ProbeResult)> + Send + 'static>>;

/// What a probe in its first [`SLOT_HOLD`] comes to: its result, or itself, still running.
enum Step<T> {
    Done((JobSet<T>, usize, ProbeResult)),
    Aged(Started<T>),
}

/// [`run`] with `probe` doing each probe (tests pass a fake one).
pub async fn run_with<T, F, P, PF>(
    mut jobs: watch::Receiver<JobSet<T>>,
    limits: Limits,
    probe: P,
    mut on_result: F,
    shutdown: CancellationToken,
) where
    T: Send + Sync + 'static,
    F: FnMut(&Job<T>, ProbeResult),
    P: Fn(&Job<T>) -> PF,
    PF: Future<Output = ProbeResult> + Send + 'static,
{
    let mut set: JobSet<T> = jobs.borrow_and_update().clone();
    let mut heap = reschedule(&[], &Heap::new(), &set, Instant::now());
    let mut queue = fair::Fair::new(limits.per_app);
    let mut young = FuturesUnordered::new();
    let mut lingering = FuturesUnordered::new();
    let timer = tokio::time::sleep_until(Instant::now());
    tokio::pin!(timer);
    let global = limits.global.max(1);
    let mut source_open = true;
    loop {
        let now = Instant::now();
        while let Some(Reverse((due, i))) = heap.peek().copied() {
            if due > now {
                break;
            }
            heap.pop();
            heap.push(Reverse((next_due(due, set[i].spec.interval, now), i)));
            queue.due(i, &set[i].group, set[i].target.addr());
        }
        while young.len() < global {
            let Some(i) = queue.next(|i| set[i].target.addr()) else {
                break;
            };
            let started = start(&probe, set.clone(), i);
            young.push(hold(started));
        }
        if let Some(Reverse((due, _))) = heap.peek() {
            if timer.deadline() != *due {
                timer.as_mut().reset(*due);
            }
        }
        let done = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            Some(step) = young.next(), if !young.is_empty() => match step {
                Step::Done(done) => done,
                Step::Aged(still) => { lingering.push(still); continue; }
            },
            Some(done) = lingering.next(), if !lingering.is_empty() => done,
            changed = jobs.changed(), if source_open => {
                match changed {
                    Ok(()) => {
                        let new = jobs.borrow_and_update().clone();
                        heap = reschedule(&set, &heap, &new, Instant::now());
                        let index: HashMap<JobKey<'_>, usize> = new.iter().enumerate().map(|(i, j)| (key(j), i)).collect();
                        queue.remap(|i| index.get(&key(&set[i])).copied());
                        drop(index);
                        set = new;
                    }
                    // The source is gone: keep probing the last set.
                    Err(_) => source_open = false,
                }
                continue;
            }
            _ = &mut timer, if !heap.is_empty() => continue,
        };
        let (done_set, i, result) = done;
        queue.finished(&done_set[i].group, done_set[i].target.addr());
        on_result(&done_set[i], result);
    }
}

/// Starts job `i` of `set`.
fn start<T, P, PF>(probe: &P, set: JobSet<T>, i: usize) -> Started<T>
where
    T: Send + Sync + 'static,
    P: Fn(&Job<T>) -> PF,
    PF: Future<Output = ProbeResult> + Send + 'static,
{
    let fut = probe(&set[i]);
    Box::pin(async move { (set, i, fut.await) })
}

/// Runs `probe` for at most [`SLOT_HOLD`]: its result, or the probe still running.
async fn hold<T>(probe: Started<T>) -> Step<T> {
    match future::select(probe, Box::pin(tokio::time::sleep(SLOT_HOLD))).await {
        Either::Left((done, _)) => Step::Done(done),
        Either::Right(((), still)) => Step::Aged(still),
    }
}

#[cfg(test)]
mod tests;
