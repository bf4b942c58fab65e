//! The election loop on a paused clock, against a mocked API server: terms begin,
//! renew, run out and end on time, and only our own Lease is released.

use super::tests::{expect, lease_json, mock_client, status, Handle, LEASES, PATH};
use super::*;
use http::{Method, StatusCode};
use k8s_openapi::jiff::Timestamp;

/// Answers a GET with a Lease held by `holder` and any write with success.
async fn answer_round(h: &mut Handle, holder: &str, rv: &str) {
    expect(
        h,
        Method::GET,
        PATH,
        StatusCode::OK,
        lease_json(holder, Timestamp::now(), rv),
    )
    .await;
    if holder == "me" {
        expect(
            h,
            Method::PUT,
            PATH,
            StatusCode::OK,
            lease_json("me", Timestamp::now(), rv),
        )
        .await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_leader_whose_renewals_hang_steps_down_at_the_renew_deadline_and_its_term_ends() {
    let (client, mut h) = mock_client();
    let shutdown = CancellationToken::new();
    let (tx, mut terms) = watch::channel(None);
    let gauge = crate::telemetry::Leader::new(prometheus::IntGauge::new("leader", "test").expect("a gauge"));
    let t0 = Instant::now();
    let election = tokio::spawn(run(
        Api::namespaced(client, "ns"),
        "l".into(),
        "me".into(),
        tx,
        gauge.clone(),
        shutdown.clone(),
    ));
    expect(
        &mut h,
        Method::GET,
        PATH,
        StatusCode::NOT_FOUND,
        status(404, "NotFound"),
    )
    .await;
    expect(
        &mut h,
        Method::POST,
        LEASES,
        StatusCode::CREATED,
        lease_json("me", Timestamp::now(), "1"),
    )
    .await;
    let term = terms
        .wait_for(Option::is_some)
        .await
        .expect("a term")
        .clone()
        .expect("a term");
    assert_eq!(gauge.get(), 1);
    assert_eq!(term.valid_until(), t0 + RENEW_DEADLINE);
    // One renewal, RETRY_PERIOD later, moves the deadline.
    answer_round(&mut h, "me", "2").await;
    let renewed_at = Instant::now();
    assert_eq!(renewed_at, t0 + RETRY_PERIOD);
    // From here on the API server takes every request and never answers.
    let mut hung = Vec::new();
    let token = term.token().clone();
    let stepped_down = loop {
        tokio::select! {
            r = h.next_request() => hung.push(r.expect("a request").1),
            _ = token.cancelled() => break Instant::now(),
        }
    };
    assert_eq!(
        stepped_down,
        renewed_at + RENEW_DEADLINE,
        "stepped down exactly at the renew deadline"
    );
    assert!(hung.len() >= 3, "it kept trying every step: {}", hung.len());
    assert!(term.is_over() && gauge.get() == 0);
    assert!(terms.borrow().is_none());
    shutdown.cancel();
    election.await.expect("the election stopped");
    // Steps already sent when shutdown came may still be queued (reads of the
    // Lease); none may be a write: no term at shutdown, so no release.
    while let Some((req, _)) = h.next_request().await {
        assert_eq!(req.method(), Method::GET, "no term at shutdown: no release");
    }
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_sees_another_holder_steps_down_at_once_and_releases_only_its_own_lease() {
    let (client, mut h) = mock_client();
    let shutdown = CancellationToken::new();
    let (tx, mut terms) = watch::channel(None);
    let gauge = crate::telemetry::Leader::new(prometheus::IntGauge::new("leader", "test").expect("a gauge"));
    let election = tokio::spawn(run(
        Api::namespaced(client, "ns"),
        "l".into(),
        "me".into(),
        tx,
        gauge.clone(),
        shutdown.clone(),
    ));
    answer_round(&mut h, "me", "1").await;
    let first = terms
        .wait_for(Option::is_some)
        .await
        .expect("a term")
        .clone()
        .expect("a term");
    answer_round(&mut h, "other", "2").await;
    tokio::time::timeout(Duration::from_millis(1), first.token().cancelled())
        .await
        .expect("the term ended as soon as another holder was seen");
    assert_eq!(gauge.get(), 0);
    // Ours again (the other released it): a new term, then shutdown releases it.
    expect(&mut h, Method::GET, PATH, StatusCode::OK, serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": { "name": "l", "namespace": "ns", "resourceVersion": "3" }, "spec": { "leaseDurationSeconds": 15 } })).await;
    expect(
        &mut h,
        Method::PUT,
        PATH,
        StatusCode::OK,
        lease_json("me", Timestamp::now(), "4"),
    )
    .await;
    let second = terms
        .wait_for(Option::is_some)
        .await
        .expect("a term")
        .clone()
        .expect("a term");
    assert!(!second.is_over() && first.is_over());
    shutdown.cancel();
    let sent = {
        expect(
            &mut h,
            Method::GET,
            PATH,
            StatusCode::OK,
            lease_json("me", Timestamp::now(), "4"),
        )
        .await;
        expect(
            &mut h,
            Method::PUT,
            PATH,
            StatusCode::OK,
            lease_json("me", Timestamp::now(), "5"),
        )
        .await
    };
    assert!(sent["spec"]["holderIdentity"].is_null(), "released: {sent}");
    assert_eq!(
        sent["metadata"]["resourceVersion"], "4",
        "conditional on the version read"
    );
    election.await.expect("the election stopped");
    assert!(second.is_over() && gauge.get() == 0);
}
