//! HTTP and HTTPS probes over pooled hyper clients: connections to a pod are kept
//! alive and reused between probes when the pod allows it (TLS sessions too).
//! HTTPS follows the kubelet: TLS, and any certificate is accepted (the handshake
//! signatures are still checked), unless the app's `probe.tls` asks to verify it
//! (or names the server): such probes use a client of their own, one per distinct
//! `probe.tls`, made (its CA file read) once, on its first probe.

use super::https::{bad_certificate, client_for, https_client, HttpsClient};
use crate::model::{ProbeOutcome, ProbeResult};
use crate::spec::{ProbeSpec, ProbeTls};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// At most this much of a probe response body is read (and searched).
pub const MAX_BODY: usize = 64 * 1024;
const USER_AGENT: &str = concat!("failover-agent/", env!("CARGO_PKG_VERSION"));

/// Shared, pooled HTTP/1.1 clients for probes, one per scheme. Cheap to clone.
///
/// The HTTPS client (rustls config and connector) is built on the first HTTPS
/// probe, once, and shared by every clone: an agent that probes no HTTPS endpoint
/// never builds it (it costs about 1 MiB of resident memory).
#[derive(Clone)]
pub struct HttpProber {
    client: Client<HttpConnector, Empty<Bytes>>,
    https: Arc<OnceLock<HttpsClient>>,
    /// The clients of `probe.tls` settings; `None`: that setting's client could
    /// not be made (logged once), and its probes fail with `tls_error`.
    with_tls: Arc<Mutex<HashMap<ProbeTls, Option<HttpsClient>>>>,
}

impl Default for HttpProber {
    fn default() -> Self {
        Self::new()
    }
}

/// A pooling client builder: idle connections are kept for 30 s.
pub(super) fn pooled() -> hyper_util::client::legacy::Builder {
    let mut b = Client::builder(TokioExecutor::new());
    b.pool_idle_timeout(Duration::from_secs(30))
        .pool_timer(TokioTimer::new());
    b
}

pub(super) fn connector() -> HttpConnector {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    conn.enforce_http(true);
    conn
}

impl HttpProber {
    /// The plain HTTP client; the HTTPS one waits for the first HTTPS probe.
    pub fn new() -> Self {
        HttpProber {
            client: pooled().build(connector()),
            https: Arc::default(),
            with_tls: Arc::default(),
        }
    }

    /// The client for HTTPS probes with `tls` (the shared one when `None`);
    /// `None` when that setting's client cannot be made.
    fn https_for(&self, tls: Option<&ProbeTls>) -> Option<HttpsClient> {
        let Some(tls) = tls else {
            return Some(self.https.get_or_init(https_client).clone());
        };
        let mut clients = self.with_tls.lock();
        if let Some(c) = clients.get(tls) {
            return c.clone();
        }
        let client = client_for(tls)
            .inspect_err(|e| tracing::warn!(error = %e, "cannot make the TLS client of a probe.tls setting; its probes fail with tls_error"))
            .ok();
        clients.insert(tls.clone(), client.clone());
        client
    }

    /// Whether the HTTPS client has been built (by an HTTPS probe).
    pub fn https_built(&self) -> bool {
        self.https.get().is_some()
    }

    /// `GET uri`; passes if the status is expected and, when asked, the first
    /// [`MAX_BODY`] bytes of the body contain `spec.body_contains`. The caller
    /// bounds the whole exchange with the probe timeout.
    pub async fn probe(&self, uri: &http::Uri, spec: &ProbeSpec) -> ProbeResult {
        let start = Instant::now();
        let done = |outcome, status| ProbeResult {
            outcome,
            latency: start.elapsed(),
            status,
        };
        let req = match http::Request::get(uri.clone())
            .header(http::header::USER_AGENT, USER_AGENT)
            .body(Empty::new())
        {
            Ok(r) => r,
            Err(_) => return done(ProbeOutcome::Error, None),
        };
        let sent = if uri.scheme_str() == Some("https") {
            let Some(https) = self.https_for(spec.tls.as_ref()) else {
                return done(ProbeOutcome::TlsError, None);
            };
            https.request(req).await
        } else {
            self.client.request(req).await
        };
        let resp = match sent {
            Ok(r) => r,
            Err(e) if bad_certificate(&e) => return done(ProbeOutcome::TlsError, None),
            Err(e) if e.is_connect() => return done(ProbeOutcome::ConnectError, None),
            Err(_) => return done(ProbeOutcome::Error, None),
        };
        let status = resp.status().as_u16();
        // Read the body's first MAX_BODY bytes; a shorter body is read to its end so
        // the connection can go back to the pool, a longer one is not read further
        // (its connection is closed) and is never an error.
        let body = prefix(resp.into_body(), MAX_BODY).await;
        if !spec.status_passes(status) {
            return done(ProbeOutcome::BadStatus, Some(status));
        }
        if let Some(needle) = &spec.body_contains {
            let found = body.as_ref().is_ok_and(|b| contains(b, needle.as_bytes()));
            if !found {
                return done(ProbeOutcome::BodyMismatch, Some(status));
            }
        }
        done(ProbeOutcome::Success, Some(status))
    }
}

/// Up to `max` bytes from the start of `body`: reads frames until the body ends or
/// `max` bytes are in, then stops. `Err` only when reading fails before that.
async fn prefix<B: hyper::body::Body<Data = Bytes> + Unpin>(mut body: B, max: usize) -> Result<Vec<u8>, B::Error> {
    let mut buf = Vec::new();
    while buf.len() < max {
        let Some(frame) = body.frame().await else { break };
        if let Ok(data) = frame?.into_data() {
            let take = data.len().min(max - buf.len());
            buf.extend_from_slice(&data[..take]);
        }
    }
    Ok(buf)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
