//! Tests of the admin listener: the CSRF header, Origin and token rules, override
//! permissions and readiness, through [`super::handle_with`].

use super::*;
use crate::publish::http::Readiness;
use crate::telemetry::Metrics;
use crate::verdict::store::Apps;
use std::sync::Arc;

fn ctx(allow_remote_override: bool) -> Context {
    let cfg = crate::spec::parse("region: r\napps:\n  - name: app1\n    endpoints: [\"tcp://127.0.0.1:9\"]\n").unwrap();
    let metrics = Metrics::new("r").unwrap();
    Context {
        apps: Arc::new(Apps::from_config(&cfg.apps, &metrics)),
        metrics,
        ready: Arc::new(Readiness::default()),
        region: "r".into(),
        allow_remote_override,
    }
}

/// A POST as `curl -H 'X-Failover-Agent: 1'` sends it.
fn post(path: &str) -> Request<()> {
    Request::post(path)
        .header("host", "127.0.0.1:9090")
        .header(CSRF_HEADER, "1")
        .body(())
        .unwrap()
}

fn status(req: &Request<()>, c: &Context, g: &Guard) -> StatusCode {
    handle_with(req, "127.0.0.1:5555".parse().unwrap(), c, g).status()
}

fn healthy(c: &Context) -> bool {
    c.apps.get("app1").unwrap().public().healthy
}

#[tokio::test]
async fn state_changes_need_the_custom_header() {
    let (c, g) = (ctx(false), Guard::default());
    let bare = Request::post("/apps/app1/override?mode=fail").body(()).unwrap();
    let resp = handle_with(&bare, "127.0.0.1:5555".parse().unwrap(), &c, &g);
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(
        body,
        "state-changing admin requests need the header X-Failover-Agent: 1\n"
    );
    assert!(healthy(&c), "a refused override changes nothing");
    for bad in ["0", "true", ""] {
        let req = Request::post("/apps/app1/override?mode=fail")
            .header(CSRF_HEADER, bad)
            .body(())
            .unwrap();
        assert_eq!(status(&req, &c, &g), StatusCode::FORBIDDEN, "{bad:?}");
    }
    // Every other method that is not GET or HEAD too, even on unknown paths,
    // and a CORS preflight is never approved.
    for m in [Method::DELETE, Method::PUT, Method::PATCH, Method::OPTIONS] {
        let req = Request::builder()
            .method(m.clone())
            .uri("/apps/app1/override")
            .body(())
            .unwrap();
        assert_eq!(status(&req, &c, &g), StatusCode::FORBIDDEN, "{m}");
    }
    assert_eq!(status(&post("/nope"), &c, &g), StatusCode::NOT_FOUND);
    assert!(healthy(&c));
    assert_eq!(status(&post("/apps/app1/override?mode=fail"), &c, &g), StatusCode::OK);
    assert!(!healthy(&c));
    // Reads stay open.
    let get = Request::get("/apps").body(()).unwrap();
    assert_eq!(status(&get, &c, &g), StatusCode::OK);
}

#[tokio::test]
async fn a_foreign_origin_is_refused() {
    let (c, g) = (ctx(false), Guard::default());
    let with_origin = |origin: &str| {
        let mut r = post("/apps/app1/override?mode=fail");
        r.headers_mut().insert("origin", origin.parse().unwrap());
        r
    };
    for foreign in [
        "https://evil.example",
        "null",
        "http://127.0.0.1:9091",
        "https://127.0.0.1:9090",
        "http://127.0.0.1:9090/",
    ] {
        assert_eq!(
            status(&with_origin(foreign), &c, &g),
            StatusCode::FORBIDDEN,
            "{foreign}"
        );
        assert!(healthy(&c), "{foreign}: a refused override changes nothing");
    }
    let mut no_host = with_origin("http://127.0.0.1:9090");
    no_host.headers_mut().remove("host");
    assert_eq!(
        status(&no_host, &c, &g),
        StatusCode::FORBIDDEN,
        "no Host: no own origin"
    );
    let foreign_get = Request::get("/apps")
        .header("origin", "https://evil.example")
        .body(())
        .unwrap();
    assert_eq!(status(&foreign_get, &c, &g), StatusCode::FORBIDDEN);
    // The listener's own origin (the status page's) is fine.
    assert_eq!(status(&with_origin("http://127.0.0.1:9090"), &c, &g), StatusCode::OK);
    assert!(!healthy(&c));
}

#[tokio::test]
async fn a_configured_token_is_required_for_changes_only() {
    let c = ctx(false);
    let g = Guard::with_token(Some("s3cret-token"));
    let with_auth = |auth: &str| {
        let mut r = post("/apps/app1/override?mode=fail");
        r.headers_mut().insert("authorization", auth.parse().unwrap());
        r
    };
    assert_eq!(
        status(&post("/apps/app1/override?mode=fail"), &c, &g),
        StatusCode::UNAUTHORIZED
    );
    for wrong in [
        "Bearer s3cret-toke",
        "Bearer s3cret-token2",
        "Bearer S3cret-token",
        "Basic s3cret-token",
        "Bearer ",
        "Bearer",
        "s3cret-token",
    ] {
        assert_eq!(status(&with_auth(wrong), &c, &g), StatusCode::UNAUTHORIZED, "{wrong}");
    }
    assert!(healthy(&c), "a refused override changes nothing");
    // The token does not replace the header.
    let mut no_header = with_auth("Bearer s3cret-token");
    no_header.headers_mut().remove(CSRF_HEADER);
    assert_eq!(status(&no_header, &c, &g), StatusCode::FORBIDDEN);
    assert_eq!(status(&with_auth("bearer s3cret-token"), &c, &g), StatusCode::OK);
    assert!(!healthy(&c));
    assert_eq!(status(&with_auth("Bearer s3cret-token"), &c, &g), StatusCode::OK);
    let get = Request::get("/metrics").body(()).unwrap();
    assert_eq!(status(&get, &c, &g), StatusCode::OK, "reads need no token");
}

#[test]
fn token_file_errors_name_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let e = Guard::from_file(&missing).unwrap_err().to_string();
    assert!(e.starts_with("FAILOVER_AGENT_ADMIN_TOKEN_FILE="), "{e}");
    assert!(e.contains("missing"), "{e}");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, " \n").unwrap();
    let e = Guard::from_file(&empty).unwrap_err().to_string();
    assert!(e.contains(TOKEN_FILE_ENV) && e.contains("empty"), "{e}");
    let good = dir.path().join("token");
    std::fs::write(&good, "abc\n").unwrap();
    let g = Guard::from_file(&good).unwrap();
    assert!(g.has_token());
    assert!(!format!("{g:?}").contains("abc"), "Debug never shows the token");
}

#[tokio::test]
async fn overrides_from_remote_peers_need_explicit_permission() {
    let remote: SocketAddr = "10.1.2.3:5555".parse().unwrap();
    let local: SocketAddr = "127.0.0.1:5555".parse().unwrap();
    let c = ctx(false);
    assert_eq!(
        handle(&post("/apps/app1/override?mode=fail"), remote, &c).status(),
        StatusCode::FORBIDDEN
    );
    assert!(
        c.apps.get("app1").unwrap().public().healthy,
        "a refused override changes nothing"
    );
    assert_eq!(
        handle(&post("/apps/app1/override?mode=fail"), local, &c).status(),
        StatusCode::OK
    );
    assert!(!c.apps.get("app1").unwrap().public().healthy);
    let c = ctx(true);
    assert_eq!(
        handle(&post("/apps/app1/override?mode=fail"), remote, &c).status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn readyz_follows_readiness() {
    let c = ctx(false);
    let get = |p: &str| handle(&Request::get(p).body(()).unwrap(), "127.0.0.1:1".parse().unwrap(), &c).status();
    assert_eq!(get("/readyz"), StatusCode::SERVICE_UNAVAILABLE);
    c.ready.set_ready();
    assert_eq!(get("/readyz"), StatusCode::OK);
    assert_eq!(get("/healthz"), StatusCode::OK);
}
