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
pub use super::admin_override::MAX_OVERRIDE_TTL;

use super::admin_guard::guard;
use super::{respond, text, Body, Context};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use tokio::time::Instant;

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
        (&Method::POST | &Method::DELETE, ["apps", name, "override"]) => {
            super::admin_override::handle(req, peer, name, ctx)
        }
        (_, ["apps", _, "override"]) => json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST ?mode=fail|pass|none|clear, or DELETE",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// `v` as pretty JSON with `status`; a 500 if it cannot be encoded.
pub(super) fn json<T: serde::Serialize>(status: StatusCode, v: &T) -> Response<Body> {
    match serde_json::to_vec_pretty(v) {
        Ok(body) => respond(status, "application/json", body),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding failed: {e}\n")),
    }
}

/// `{"error": msg}` with `status`.
pub(super) fn json_error(status: StatusCode, msg: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": msg }))
}

fn html(body: String) -> Response<Body> {
    let mut r = respond(StatusCode::OK, "text/html; charset=utf-8", body);
    let csp = HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'");
    r.headers_mut().insert("content-security-policy", csp);
    r
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
