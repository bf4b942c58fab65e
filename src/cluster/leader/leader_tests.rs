//! The election rule, and one step against a mocked API server (the mock is
//! shared with `election_tests.rs`).

use super::*;
use http::{Method, Request, Response, StatusCode};
use k8s_openapi::jiff::SignedDuration;
use kube::client::Body;

pub(super) type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;
pub(super) type Pending = tower_test::mock::SendResponse<Response<Body>>;

/// A kube client whose requests the test answers one by one.
pub(super) fn mock_client() -> (kube::Client, Handle) {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(svc, "default"), handle)
}

/// Takes the next request, checks its method and path, and returns its JSON body
/// (`Null` if none) and the handle to answer it with.
pub(super) async fn next(handle: &mut Handle, method: Method, path: &str) -> (serde_json::Value, Pending) {
    let (req, send) = handle.next_request().await.expect("a request");
    assert_eq!((req.method(), req.uri().path()), (&method, path));
    let bytes = http_body_util::BodyExt::collect(req.into_body())
        .await
        .expect("a readable body")
        .to_bytes();
    (serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null), send)
}

pub(super) fn answer(send: Pending, status: StatusCode, body: serde_json::Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(body.to_string().into_bytes()))
            .expect("a valid response"),
    );
}

pub(super) async fn expect(
    handle: &mut Handle,
    method: Method,
    path: &str,
    status: StatusCode,
    body: serde_json::Value,
) -> serde_json::Value {
    let (sent, send) = next(handle, method, path).await;
    answer(send, status, body);
    sent
}

pub(super) const PATH: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l";
pub(super) const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ns/leases";

pub(super) fn lease_json(holder: &str, renewed: Timestamp, rv: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": "l", "namespace": "ns", "resourceVersion": rv },
        "spec": { "holderIdentity": holder, "leaseDurationSeconds": 15, "renewTime": MicroTime(renewed) },
    })
}

pub(super) fn status(code: u16, reason: &str) -> serde_json::Value {
    serde_json::json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code, "message": reason })
}

#[tokio::test(start_paused = true)]
async fn a_lease_expires_after_a_lease_duration_unchanged_on_our_clock_and_a_lost_race_is_not_an_error() {
    let (client, mut h) = mock_client();
    let api: Api<Lease> = Api::namespaced(client, "ns");
    // The holder's renewTime is an hour old by our wall clock: it does not matter.
    let stale_clock = Timestamp::now() - SignedDuration::from_secs(3600);
    let a = api.clone();
    let task = tokio::spawn(async move {
        let mut observed = None;
        let first = step(&a, "l", "me", &mut observed).await;
        tokio::time::sleep(LEASE_DURATION - Duration::from_millis(1)).await;
        let second = step(&a, "l", "me", &mut observed).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        let third = step(&a, "l", "me", &mut observed).await;
        (first, second, third)
    });
    expect(
        &mut h,
        Method::GET,
        PATH,
        StatusCode::OK,
        lease_json("other", stale_clock, "7"),
    )
    .await;
    expect(
        &mut h,
        Method::GET,
        PATH,
        StatusCode::OK,
        lease_json("other", stale_clock, "7"),
    )
    .await;
    expect(
        &mut h,
        Method::GET,
        PATH,
        StatusCode::OK,
        lease_json("other", stale_clock, "7"),
    )
    .await;
    let (sent, send) = next(&mut h, Method::PUT, PATH).await;
    answer(send, StatusCode::CONFLICT, status(409, "Conflict"));
    assert_eq!(sent["spec"]["holderIdentity"], "me");
    assert_eq!(
        sent["metadata"]["resourceVersion"], "7",
        "a takeover is conditional on the version read"
    );
    assert_eq!(sent["spec"]["leaseTransitions"], 1);
    let (first, second, third) = task.await.expect("the steps ran");
    assert_eq!(first.expect("followed"), Held::No, "just seen: followed, never taken");
    assert_eq!(
        second.expect("followed"),
        Held::No,
        "unchanged for less than a lease duration"
    );
    assert_eq!(
        third.expect("a lost race"),
        Held::No,
        "a 409 means someone else took it"
    );
}

#[tokio::test]
async fn creates_a_missing_lease_follows_a_live_holder_and_a_conflicting_renewal_is_an_error() {
    let (client, mut h) = mock_client();
    let api: Api<Lease> = Api::namespaced(client, "ns");
    let a = api.clone();
    let task = tokio::spawn(async move {
        let mut observed = None;
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(step(&a, "l", "me", &mut observed).await.map_err(|e| e.to_string()));
        }
        out
    });
    expect(
        &mut h,
        Method::GET,
        PATH,
        StatusCode::NOT_FOUND,
        status(404, "NotFound"),
    )
    .await;
    let sent = expect(
        &mut h,
        Method::POST,
        LEASES,
        StatusCode::CREATED,
        lease_json("me", Timestamp::now(), "1"),
    )
    .await;
    assert_eq!(sent["spec"]["holderIdentity"], "me");
    assert_eq!(sent["spec"]["leaseDurationSeconds"], 15);
    expect(
        &mut h,
        Method::GET,
        PATH,
        StatusCode::OK,
        lease_json("me", Timestamp::now(), "1"),
    )
    .await;
    expect(&mut h, Method::PUT, PATH, StatusCode::CONFLICT, status(409, "Conflict")).await;
    expect(
        &mut h,
        Method::GET,
        PATH,
        StatusCode::OK,
        lease_json("other", Timestamp::now(), "2"),
    )
    .await;
    let out = task.await.expect("the steps ran");
    assert_eq!(out[0], Ok(Held::Yes));
    assert!(
        out[1].is_err(),
        "a 409 on a renewal is retried, not taken as lost: {:?}",
        out[1]
    );
    assert_eq!(out[2], Ok(Held::No), "a live holder is followed, with no write");
}

fn spec(holder: Option<&str>, renewed: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: holder.map(String::from),
        lease_duration_seconds: Some(15),
        renew_time: Some(MicroTime(renewed)),
        ..Default::default()
    }
}

fn lease(spec: LeaseSpec, rv: &str) -> Lease {
    let mut l = Lease {
        spec: Some(spec),
        ..Default::default()
    };
    l.metadata.resource_version = Some(rv.into());
    l
}

#[test]
fn election_rule_on_the_monotonic_clock_whatever_the_holders_wall_clock_says() {
    let t0 = Instant::now();
    let wall = Timestamp::now();
    let seen = |s: &LeaseSpec, at: Instant| Observed::update(None, Record::of(Some(&lease(s.clone(), "7"))), at);
    let live = spec(Some("b"), wall);
    assert_eq!(
        decide(None, "a", &Observed::update(None, Record::of(None), t0), t0),
        Action::Create
    );
    assert_eq!(
        decide(Some(&spec(Some("a"), wall)), "a", &seen(&live, t0), t0),
        Action::Renew
    );
    assert_eq!(
        decide(Some(&live), "a", &seen(&live, t0), t0 + Duration::from_secs(14)),
        Action::Follow
    );
    assert_eq!(
        decide(Some(&live), "a", &seen(&live, t0), t0 + LEASE_DURATION),
        Action::TakeOver
    );
    // Skew: a renewTime a day behind or ahead of our clock changes nothing.
    for skewed in [
        wall - SignedDuration::from_hours(24),
        wall + SignedDuration::from_hours(24),
    ] {
        let s = spec(Some("b"), skewed);
        assert_eq!(
            decide(Some(&s), "a", &seen(&s, t0), t0 + Duration::from_secs(1)),
            Action::Follow
        );
        assert_eq!(
            decide(Some(&s), "a", &seen(&s, t0), t0 + LEASE_DURATION),
            Action::TakeOver
        );
    }
    let mut no_renew = spec(Some("b"), wall);
    no_renew.renew_time = None;
    assert_eq!(
        decide(Some(&no_renew), "a", &seen(&no_renew, t0), t0 + Duration::from_secs(1)),
        Action::Follow,
        "no renewTime is no proof of death either"
    );
    let released = spec(None, wall);
    assert_eq!(
        decide(Some(&released), "a", &seen(&released, t0), t0),
        Action::TakeOver,
        "a released lease is free"
    );
    let mut short = spec(Some("b"), wall);
    short.lease_duration_seconds = Some(5);
    assert_eq!(
        decide(Some(&short), "a", &seen(&short, t0), t0 + Duration::from_secs(5)),
        Action::TakeOver,
        "the holder's own duration counts"
    );
}

#[test]
fn any_change_of_holder_renew_time_or_version_restarts_the_clock() {
    let t0 = Instant::now();
    let wall = Timestamp::now();
    let rec = |holder: &str, renewed: Timestamp, rv: &str| Record::of(Some(&lease(spec(Some(holder), renewed), rv)));
    let first = Observed::update(None, rec("b", wall, "7"), t0);
    let later = t0 + Duration::from_secs(9);
    assert_eq!(
        Observed::update(Some(first.clone()), rec("b", wall, "7"), later).seen,
        t0,
        "unchanged"
    );
    for changed in [
        rec("c", wall, "7"),
        rec("b", wall + SignedDuration::from_secs(1), "7"),
        rec("b", wall, "8"),
    ] {
        assert_eq!(Observed::update(Some(first.clone()), changed, later).seen, later);
    }
}
