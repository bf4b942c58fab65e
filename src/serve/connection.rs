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
        let refuse = |r: Refusal| {
            if let Some(m) = &metrics {
                m.refused(r);
            }
        };
        let l = &self.limits.listener;
        let mut client = self.peer;
        if l.proxy_protocol && !self.trusted {
            match read_header(&mut stream, self.limits.header_read_timeout).await {
                Ok(Header::Proxied(ip)) => {
                    if !l.allows(ip) {
                        return refuse(Refusal::NotAllowed);
                    }
                    if let Err(r) = self.ticket.rename(ip) {
                        return refuse(r.into());
                    }
                    client = SocketAddr::new(ip, self.peer.port());
                }
                // The load balancer's own health check: the peer is the client.
                Ok(Header::Local) => {}
                Err(e) => {
                    tracing::debug!(peer = %self.peer, error = %e, "refused a connection");
                    return refuse(Refusal::ProxyHeader);
                }
            }
        }
        let open = metrics.as_ref().map(|m| m.public_connections_open.clone());
        if let Some(g) = &open {
            g.inc();
        }
        let ticket = Arc::new(self.ticket);
        let conn = ticket.conn().clone();
        let done = Arc::new(HeadDone::default());
        let io = HeadDeadline::new(stream, done.clone(), self.limits.header_read_timeout, l.write_timeout);
        let started = Instant::now();
        let served = Arc::new(AtomicU64::new(0));
        let limits = self.limits.clone();
        let trusted = self.trusted;
        let t = ticket.clone();
        let svc = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            done.mark();
            Ticket::busy(t.conn());
            let l = &limits.listener;
            let n = served.fetch_add(1, Ordering::Relaxed) + 1;
            let last = n >= l.max_requests_per_connection || started.elapsed() >= l.max_connection_age;
            let forbidden =
                trusted && !l.allow_from.is_empty() && forwarded_client(req.headers(), l).is_some_and(|c| !l.allows(c));
            let fut = (!forbidden).then(|| handler(req, client));
            let t = t.clone();
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
        });
        let served_conn = watcher.watch(builder.serve_connection(TokioIo::new(io), svc));
        tokio::select! {
            _ = served_conn => {}
            _ = conn.evicted().cancelled() => {}
        }
        if let Some(g) = &open {
            g.dec();
        }
        drop(ticket);
    }
}
