//! The admin listener: `/metrics`, `/apps`, `/apps/<app>`, the status page at `/`,
//! and `POST /apps/<app>/override` for game days.
//!
//! Overrides change what Route 53 sees, so by default they are accepted only from
//! loopback peers (`kubectl port-forward` and `kubectl exec` arrive that way); set
//! `allowRemoteOverride: true` to accept them from anywhere the port is reachable.
//!
//! Against cross-site request forgery (an operator with a port-forward open who
//! visits a hostile page), see [`Guard`]:
//! - every request that is not `GET` or `HEAD` must carry `X-Failover-Agent: 1`, a
//!   header a browser sends cross-site only after a CORS preflight, which this
//!   listener never approves;
//! - any request whose `Origin` is not this listener's own (`http://<Host>`) is refused;
//! - if `FAILOVER_AGENT_ADMIN_TOKEN_FILE` names a file, requests that are not `GET` or
//!   `HEAD` also need `Authorization: Bearer <the file's content>`.
//!
//! `GET` endpoints need none of this, so Prometheus and the kubelet keep working.

pub use super::admin_guard::{init, Guard, TokenError, CSRF_HEADER, TOKEN_FILE_ENV};

use super::admin_guard::guard;
use super::{respond, text, Body, Context};
use crate::model::OverrideMode;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Longest drill override accepted through the API: one day.
pub const MAX_OVERRIDE_TTL: Duration = Duration::from_secs(86_400);

/// Answers one admin request under the process's [`Guard`] (see [`init`]).
/// Request bodies are ignored: every input is in the path and query, so nothing
/// is read from the socket past the head.
pub fn handle<B>(req: &Request<B>, peer: SocketAddr, ctx: &Context) -> Response<Body> {
    match guard() {
        Ok(g) => handle_with(req, peer, ctx, g),
        // Reads need no token, so a bad token file blocks only changes.
        Err(_) if matches!(*req.method(), Method::GET | Method::HEAD) => handle_with(req, peer, ctx, &Guard::default()),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

/// Answers one admin request under `guard`.
pub fn handle_with<B>(req: &Request<B>, peer: SocketAddr, ctx: &Context, guard: &Guard) -> Response<Body> {
    if let Some(refused) = guard.check(req) {
        return refused;
    }
    let path = req.uri().path();
    let m = req.method();
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (m, segs.as_slice()) {
        (&Method::GET, [""]) => html(super::page::render(ctx, Instant::now())),
        (&Method::GET, ["healthz"]) => text(StatusCode::OK, "ok\n"),
        (&Method::GET, ["readyz"]) if ctx.ready.is_ready() => text(StatusCode::OK, "ready\n"),
        (&Method::GET, ["readyz"]) => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        (&Method::GET, ["metrics"]) => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            ctx.metrics.encode(),
        ),
        (&Method::GET, ["apps"]) => {
            let now = Instant::now();
            let views: Vec<_> = ctx
                .apps
                .list()
                .iter()
                .map(|a| a.view(now).stale(ctx.apps.is_stale()))
                .collect();
            json(StatusCode::OK, &views)
        }
        (&Method::GET, ["apps", name]) => match ctx.apps.get(name) {
            Some(app) => json(StatusCode::OK, &app.view(Instant::now()).stale(ctx.apps.is_stale())),
            None => json_error(StatusCode::NOT_FOUND, "unknown app"),
        },
        (&Method::POST | &Method::DELETE, ["apps", name, "override"]) => override_(req, peer, name, ctx),
        (_, ["apps", _, "override"]) => json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST ?mode=fail|pass|none|clear, or DELETE",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn override_<B>(req: &Request<B>, peer: SocketAddr, name: &str, ctx: &Context) -> Response<Body> {
    if !ctx.allow_remote_override && !peer.ip().is_loopback() {
        return json_error(
            StatusCode::FORBIDDEN,
            "overrides are accepted from loopback only; set allowRemoteOverride: true to change that",
        );
    }
    let Some(app) = ctx.apps.get(name) else {
        return json_error(StatusCode::NOT_FOUND, "unknown app");
    };
    if app.is_remote() {
        // One replica's override would make replicas disagree; the resource is shared.
        return json_error(
            StatusCode::CONFLICT,
            "this app comes from an AppHealth resource: set spec.override there, e.g. kubectl patch apphealth NAME -n NAMESPACE --type merge -p '{\"spec\":{\"override\":\"fail\"}}'",
        );
    }
    let query = req.uri().query().unwrap_or("");
    let param = |key: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    };
    let mode = if req.method() == Method::DELETE {
        None
    } else {
        match param("mode") {
            Some("clear") => None,
            Some(m) => match OverrideMode::parse(m) {
                Some(mode) => Some(mode),
                None => return json_error(StatusCode::BAD_REQUEST, "mode must be fail, pass, none or clear"),
            },
            None => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "missing mode: POST /apps/<app>/override?mode=fail|pass|none|clear[&ttlSeconds=N]",
                )
            }
        }
    };
    let ttl = match param("ttlSeconds").map(str::parse::<u64>) {
        None => None,
        Some(Ok(s)) if s > 0 && Duration::from_secs(s) <= MAX_OVERRIDE_TTL => Some(Duration::from_secs(s)),
        Some(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "ttlSeconds must be a whole number from 1 to 86400",
            )
        }
    };
    let now = Instant::now();
    app.set_override(mode, ttl, now);
    json(StatusCode::OK, &app.view(now))
}

fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Response<Body> {
    match serde_json::to_vec_pretty(v) {
        Ok(body) => respond(status, "application/json", body),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding failed: {e}\n")),
    }
}

fn json_error(status: StatusCode, msg: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": msg }))
}

fn html(body: String) -> Response<Body> {
    let mut r = respond(StatusCode::OK, "text/html; charset=utf-8", body);
    let csp = HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'");
    r.headers_mut().insert("content-security-policy", csp);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::Readiness;
    use crate::state::Apps;
    use crate::telemetry::Metrics;
    use std::sync::Arc;

    fn ctx(allow_remote_override: bool) -> Context {
        let cfg =
            crate::config::parse("region: r\napps:\n  - name: app1\n    endpoints: [\"tcp://127.0.0.1:9\"]\n").unwrap();
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
}
