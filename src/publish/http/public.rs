//! The public listener: `/health/<app>`, `/healthz` and `/readyz`, answered from
//! memory. This port faces the internet, so it says nothing but the verdict: no
//! addresses, no versions, and an unknown app name is never echoed back.

use super::{text, Body, Context};
use crate::spec::valid_app_name;
use crate::telemetry::HealthAnswer;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};

/// Longest request path answered; longer ones get 414.
pub const MAX_PATH: usize = 256;

/// Answers one public request. Pure apart from the atomic loads of the store.
pub fn handle<B>(req: &Request<B>, ctx: &Context) -> Response<Body> {
    let head = req.method() == Method::HEAD;
    let resp = route(req, ctx);
    if head {
        // Same status and headers as GET, including Content-Length, and no body.
        let (mut parts, body) = resp.into_parts();
        let len = http_body::Body::size_hint(&body).exact().unwrap_or(0);
        parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        return Response::from_parts(parts, Body::new(Bytes::new()));
    }
    resp
}

fn route<B>(req: &Request<B>, ctx: &Context) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let path = req.uri().path();
    if path.len() > MAX_PATH {
        ctx.metrics.health_answer(HealthAnswer::BadRequest);
        return text(StatusCode::URI_TOO_LONG, "path too long\n");
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if ctx.ready.is_ready() => text(StatusCode::OK, "ready\n"),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        _ => match path.strip_prefix("/health/") {
            Some(name) => health(name, ctx),
            None => text(StatusCode::NOT_FOUND, "not found\n"),
        },
    }
}

fn health(name: &str, ctx: &Context) -> Response<Body> {
    // Only plain app names pass: no `%`, `/`, `..` or anything a name cannot hold.
    if !valid_app_name(name) {
        ctx.metrics.health_answer(HealthAnswer::BadRequest);
        return text(StatusCode::BAD_REQUEST, "bad app name\n");
    }
    let Some(app) = ctx.apps.get(name) else {
        ctx.metrics.health_answer(HealthAnswer::UnknownApp);
        return text(StatusCode::NOT_FOUND, "unknown app\n");
    };
    let answer = app.public();
    let (status, counted) = if answer.healthy {
        (StatusCode::OK, HealthAnswer::Healthy)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, HealthAnswer::Unhealthy)
    };
    ctx.metrics.health_answer(counted);
    text(status, answer.body.clone())
}
