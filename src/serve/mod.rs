//! The HTTP listeners: [`public`] (the `/health/<app>` port that faces Route 53)
//! and [`admin`] (metrics, JSON, status page, overrides).
//!
//! Both run on [`serve`], a small hardened HTTP/1.1 accept loop:
//! - at most `max_connections` open at once; past that, new connections are closed
//!   at once and counted, so a flood cannot exhaust memory or file descriptors;
//! - a request head must be complete within `header_read_timeout` of its first
//!   byte, and the first within that of the connection's start (no slowloris,
//!   [`head`]); an idle keep-alive connection is kept `idle_timeout`, longer than a
//!   load balancer in front keeps its own (the ALB's default is 60 s);
//! - request heads are capped at `max_header_bytes`;
//! - on shutdown, it stops accepting and gives open connections a grace period.

pub mod admin;
mod admin_guard;
mod head;
mod page;
pub mod public;

use crate::state::Apps;
use crate::telemetry::Metrics;
use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub type Body = Full<Bytes>;

/// Limits applied to every connection of a listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    /// How long open connections may finish after shutdown begins.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(75),
            max_header_bytes: 8 * 1024,
            drain: Duration::from_secs(5),
        }
    }
}

/// The agent's readiness. Once [`Readiness::set_ready`] has been called,
/// [`Readiness::is_ready`] returns true for the rest of the process's life.
#[derive(Debug, Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    pub fn set_ready(&self) {
        self.0.store(true, Ordering::Release);
    }
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// What the handlers read. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    pub apps: Arc<Apps>,
    pub metrics: Metrics,
    pub ready: Arc<Readiness>,
    pub region: String,
    pub allow_remote_override: bool,
}

/// Accepts connections on `listener` and serves each with `handler` until
/// `shutdown` is cancelled, then drains open connections for `limits.drain`.
/// `conns` optionally tracks the open-connection gauge and the rejection counter.
pub async fn serve<H, F>(
    listener: TcpListener,
    limits: Limits,
    handler: H,
    conns: Option<&Metrics>,
    shutdown: CancellationToken,
) where
    H: Fn(http::Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // hyper's one timer runs while waiting for a head, idle time included: it is
        // the idle timeout here, and `head::HeadDeadline` times each head.
        .header_read_timeout(limits.idle_timeout.max(limits.header_read_timeout))
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(64);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let (open, rejected) = match conns {
        Some(m) => (
            Some(m.public_connections_open.clone()),
            Some(m.public_connections_rejected.clone()),
        ),
        None => (None, None),
    };
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if let Some(r) = &rejected {
                r.inc();
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let h = handler.clone();
        let done = Arc::new(head::HeadDone::default());
        let io = head::HeadDeadline::new(stream, done.clone(), limits.header_read_timeout);
        let svc = hyper::service::service_fn(move |req| {
            done.mark();
            let fut = h(req, peer);
            async move { Ok::<_, Infallible>(fut.await) }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(io), svc));
        let open = open.clone();
        let span = tracing::Span::current();
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                if let Some(g) = &open {
                    g.inc();
                }
                let _ = conn.await;
                if let Some(g) = &open {
                    g.dec();
                }
                drop(permit);
            },
            span,
        ));
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::info!("drain period ended with connections still open");
    }
}

/// A response with the headers every answer carries: its content type,
/// `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`.
pub fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", body)
}
