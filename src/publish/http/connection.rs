//! One admitted connection, from its PROXY header (if any) to its close.
//!
//! Guarantees, on top of the table's ([`super::conns`]):
//! - it closes at once when the table evicts it for a newer connection;
//! - it answers at most `maxRequestsPerConnection` requests, and none after it is
//!   `maxConnectionAgeSeconds` old: the answer that reaches either limit carries
//!   `Connection: close`, so a client reconnects (and is counted again) instead of
//!   holding one connection forever;
//! - through a trusted proxy, a request whose client (from `X-Forwarded-For`) is
//!   not in `allowFrom` gets `403`; a direct client not in `allowFrom` never gets
//!   this far.

use super::client::{forwarded_client, read_header, Header};
use super::conns::Ticket;
use super::head::{HeadDeadline, HeadDone};
use super::{text, Body, Limits};
use crate::telemetry::{Metrics, Refusal};
use http::{header, HeaderValue, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// An admitted connection before it is served.
pub(super) struct Connection {
    pub limits: Arc<Limits>,
    pub ticket: Ticket,
    pub peer: SocketAddr,
    /// The peer is a trusted proxy: requests name their client in X-Forwarded-For.
    pub trusted: bool,
}

impl Connection {
    /// Serves the connection on `stream` with `handler` until it closes, is
    /// evicted, or the listener's graceful shutdown (`watcher`) ends it.
    pub async fn run<H, F>(
        mut self,
        mut stream: TcpStream,
        builder: Builder,
        handler: H,
        metrics: Option<Metrics>,
        watcher: Watcher,
    ) where
        H: Fn(http::Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        let client = match self.client(&mut stream).await {
            Ok(client) => client,
            Err(r) => {
                if let Some(m) = &metrics {
                    m.refused(r);
                }
                return;
            }
        };
        let open = metrics.as_ref().map(|m| m.public_connections_open.clone());
        if let Some(g) = &open {
            g.inc();
        }
        let ticket = Arc::new(self.ticket);
        let conn = ticket.conn().clone();
        let done = Arc::new(HeadDone::default());
        let l = &self.limits.listener;
        let io = HeadDeadline::new(stream, done.clone(), self.limits.header_read_timeout, l.write_timeout);
        let svc = Service {
            limits: self.limits.clone(),
            trusted: self.trusted,
            client,
            ticket: ticket.clone(),
            done,
            started: Instant::now(),
            served: Arc::new(AtomicU64::new(0)),
        };
        let served_conn = watcher.watch(builder.serve_connection(TokioIo::new(io), svc.service_fn(handler)));
        tokio::select! {
            _ = served_conn => {}
            _ = conn.evicted().cancelled() => {}
        }
        if let Some(g) = &open {
            g.dec();
        }
        drop(ticket);
    }

    /// The client this connection speaks for: the TCP peer, or with `proxyProtocol`
    /// (and an untrusted peer) the client its PROXY header names, whose slot the
    /// ticket moves to. Why it is refused otherwise (header missing, bad or late,
    /// client not in `allowFrom`, or at its connection cap).
    async fn client(&mut self, stream: &mut TcpStream) -> Result<SocketAddr, Refusal> {
        let l = &self.limits.listener;
        if !l.proxy_protocol || self.trusted {
            return Ok(self.peer);
        }
        match read_header(stream, self.limits.header_read_timeout).await {
            Ok(Header::Proxied(ip)) => {
                if !l.allows(ip) {
                    return Err(Refusal::NotAllowed);
                }
                self.ticket.rename(ip)?;
                Ok(SocketAddr::new(ip, self.peer.port()))
            }
            // The load balancer's own health check: the peer is the client.
            Ok(Header::Local) => Ok(self.peer),
            Err(e) => {
                tracing::debug!(peer = %self.peer, error = %e, error_kind = e.metric_label(), "refused a connection");
                Err(Refusal::ProxyHeader)
            }
        }
    }
}

/// What each request of one connection needs: its limits, its client, and its
/// count of requests so far.
struct Service {
    limits: Arc<Limits>,
    trusted: bool,
    client: SocketAddr,
    ticket: Arc<Ticket>,
    done: Arc<HeadDone>,
    started: Instant,
    served: Arc<AtomicU64>,
}

impl Service {
    /// The hyper service: marks the head read and the connection busy, answers
    /// `403` to a forwarded client not in `allowFrom` (through a trusted proxy),
    /// else `handler`'s answer, with `Connection: close` on the answer that reaches
    /// the request or age limit.
    fn service_fn<H, F>(
        self,
        handler: H,
    ) -> impl hyper::service::Service<
        http::Request<Incoming>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
    >
    where
        H: Fn(http::Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        hyper::service::service_fn(move |req: http::Request<Incoming>| {
            self.done.mark();
            Ticket::busy(self.ticket.conn());
            let l = &self.limits.listener;
            let n = self.served.fetch_add(1, Ordering::Relaxed) + 1;
            let last = n >= l.max_requests_per_connection || self.started.elapsed() >= l.max_connection_age;
            let forbidden = self.trusted
                && !l.allow_from.is_empty()
                && forwarded_client(req.headers(), l).is_some_and(|c| !l.allows(c));
            let fut = (!forbidden).then(|| handler(req, self.client));
            let t = self.ticket.clone();
            async move {
                let mut resp = match fut {
                    Some(f) => f.await,
                    None => text(StatusCode::FORBIDDEN, "forbidden\n"),
                };
                if last {
                    resp.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                t.waiting();
                Ok::<_, Infallible>(resp)
            }
        })
    }
}
