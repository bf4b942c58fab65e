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
    use http::{Method, Request, Response, StatusCode};
    use kube::client::Body;

    type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

    /// A kube client whose requests the test answers one by one.
    fn mock_client() -> (kube::Client, Handle) {
        let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        (kube::Client::new(svc, "default"), handle)
    }

    async fn expect(
        handle: &mut Handle,
        method: Method,
        path: &str,
        status: StatusCode,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let (req, send) = handle.next_request().await.expect("a request");
        assert_eq!(req.method(), method);
        assert_eq!(req.uri().path(), path);
        let bytes = http_body_util::BodyExt::collect(req.into_body())
            .await
            .unwrap()
            .to_bytes();
        let sent = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        send.send_response(
            Response::builder()
                .status(status)
                .body(Body::from(body.to_string().into_bytes()))
                .unwrap(),
        );
        sent
    }

    const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l";

    fn lease_json(holder: &str, renewed: Timestamp) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": { "name": "l", "namespace": "ns", "resourceVersion": "7" },
            "spec": { "holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": MicroTime(renewed) },
        })
    }

    fn conflict() -> serde_json::Value {
        serde_json::json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "the object has been modified" })
    }

    #[tokio::test]
    async fn losing_the_race_for_an_expired_lease_is_not_an_error() {
        let (client, mut h) = mock_client();
        let api: Api<Lease> = Api::namespaced(client, "ns");
        let task = tokio::spawn(async move { step(&api, "l", "me").await });
        let expired = Timestamp::now() - SignedDuration::from_secs(60);
        expect(&mut h, Method::GET, PATH, StatusCode::OK, lease_json("other", expired)).await;
        let sent = expect(&mut h, Method::PUT, PATH, StatusCode::CONFLICT, conflict()).await;
        assert_eq!(sent["spec"]["holderIdentity"], "me");
        assert_eq!(
            sent["metadata"]["resourceVersion"], "7",
            "a takeover is conditional on the version read"
        );
        assert_eq!(sent["spec"]["leaseTransitions"], 1);
        assert!(!task.await.unwrap().unwrap(), "a 409 means someone else took it");
    }

    #[tokio::test]
    async fn creates_a_missing_lease_and_follows_a_live_holder() {
        let (client, mut h) = mock_client();
        let api: Api<Lease> = Api::namespaced(client, "ns");
        let a2 = api.clone();
        let task = tokio::spawn(async move { step(&a2, "l", "me").await });
        let not_found = serde_json::json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found" });
        expect(&mut h, Method::GET, PATH, StatusCode::NOT_FOUND, not_found).await;
        let sent = expect(
            &mut h,
            Method::POST,
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases",
            StatusCode::CREATED,
            lease_json("me", Timestamp::now()),
        )
        .await;
        assert_eq!(sent["spec"]["holderIdentity"], "me");
        assert!(task.await.unwrap().unwrap());

        let task = tokio::spawn(async move { step(&api, "l", "me").await });
        expect(
            &mut h,
            Method::GET,
            PATH,
            StatusCode::OK,
            lease_json("other", Timestamp::now()),
        )
        .await;
        assert!(
            !task.await.unwrap().unwrap(),
            "a valid lease of another holder is followed, with no write"
        );
    }

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
