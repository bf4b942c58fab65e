//! Game-day overrides through the admin API, and the JSON views.

use crate::support::{pod_and_agent, request, wait_until};
use failover_agent::demo::pod::Mode;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn override_forces_fail_and_pass_and_clears() {
    let (pod, a) = pod_and_agent(&["app1", "app2"], "{ riseCount: 1 }").await;

    let (code, body) = request(a.admin, "POST", "/apps/app1/override?mode=fail").await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["override"]["mode"], "fail");
    assert_eq!(v["override"]["source"], "admin");
    assert_eq!(
        a.health("app1").await,
        (503, "UNHEALTHY app1: override: fail\n".into()),
        "applies at once"
    );
    assert_eq!(a.health("app2").await.0, 200, "an override touches only its app");

    request(a.admin, "POST", "/apps/app1/override?mode=clear").await;
    assert_eq!(a.health("app1").await.0, 200);

    // A drill with a time limit ends by itself.
    pod.set_mode(Mode::Failing);
    assert!(a.wait_for("app2", 503).await);
    request(a.admin, "POST", "/apps/app2/override?mode=pass&ttlSeconds=1").await;
    assert_eq!(a.health("app2").await, (200, "HEALTHY app2\n".into()));
    let back = wait_until(Duration::from_secs(4), || async { a.health("app2").await.0 == 503 }).await;
    assert!(
        back.is_some_and(|t| t >= Duration::from_millis(500)),
        "ttl override should last ~1 s, lasted {back:?}"
    );

    // DELETE clears too; bad input is refused with a reason.
    request(a.admin, "POST", "/apps/app2/override?mode=pass").await;
    assert_eq!(request(a.admin, "DELETE", "/apps/app2/override").await.0, 200);
    assert_eq!(a.health("app2").await.0, 503);
    assert_eq!(request(a.admin, "POST", "/apps/app2/override?mode=maybe").await.0, 400);
    assert_eq!(
        request(a.admin, "POST", "/apps/app2/override?mode=fail&ttlSeconds=0")
            .await
            .0,
        400
    );
    assert_eq!(request(a.admin, "POST", "/apps/nope/override?mode=fail").await.0, 404);
    assert_eq!(request(a.admin, "GET", "/apps/app2/override").await.0, 405);
    // The public port cannot set overrides.
    assert_eq!(request(a.health, "POST", "/apps/app2/override?mode=pass").await.0, 405);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_json_and_status_page_show_verdict_reason_signals_and_transitions() {
    let (pod, a) = pod_and_agent(&["app1"], "{ riseCount: 1, fallCount: 1 }").await;
    pod.set_mode(Mode::Failing);
    assert!(a.wait_for("app1", 503).await);

    let (code, body) = request(a.admin, "GET", "/apps").await;
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let app = &v[0];
    assert_eq!(app["name"], "app1");
    assert_eq!(app["verdict"], "unhealthy");
    assert_eq!(app["reason"], "0/1 endpoints healthy, need 1");
    assert_eq!(app["endpoints"][0]["target"], pod.url());
    assert_eq!(app["endpoints"][0]["lastOutcome"], "bad_status");
    assert_eq!(app["endpoints"][0]["lastStatus"], 503);
    assert_eq!(
        app["transitions"].as_array().unwrap().last().unwrap()["to"],
        "unhealthy"
    );
    assert!(app["lastTransitionTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(request(a.admin, "GET", "/apps/nope").await.0, 404);

    let (code, page) = request(a.admin, "GET", "/").await;
    assert_eq!(code, 200);
    for want in [
        "http-equiv=refresh",
        "app1",
        "UNHEALTHY",
        "0/1 endpoints healthy, need 1",
        &pod.url(),
        "bad_status",
    ] {
        assert!(page.contains(want), "status page lacks {want:?}");
    }
}
