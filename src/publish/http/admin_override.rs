//! `POST|DELETE /apps/<app>/override` on the admin listener: a drill override of
//! one app's verdict, for game days.
//!
//! Guarantees: an override is accepted only from loopback peers unless
//! `allowRemoteOverride` is set; never for an app that comes from an `AppHealth`
//! resource (the override belongs in its spec, shared by every replica); and never
//! for longer than [`MAX_OVERRIDE_TTL`]. The [`super::admin_guard::Guard`] has
//! already been passed.

use super::admin::{json, json_error};
use super::{Body, Context};
use crate::model::OverrideMode;
use http::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Longest drill override accepted through the API: one day.
pub const MAX_OVERRIDE_TTL: Duration = Duration::from_secs(86_400);

/// Sets (`POST ?mode=fail|pass|none[&ttlSeconds=N]`) or clears (`POST ?mode=clear`,
/// `DELETE`) the override of the app `name`, and answers with its view.
pub(super) fn handle<B>(req: &Request<B>, peer: SocketAddr, name: &str, ctx: &Context) -> Response<Body> {
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
