//! HTTP and HTTPS probes over pooled hyper clients: connections to a pod are kept
//! alive and reused between probes when the pod allows it (TLS sessions too).
//! HTTPS follows the kubelet: TLS, and any certificate is accepted (the handshake
//! signatures are still checked).

use crate::model::{ProbeOutcome, ProbeResult};
use crate::spec::ProbeSpec;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// At most this much of a probe response body is read (and searched).
pub const MAX_BODY: usize = 64 * 1024;
const USER_AGENT: &str = concat!("failover-agent/", env!("CARGO_PKG_VERSION"));

type HttpsClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// Shared, pooled HTTP/1.1 clients for probes, one per scheme. Cheap to clone.
///
/// The HTTPS client (rustls config and connector) is built on the first HTTPS
/// probe, once, and shared by every clone: an agent that probes no HTTPS endpoint
/// never builds it (it costs about 1 MiB of resident memory).
#[derive(Clone)]
pub struct HttpProber {
    client: Client<HttpConnector, Empty<Bytes>>,
    https: Arc<OnceLock<HttpsClient>>,
}

impl Default for HttpProber {
    fn default() -> Self {
        Self::new()
    }
}

/// A pooling client builder: idle connections are kept for 30 s.
fn pooled() -> hyper_util::client::legacy::Builder {
    let mut b = Client::builder(TokioExecutor::new());
    b.pool_idle_timeout(Duration::from_secs(30))
        .pool_timer(TokioTimer::new());
    b
}

fn connector() -> HttpConnector {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    conn.enforce_http(true);
    conn
}

/// The HTTPS client: TLS with any certificate accepted, pooled like HTTP's.
fn https_client() -> HttpsClient {
    let mut conn = connector();
    conn.enforce_http(false);
    crate::tls::install_crypto_provider();
    let tls = crate::tls::any_certificate_config();
    // The provider's safe defaults always build; without them HTTPS probes fail
    // (as an error outcome), and plain HTTP is unaffected.
    let tls = tls.unwrap_or_else(|_| {
        rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    });
    let https = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .wrap_connector(conn);
    pooled().build(https)
}

impl HttpProber {
    /// The plain HTTP client; the HTTPS one waits for the first HTTPS probe.
    pub fn new() -> Self {
        HttpProber {
            client: pooled().build(connector()),
            https: Arc::default(),
        }
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
            self.https.get_or_init(https_client).request(req).await
        } else {
            self.client.request(req).await
        };
        let resp = match sent {
            Ok(r) => r,
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
