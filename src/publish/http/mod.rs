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
mod admin_override;
mod client;
mod connection;
mod conns;
mod head;
mod page;
pub mod public;

/// What a client of the admin API must send (`failover-agent drill` is one).
pub use admin_guard::{CSRF_HEADER, TOKEN_FILE_ENV};

use crate::spec::canonical;
use crate::spec::PublicListener;
use crate::telemetry::{Metrics, Refusal};
use crate::verdict::store::Apps;
use bytes::Bytes;
use connection::Connection;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioTimer;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub type Body = Full<Bytes>;

/// Limits applied to every connection of a listener.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connection caps, connection lifetime, write timeout, and whom to believe
    /// about the client (`publicListener` in the config).
    pub listener: PublicListener,
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    /// How long open connections may finish after shutdown begins.
    pub drain: Duration,
}

impl Limits {
    /// The public listener's limits, from its config.
    pub fn public(listener: &PublicListener) -> Limits {
        Limits {
            listener: listener.clone(),
            header_read_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(75),
            max_header_bytes: 8 * 1024,
            drain: Duration::from_secs(5),
        }
    }

    /// The admin listener's: 256 connections, no per-client cap (operators and
    /// Prometheus share few addresses), no proxies.
    pub fn admin() -> Limits {
        Limits::public(&PublicListener {
            max_connections: 256,
            max_connections_per_client: 256,
            ..PublicListener::default()
        })
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::public(&PublicListener::default())
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
/// `metrics`, for the public listener, counts open, refused and evicted
/// connections. The handler gets the request and the client's address (the PROXY
/// header's when `proxyProtocol` is on, else the TCP peer).
pub async fn serve<H, F>(
    listener: TcpListener,
    limits: Limits,
    handler: H,
    metrics: Option<&Metrics>,
    shutdown: CancellationToken,
) where
    H: Fn(http::Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let builder = http1_builder(&limits);
    let limits = Arc::new(limits);
    let l = &limits.listener;
    let table = conns::Table::new(l.max_connections, l.max_connections_per_client);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let metrics = metrics.cloned();
    while let Some((stream, peer)) = accept(&listener, &shutdown).await {
        let Some((ticket, trusted, stream)) = admit(&table, l, stream, peer, &metrics) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Connection {
            limits: limits.clone(),
            ticket,
            peer,
            trusted,
        };
        let task = conn.run(
            stream,
            builder.clone(),
            handler.clone(),
            metrics.clone(),
            graceful.watcher(),
        );
        tokio::spawn(tracing::Instrument::instrument(task, tracing::Span::current()));
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::info!("drain period ended with connections still open");
    }
}

/// The HTTP/1.1 settings every connection of a listener with `limits` is served with.
fn http1_builder(limits: &Limits) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // hyper's one timer runs while waiting for a head, idle time included: it is
        // the idle timeout here, and `head::HeadDeadline` times each head.
        .header_read_timeout(limits.idle_timeout.max(limits.header_read_timeout))
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(64);
    builder
}

/// The next accepted connection, or `None` once `shutdown` is cancelled. A failed
/// accept (EMFILE and friends) is logged and retried after a short pause.
async fn accept(listener: &TcpListener, shutdown: &CancellationToken) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok(a) => return Some(a),
                Err(e) => {
                    // Back off briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}

/// Takes a slot in `table` for a connection from `peer`, evicting an idle one if
/// the table is full. A direct client not in `allowFrom`, or one the table refuses,
/// is counted, reset and `None`. Otherwise the ticket, whether `peer` is a trusted
/// proxy, and the stream.
fn admit(
    table: &Arc<conns::Table>,
    l: &PublicListener,
    stream: TcpStream,
    peer: SocketAddr,
    metrics: &Option<Metrics>,
) -> Option<(conns::Ticket, bool, TcpStream)> {
    let peer_ip = canonical(peer.ip());
    let trusted = l.is_trusted(peer_ip);
    // Behind a PROXY header the client is known only once the header is read:
    // the slot is taken uncounted and moved to that client then.
    let direct = !trusted && !l.proxy_protocol;
    if direct && !l.allows(peer_ip) {
        refuse(metrics, Refusal::NotAllowed);
        reset(stream);
        return None;
    }
    match table.admit(direct.then_some(peer_ip)) {
        Ok((ticket, evicted)) => {
            if evicted {
                if let Some(m) = metrics {
                    m.public_connections_evicted.inc();
                }
            }
            Some((ticket, trusted, stream))
        }
        Err(r) => {
            refuse(metrics, r.into());
            reset(stream);
            None
        }
    }
}

fn refuse(metrics: &Option<Metrics>, r: Refusal) {
    if let Some(m) = metrics {
        m.refused(r);
    }
}

impl From<conns::Refused> for Refusal {
    fn from(r: conns::Refused) -> Self {
        match r {
            conns::Refused::Full => Refusal::Full,
            conns::Refused::ClientCap => Refusal::ClientCap,
        }
    }
}

/// The listen backlog: as deep as Linux's default `somaxconn` (4096), so a burst
/// of connections (an attacker's reconnect storm) does not overflow the accept
/// queue and drop Route 53's checkers' SYNs (a dropped SYN costs the checker a 1 s
/// retransmit, half its 2 s budget). tokio's `TcpListener::bind` uses 1024.
pub const BACKLOG: u32 = 4096;

/// Binds a listener at `addr` with [`BACKLOG`] and `SO_REUSEADDR` (a restarted
/// agent can bind while old connections linger in TIME_WAIT).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Closes a refused connection with a reset: no FIN handshake, and no TIME_WAIT
/// socket left on the agent's side for each of a flood's refused connections.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
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
