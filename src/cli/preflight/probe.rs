//! The I/O of a preflight check, done the way Route 53's checkers do it: resolve
//! the hostname's IPv4 addresses, then for each address connect within 4 s, get a
//! status line within 2 s of connecting, and read at most the first 5,120 bytes of
//! the body. HTTPS sends SNI but does not validate the certificate, like Route 53.
//!
//! One request per connection, over hyper's HTTP/1.1 client connection (no pool:
//! every checker opens its own connection too).

use super::judge::{NoAnswer, MAX_BODY};
use super::Result;
use crate::publish::route53::objects::CheckConfig;
use crate::spec::route53::Protocol;
use bytes::Bytes;
use http::header::{HOST, LOCATION, USER_AGENT};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};
use tracing::instrument;

/// Route 53's checkers give up on a TCP connection after this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(4);
/// ...and want the status line this soon after connecting.
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// A resolver that hangs is a failure too.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Says who is asking; some WAF rules block requests without a User-Agent.
const AGENT: &str = concat!("failover-agent-preflight/", env!("CARGO_PKG_VERSION"));

/// What one address answered: enough for [`super::judge::judge`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    /// At most [`MAX_BODY`] bytes.
    pub body: Vec<u8>,
}

/// The IPv4 addresses of `fqdn`, the ones Route 53's checkers use (an NLB has one
/// per zone). `Err` says why there are none.
#[instrument]
pub async fn resolve(fqdn: &str) -> Result<Vec<Ipv4Addr>, String> {
    let found = timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((fqdn, 0)))
        .await
        .map_err(|_| format!("no answer from the resolver in {}s", RESOLVE_TIMEOUT.as_secs()))?
        .map_err(|e| e.to_string())?;
    let mut v4: Vec<Ipv4Addr> = found
        .filter_map(|a| match a {
            SocketAddr::V4(a) => Some(*a.ip()),
            SocketAddr::V6(_) => None,
        })
        .collect();
    v4.sort();
    v4.dedup();
    if v4.is_empty() {
        return Err("it has no A record".into());
    }
    Ok(v4)
}

/// How HTTPS checks connect: SNI on, any certificate accepted.
#[derive(Clone)]
pub struct Prober {
    tls: tokio_rustls::TlsConnector,
}

impl Prober {
    /// Needs the process's crypto provider ([`crate::tls::install_crypto_provider`]).
    pub fn new() -> Result<Prober> {
        let config = crate::tls::any_certificate_config()?;
        Ok(Prober {
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// Sends `check`'s request to `ip`, as one Route 53 checker would.
    #[instrument(skip(self, check), fields(fqdn = %check.fqdn, port = check.port, path = %check.path))]
    pub async fn fetch(&self, ip: Ipv4Addr, check: &CheckConfig) -> Result<Answer, NoAnswer> {
        let addr = SocketAddr::from((ip, check.port));
        let tcp = match timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Err(_) => return Err(NoAnswer::ConnectTimeout),
            Ok(Err(e)) => return Err(NoAnswer::Connect(e.kind().to_string())),
            Ok(Ok(s)) => s,
        };
        let deadline = Instant::now() + STATUS_TIMEOUT;
        match check.protocol {
            Protocol::Http => exchange(tcp, check, deadline).await,
            Protocol::Https => {
                let name = ServerName::try_from(check.fqdn.clone()).map_err(|e| NoAnswer::Tls(e.to_string()))?;
                let tls = timeout_at(deadline, self.tls.connect(name, tcp))
                    .await
                    .map_err(|_| NoAnswer::NoStatus)?
                    .map_err(|e| NoAnswer::Tls(e.to_string()))?;
                exchange(tls, check, deadline).await
            }
        }
    }
}

/// Route 53's Host header: the name alone on 80 and 443, else `name:port`.
pub fn host_header(check: &CheckConfig) -> String {
    match check.port {
        80 | 443 => check.fqdn.clone(),
        port => format!("{}:{port}", check.fqdn),
    }
}

/// `GET <path>` over `io`; the head must arrive by `deadline`. The body is read
/// until [`MAX_BODY`] bytes, its end, or the deadline, whichever comes first.
async fn exchange<S>(io: S, check: &CheckConfig, deadline: Instant) -> Result<Answer, NoAnswer>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http = |e: hyper::Error| NoAnswer::Http(e.to_string());
    let (mut sender, conn) = timeout_at(deadline, hyper::client::conn::http1::handshake(TokioIo::new(io)))
        .await
        .map_err(|_| NoAnswer::NoStatus)?
        .map_err(http)?;
    // The connection task ends when the request and its body are dropped.
    tokio::spawn(conn);
    let req = http::Request::get(check.path.as_str())
        .header(HOST, host_header(check))
        .header(USER_AGENT, AGENT)
        .body(Empty::<Bytes>::new())
        .map_err(|e| NoAnswer::Http(e.to_string()))?;
    let resp = timeout_at(deadline, sender.send_request(req))
        .await
        .map_err(|_| NoAnswer::NoStatus)?
        .map_err(http)?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(LOCATION)
        .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned());
    let mut body = resp.into_body();
    let mut read = Vec::new();
    while read.len() < MAX_BODY {
        match timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    read.extend_from_slice(data);
                }
            }
            // End, error or deadline: judge what arrived, as Route 53 would.
            _ => break,
        }
    }
    read.truncate(MAX_BODY);
    Ok(Answer {
        status,
        location,
        body: read,
    })
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
