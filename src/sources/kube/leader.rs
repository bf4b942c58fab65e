//! One leader per cluster, elected with a `coordination.k8s.io` Lease. The leader
//! does the cluster-wide duties (folding probe reports into `AppHealth.status`);
//! every replica serves verdicts whether it leads or not, so losing the leader
//! freezes verdict changes for at most one lease duration and blanks none.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long a lease is valid without renewal.
pub const LEASE_SECONDS: i32 = 15;
/// How often the holder renews, and others check.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);

/// What to do with the lease as it stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// No lease object: create it, holding it.
    Create,
    /// We hold it: renew.
    Renew,
    /// Another holder let it expire (or released it): take it over.
    TakeOver,
    /// Another holder's lease is valid: follow.
    Follow,
}

/// The pure election rule.
pub fn decide(spec: Option<&LeaseSpec>, me: &str, now: Timestamp) -> Action {
    let Some(spec) = spec else { return Action::Create };
    match spec.holder_identity.as_deref() {
        Some(h) if h == me => Action::Renew,
        None | Some("") => Action::TakeOver,
        Some(_) => {
            let secs = spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS) as i64;
            let expired = spec
                .renew_time
                .as_ref()
                .is_none_or(|t| t.0 + SignedDuration::from_secs(secs) < now);
            if expired {
                Action::TakeOver
            } else {
                Action::Follow
            }
        }
    }
}

/// Takes part in the election until `shutdown`, publishing whether we lead.
/// On shutdown a leader releases the lease so a successor need not wait for it
/// to expire.
pub async fn run(api: Api<Lease>, name: String, me: String, leading: watch::Sender<bool>, shutdown: CancellationToken) {
    loop {
        let lead = match step(&api, &name, &me).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "leader election step failed");
                false
            }
        };
        if leading.send_replace(lead) != lead {
            tracing::info!(leader = lead, "leadership changed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(if lead { RENEW_EVERY } else { RENEW_EVERY / 2 }) => {}
        }
    }
    if *leading.borrow() {
        leading.send_replace(false);
        if let Ok(Some(mut lease)) = api.get_opt(&name).await {
            if let Some(spec) = lease.spec.as_mut() {
                spec.holder_identity = None;
                let _ = api.replace(&name, &PostParams::default(), &lease).await;
            }
        }
    }
}

/// One election round. Returns whether we hold the lease afterwards. A lost
/// race (409 Conflict on the write) means someone else got there first.
async fn step(api: &Api<Lease>, name: &str, me: &str) -> kube::Result<bool> {
    let now = Timestamp::now();
    let current = api.get_opt(name).await?;
    let action = decide(current.as_ref().and_then(|l| l.spec.as_ref()), me, now);
    let fresh = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(me.to_string()),
        lease_duration_seconds: Some(LEASE_SECONDS),
        acquire_time: acquired.or(Some(MicroTime(now))),
        renew_time: Some(MicroTime(now)),
        lease_transitions: Some(transitions),
        ..Default::default()
    };
    let result = match (action, current) {
        (Action::Follow, _) => return Ok(false),
        (Action::Create, _) => {
            let mut lease = Lease {
                spec: Some(fresh(0, None)),
                ..Default::default()
            };
            lease.metadata.name = Some(name.to_string());
            api.create(&PostParams::default(), &lease).await.map(|_| ())
        }
        (Action::Renew, Some(mut lease)) => {
            let old = lease.spec.take().unwrap_or_default();
            lease.spec = Some(fresh(old.lease_transitions.unwrap_or(0), old.acquire_time));
            api.replace(name, &PostParams::default(), &lease).await.map(|_| ())
        }
        (Action::TakeOver, Some(mut lease)) => {
            let old = lease.spec.take().unwrap_or_default();
            lease.spec = Some(fresh(old.lease_transitions.unwrap_or(0) + 1, None));
            api.replace(name, &PostParams::default(), &lease).await.map(|_| ())
        }
        (_, None) => return Ok(false),
    };
    match result {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, renewed_secs_ago: i64) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(String::from),
            lease_duration_seconds: Some(15),
            renew_time: Some(MicroTime(
                Timestamp::now() - SignedDuration::from_secs(renewed_secs_ago),
            )),
            ..Default::default()
        }
    }

    #[test]
    fn election_rule() {
        let now = Timestamp::now();
        assert_eq!(decide(None, "a", now), Action::Create);
        assert_eq!(decide(Some(&spec(Some("a"), 1)), "a", now), Action::Renew);
        assert_eq!(decide(Some(&spec(Some("b"), 1)), "a", now), Action::Follow);
        assert_eq!(decide(Some(&spec(Some("b"), 16)), "a", now), Action::TakeOver);
        assert_eq!(
            decide(Some(&spec(None, 1)), "a", now),
            Action::TakeOver,
            "a released lease is free"
        );
        let mut no_renew = spec(Some("b"), 0);
        no_renew.renew_time = None;
        assert_eq!(decide(Some(&no_renew), "a", now), Action::TakeOver);
    }
}
