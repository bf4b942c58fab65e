//! Game-day overrides through the admin API, and the JSON views.

use crate::support::{pod_and_agent, request, request_with, wait_until, AgentProcess};
use failover_agent::cli::demo::pod::Mode;
use std::net::SocketAddr;
use std::time::Duration;

/// The header every state-changing admin request needs (CSRF).
const CSRF: (&str, &str) = ("X-Failover-Agent", "1");

/// An admin request as curl sends it with `-H 'X-Failover-Agent: 1'`.
async fn change(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    request_with(addr, method, path, &[CSRF]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn override_forces_fail_and_pass_and_clears() {
    let (pod, a) = pod_and_agent(&["app1", "app2"], "{ riseCount: 1 }").await;

    let (code, body) = change(a.admin, "POST", "/apps/app1/override?mode=fail").await;
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

    change(a.admin, "POST", "/apps/app1/override?mode=clear").await;
    assert_eq!(a.health("app1").await.0, 200);

    // A drill with a time limit ends by itself.
    pod.set_mode(Mode::Failing);
    assert!(a.wait_for("app2", 503).await);
    change(a.admin, "POST", "/apps/app2/override?mode=pass&ttlSeconds=1").await;
    assert_eq!(a.health("app2").await, (200, "HEALTHY app2\n".into()));
    let back = wait_until(Duration::from_secs(4), || async { a.health("app2").await.0 == 503 }).await;
    assert!(
        back.is_some_and(|t| t >= Duration::from_millis(500)),
        "ttl override should last ~1 s, lasted {back:?}"
    );

    // DELETE clears too; bad input is refused with a reason.
    change(a.admin, "POST", "/apps/app2/override?mode=pass").await;
    assert_eq!(change(a.admin, "DELETE", "/apps/app2/override").await.0, 200);
    assert_eq!(a.health("app2").await.0, 503);
    assert_eq!(change(a.admin, "POST", "/apps/app2/override?mode=maybe").await.0, 400);
    assert_eq!(
        change(a.admin, "POST", "/apps/app2/override?mode=fail&ttlSeconds=0")
            .await
            .0,
        400
    );
    assert_eq!(change(a.admin, "POST", "/apps/nope/override?mode=fail").await.0, 404);
    assert_eq!(request(a.admin, "GET", "/apps/app2/override").await.0, 405);
    // The public port cannot set overrides.
    assert_eq!(change(a.health, "POST", "/apps/app2/override?mode=pass").await.0, 405);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overrides_need_the_header_and_a_same_origin() {
    let (_pod, a) = pod_and_agent(&["app1"], "{ riseCount: 1 }").await;

    // What a hostile page can make a browser send: no custom header, or a foreign Origin.
    let (code, body) = request(a.admin, "POST", "/apps/app1/override?mode=fail").await;
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        body,
        "state-changing admin requests need the header X-Failover-Agent: 1\n"
    );
    assert_eq!(request(a.admin, "DELETE", "/apps/app1/override").await.0, 403);
    assert_eq!(
        request(a.admin, "OPTIONS", "/apps/app1/override").await.0,
        403,
        "no preflight is approved"
    );
    let foreign = [CSRF, ("Origin", "https://evil.example")];
    let (code, body) = request_with(a.admin, "POST", "/apps/app1/override?mode=fail", &foreign).await;
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("Origin"), "{body}");
    assert_eq!(
        request_with(
            a.admin,
            "POST",
            "/apps/app1/override?mode=fail",
            &[CSRF, ("Origin", "null")]
        )
        .await
        .0,
        403
    );
    assert_eq!(
        a.health("app1").await,
        (200, "HEALTHY app1\n".into()),
        "refusals change nothing"
    );
    let (_, app) = request(a.admin, "GET", "/apps/app1").await;
    assert!(!app.contains("\"mode\": \"fail\""), "{app}");

    // The listener's own origin (Host "test" in these requests) and the header: accepted.
    let own = [CSRF, ("Origin", "http://test")];
    assert_eq!(
        request_with(a.admin, "POST", "/apps/app1/override?mode=fail", &own)
            .await
            .0,
        200
    );
    assert_eq!(a.health("app1").await.0, 503);
    // Reads need nothing (Prometheus).
    assert_eq!(request(a.admin, "GET", "/metrics").await.0, 200);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_makes_changes_need_the_bearer_token() {
    let pod = failover_agent::cli::demo::pod::Pod::start("127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.yaml");
    std::fs::write(
        &cfg,
        crate::support::config(
            &[("app1", vec![pod.url()])],
            "{ intervalSeconds: 0.2, timeoutSeconds: 0.1 }",
            "{ riseCount: 1 }",
        ),
    )
    .unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-admin-token\n").unwrap();
    let agent = AgentProcess::start(
        &["--config".as_ref(), cfg.as_os_str()],
        &[("FAILOVER_AGENT_ADMIN_TOKEN_FILE", token.display().to_string())],
        "error",
    );
    let up = wait_until(Duration::from_secs(10), || async {
        crate::support::get(agent.health, "/health/app1").await.0 == 200
    })
    .await;
    assert!(up.is_some(), "the agent never served app1");

    let path = "/apps/app1/override?mode=fail";
    let (code, body) = change(agent.admin, "POST", path).await;
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("Authorization: Bearer"), "{body}");
    let wrong = [CSRF, ("Authorization", "Bearer s3cret-admin-tokeN")];
    assert_eq!(request_with(agent.admin, "POST", path, &wrong).await.0, 401);
    let no_header = [("Authorization", "Bearer s3cret-admin-token")];
    assert_eq!(request_with(agent.admin, "POST", path, &no_header).await.0, 403);
    assert_eq!(
        crate::support::get(agent.health, "/health/app1").await.0,
        200,
        "refusals change nothing"
    );

    let right = [CSRF, ("Authorization", "Bearer s3cret-admin-token")];
    assert_eq!(request_with(agent.admin, "POST", path, &right).await.0, 200);
    assert_eq!(crate::support::get(agent.health, "/health/app1").await.0, 503);
    assert_eq!(
        crate::support::get(agent.admin, "/apps/app1").await.0,
        200,
        "reads need no token"
    );
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

#[test]
fn a_missing_admin_token_file_is_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.yaml");
    std::fs::write(
        &cfg,
        "region: eu-west-1\napps:\n  - { name: app1, endpoints: [\"tcp://127.0.0.1:9\"] }\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_failover-agent"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("FAILOVER_AGENT_ADMIN_TOKEN_FILE", dir.path().join("missing"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("FAILOVER_AGENT_ADMIN_TOKEN_FILE"), "{err}");
}
