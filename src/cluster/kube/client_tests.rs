//! Tests of `cluster/kube/client.rs`.

use super::*;
use http_body_util::{BodyExt, StreamBody};
use std::convert::Infallible;

type Silent = StreamBody<futures_util::stream::Pending<Result<Frame<Bytes>, Infallible>>>;

fn silent() -> Silent {
    StreamBody::new(futures_util::stream::pending())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).expect("a valid request")
}

#[tokio::test(start_paused = true)]
async fn a_call_without_an_answer_fails_at_its_deadline() {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Silent>>();
    let mut svc = DeadlineLayer(CALL_TIMEOUT).layer(svc);
    handle.allow(1);
    std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    let start = Instant::now();
    let call = svc.call(get("/apis/coordination.k8s.io/v1/namespaces/ns/leases/l"));
    let (_req, _pending_answer) = handle.next_request().await.expect("the request went out");
    let Err(err) = call.await else {
        panic!("no answer: an error")
    };
    assert!(err.is::<TimedOut>(), "{err}");
    assert_eq!(start.elapsed(), CALL_TIMEOUT);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_answer_fails_at_the_same_deadline_but_a_watch_may_stay_silent() {
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Silent>>();
    let mut svc = DeadlineLayer(CALL_TIMEOUT).layer(svc);
    handle.allow(2);
    for (uri, watch) in [
        ("/api/v1/namespaces/ns/configmaps?limit=500", false),
        ("/api/v1/namespaces/ns/configmaps?watch=true&timeoutSeconds=290", true),
    ] {
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
        let start = Instant::now();
        let call = svc.call(get(uri));
        let (_, send) = handle.next_request().await.expect("the request went out");
        tokio::time::sleep(Duration::from_secs(3)).await;
        send.send_response(Response::new(silent()));
        let body = call.await.expect("headers came in time").into_body();
        if watch {
            let idle = tokio::time::timeout(CALL_TIMEOUT * 20, body.collect()).await;
            assert!(
                idle.is_err(),
                "a silent watch is still open after {:?}",
                start.elapsed()
            );
        } else {
            let Err(err) = body.collect().await else {
                panic!("a stalled body fails")
            };
            assert!(err.is::<TimedOut>(), "{err}");
            assert_eq!(start.elapsed(), CALL_TIMEOUT, "headers and body share one deadline");
        }
    }
}

#[test]
fn watches_are_told_apart_by_their_query() {
    assert!(is_watch(&Uri::from_static("/api/v1/pods?watch=true&resourceVersion=1")));
    assert!(is_watch(&Uri::from_static("/api/v1/pods?labelSelector=a&watch=1")));
    assert!(!is_watch(&Uri::from_static("/api/v1/pods?watch=false")));
    assert!(!is_watch(&Uri::from_static("/api/v1/pods?fieldSelector=watch%3Dtrue")));
    assert!(!is_watch(&Uri::from_static("/api/v1/pods")));
}
