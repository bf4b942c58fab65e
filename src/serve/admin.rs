//! The admin listener: `/metrics`, `/apps`, `/apps/<app>`, the status page at `/`,
//! and `POST /apps/<app>/override` for game days.
//!
//! Overrides change what Route 53 sees, so by default they are accepted only from
//! loopback peers (`kubectl port-forward` and `kubectl exec` arrive that way); set
//! `allowRemoteOverride: true` to accept them from anywhere the port is reachable.

use super::{respond, text, Body, Context};
use crate::model::OverrideMode;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Longest drill override accepted through the API: one day.
pub const MAX_OVERRIDE_TTL: Duration = Duration::from_secs(86_400);

/// Answers one admin request. Request bodies are ignored: every input is in the
/// path and query, so nothing is read from the socket past the head.
pub fn handle<B>(req: &Request<B>, peer: SocketAddr, ctx: &Context) -> Response<Body> {
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

    fn post(path: &str) -> Request<()> {
        Request::post(path).body(()).unwrap()
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
