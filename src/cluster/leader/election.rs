//! One leader per cluster, elected with a `coordination.k8s.io` Lease, the way
//! client-go's leader election does it. The leader does the cluster-wide duties
//! (folding probe reports into `AppHealth.status`, Route 53); every replica serves
//! verdicts whether it leads or not, so losing the leader freezes verdict changes
//! for about one lease duration and blanks none.
//!
//! The guarantees:
//!
//! - **Every step has a deadline.** One election step (read the Lease, then write
//!   it) is given [`STEP_TIMEOUT`], well below [`RENEW_DEADLINE`]; the client's own
//!   call deadlines (`client.rs`) hold below that.
//! - **Expiry is judged on our own monotonic clock.** A candidate takes over only
//!   after it has seen the Lease's holder, `renewTime` and `resourceVersion` stay
//!   unchanged for the Lease's `leaseDurationSeconds` ([`LEASE_DURATION`] when we
//!   wrote it), timed with [`Instant`]. Another node's wall clock is never compared
//!   with ours, so clock skew cannot make a live leader look expired, or a dead one
//!   look alive. A released Lease (no holder) is free at once.
//! - **A leader steps down on time.** Each [`Term`] lasts to the start of the last
//!   successful renewal plus [`RENEW_DEADLINE`]. When it runs out, or another
//!   holder shows up, the term's token is cancelled: every duty stops at once.
//! - **Leader writes are fenced** by the [`Term`] (see `term.rs`).

use super::term::Term;
use crate::telemetry::Leader;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::ResourceExt;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use super::term::{FENCE_MARGIN, RENEW_DEADLINE};

/// How long a Lease we hold stays ours without renewal (`leaseDurationSeconds`):
/// how long the others wait, on their own clocks, without seeing it change.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the leader renews, and every other replica looks at the Lease.
pub const RETRY_PERIOD: Duration = Duration::from_secs(2);
/// The deadline of one election step: reading the Lease, then writing it.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(3);

/// What to do with the lease as it stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// No lease object: create it, holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Another holder let it expire (or released it): take it over.
    TakeOver,
    /// Another holder's lease is live: follow.
    Follow,
}

/// The parts of a Lease whose change shows its holder is alive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub holder: Option<String>,
    pub renew_time: Option<MicroTime>,
    pub resource_version: Option<String>,
}

impl Record {
    /// The record of `lease` (all `None` when there is none).
    pub fn of(lease: Option<&Lease>) -> Record {
        let Some(lease) = lease else {
            return Record::default();
        };
        let spec = lease.spec.as_ref();
        Record {
            holder: spec.and_then(|s| s.holder_identity.clone()),
            renew_time: spec.and_then(|s| s.renew_time.clone()),
            resource_version: lease.resource_version(),
        }
    }
}

/// A Lease record, and when this process first saw it (its own monotonic clock).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub record: Record,
    pub seen: Instant,
}

impl Observed {
    /// What we know after reading `record` at `now`: the time it was first seen is
    /// kept while it stays the same, and restarts when anything in it changes.
    pub fn update(prev: Option<Observed>, record: Record, now: Instant) -> Observed {
        match prev {
            Some(p) if p.record == record => p,
            _ => Observed { record, seen: now },
        }
    }
}

/// The pure election rule. `observed` must be the record of `spec`'s Lease as
/// [`Observed::update`] left it; `now` is the same monotonic clock.
pub fn decide(spec: Option<&LeaseSpec>, me: &str, observed: &Observed, now: Instant) -> Action {
    let Some(spec) = spec else { return Action::Create };
    match spec.holder_identity.as_deref() {
        Some(h) if h == me => Action::Renew,
        None | Some("") => Action::TakeOver,
        Some(_) => {
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .map_or(LEASE_DURATION, Duration::from_secs);
            if now.saturating_duration_since(observed.seen) >= duration {
                Action::TakeOver
            } else {
                Action::Follow
            }
        }
    }
}

/// The outcome of one step.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// We hold the Lease: created, renewed or taken over just now.
    Yes,
    /// Another replica holds it (or won the race for it).
    No,
}

/// Takes part in the election until `shutdown`, publishing each term of leadership
/// on `terms` (`None` between terms) and 1 or 0 on `leading` (which also decides
/// whether this replica exports the per-app verdict series). On shutdown a leader
/// releases the Lease, so a successor need not wait for it to expire.
pub async fn run(
    api: Api<Lease>,
    name: String,
    me: String,
    terms: watch::Sender<Option<Term>>,
    leading: Leader,
    shutdown: CancellationToken,
) {
    let mut observed: Option<Observed> = None;
    let mut term: Option<Term> = None;
    let step_down = |term: &mut Option<Term>, why: &str| {
        if let Some(t) = term.take() {
            t.end();
            terms.send_replace(None);
            leading.set(0);
            tracing::warn!(reason = why, "stepped down: leader duties stopped");
        }
    };
    while !shutdown.is_cancelled() {
        if term
            .as_ref()
            .is_some_and(|t| t.is_over() || Instant::now() >= t.valid_until())
        {
            step_down(&mut term, "the Lease was not renewed before the renew deadline");
        }
        let started = Instant::now();
        let until = term.as_ref().map(Term::valid_until);
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sleep_until(until) => continue,
            r = tokio::time::timeout(STEP_TIMEOUT, step(&api, &name, &me, &mut observed)) => r,
        };
        match outcome {
            Ok(Ok(Held::Yes)) => match &term {
                Some(t) => t.renewed(started),
                None => {
                    let t = Term::begin(&shutdown, started);
                    terms.send_replace(Some(t.clone()));
                    leading.set(1);
                    tracing::info!(until = ?t.valid_until().saturating_duration_since(Instant::now()), "leading: a new term");
                    term = Some(t);
                }
            },
            Ok(Ok(Held::No)) => step_down(&mut term, "another replica holds the Lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, leading = term.is_some(), "leader election step failed"),
            Err(_) => {
                tracing::warn!(timeout = ?STEP_TIMEOUT, leading = term.is_some(), "leader election step timed out")
            }
        }
        let next = started + RETRY_PERIOD;
        let wake = term.as_ref().map_or(next, |t| next.min(t.valid_until()));
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
    if let Some(t) = term.take() {
        t.end();
        terms.send_replace(None);
        leading.set(0);
        match tokio::time::timeout(STEP_TIMEOUT, release(&api, &name, &me)).await {
            Ok(Ok(())) => tracing::info!("released the Lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, "releasing the Lease failed; it expires instead"),
            Err(_) => tracing::warn!("releasing the Lease timed out; it expires instead"),
        }
    }
}

async fn sleep_until(until: Option<Instant>) {
    match until {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Clears the holder of the Lease if it is still us (conditional on the version read).
async fn release(api: &Api<Lease>, name: &str, me: &str) -> kube::Result<()> {
    let Some(mut lease) = api.get_opt(name).await? else {
        return Ok(());
    };
    match lease.spec.as_mut() {
        Some(spec) if spec.holder_identity.as_deref() == Some(me) => {
            spec.holder_identity = None;
            api.replace(name, &PostParams::default(), &lease).await.map(drop)
        }
        _ => Ok(()),
    }
}

/// One election round: read the Lease, note what we saw in `observed`, write it
/// if [`decide`] says so. A lost race for a free Lease (409 Conflict on create or
/// takeover) means someone else got there first; a 409 on a renewal is an error
/// (retried until the renew deadline), since the Lease may still be ours.
pub(crate) async fn step(
    api: &Api<Lease>,
    name: &str,
    me: &str,
    observed: &mut Option<Observed>,
) -> kube::Result<Held> {
    let current = api.get_opt(name).await?;
    let now = Instant::now();
    let seen = Observed::update(observed.take(), Record::of(current.as_ref()), now);
    let action = decide(current.as_ref().and_then(|l| l.spec.as_ref()), me, &seen, now);
    *observed = Some(seen);
    let wall = Timestamp::now();
    let fresh = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
        acquire_time: acquired.or(Some(MicroTime(wall))),
        // For people and kubectl only: no replica judges expiry by it.
        renew_time: Some(MicroTime(wall)),
        lease_transitions: Some(transitions),
        ..Default::default()
    };
    let renewing = action == Action::Renew;
    let result = match (action, current) {
        (Action::Follow, _) => return Ok(Held::No),
        (Action::Create, _) => {
            let mut lease = Lease {
                spec: Some(fresh(0, None)),
                ..Default::default()
            };
            lease.metadata.name = Some(name.to_string());
            api.create(&PostParams::default(), &lease).await.map(drop)
        }
        (Action::Renew, Some(mut lease)) => {
            let old = lease.spec.take().unwrap_or_default();
            lease.spec = Some(fresh(old.lease_transitions.unwrap_or(0), old.acquire_time));
            api.replace(name, &PostParams::default(), &lease).await.map(drop)
        }
        (Action::TakeOver, Some(mut lease)) => {
            let old = lease.spec.take().unwrap_or_default();
            lease.spec = Some(fresh(old.lease_transitions.unwrap_or(0) + 1, None));
            api.replace(name, &PostParams::default(), &lease).await.map(drop)
        }
        (_, None) => return Ok(Held::No),
    };
    match result {
        Ok(()) => Ok(Held::Yes),
        Err(kube::Error::Api(e)) if e.code == 409 && !renewing => Ok(Held::No),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[path = "leader_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "election_tests.rs"]
mod election_tests;
