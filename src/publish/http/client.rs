//! Who the client is, for the per-client cap and `allowFrom`.
//!
//! - A direct connection's client is its TCP peer (with the NLB's
//!   `preserve_client_ip.enabled=true`, that is the real client).
//! - With `proxyProtocol`, every connection must open with a PROXY protocol v2
//!   header (the NLB's `proxy_protocol_v2.enabled=true`), and its source address is
//!   the client. A header with the LOCAL command (the NLB's own health checks)
//!   keeps the peer. A connection without a valid header is closed: an optional
//!   header would let anyone who reaches the port directly claim any address.
//! - A peer in `trustedProxies` (the ALB) is not a client: its connections are not
//!   counted per client, and a request's client is the rightmost address of its
//!   `X-Forwarded-For` that is not itself a trusted proxy (the ALB appends the
//!   address it saw, so entries to the left of it are the client's own claims).
//!
//! Specification: <https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt>.

use crate::spec::canonical;
use crate::spec::PublicListener;
use http::HeaderMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The 12 bytes every version 2 header starts with.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Longest header accepted: 16 bytes plus addresses and TLVs (the NLB sends a few
/// dozen bytes of TLVs).
pub const MAX_HEADER: usize = 16 + 1024;

/// Why a connection's PROXY header was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("the connection did not start with a PROXY protocol v2 header")]
    NoHeader,
    #[error("the PROXY protocol header is malformed: {0}")]
    Malformed(&'static str),
    #[error("no complete PROXY protocol header in time")]
    Timeout,
}

impl Error {
    /// A fixed label for the kind of bad header, for logs. Every kind is counted
    /// under the `proxy_header` reason of `public_connections_rejected_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::NoHeader => "no_header",
            Error::Malformed(_) => "malformed",
            Error::Timeout => "timeout",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a valid header says.
#[derive(Debug, PartialEq, Eq)]
pub enum Header {
    /// A proxied connection from this client.
    Proxied(IpAddr),
    /// The proxy's own connection (a health check), or an address family that
    /// names no IP client: the peer is the client.
    Local,
}

/// Parses the 16-byte fixed part: the command and the length of the rest.
fn fixed(head: &[u8; 16]) -> Result<(bool, u8, usize)> {
    if head[..12] != SIGNATURE {
        return Err(Error::NoHeader);
    }
    let (version, command) = (head[12] >> 4, head[12] & 0x0f);
    if version != 2 {
        return Err(Error::Malformed("not version 2"));
    }
    let proxied = match command {
        0 => false,
        1 => true,
        _ => return Err(Error::Malformed("unknown command")),
    };
    let len = u16::from_be_bytes([head[14], head[15]]) as usize;
    if 16 + len > MAX_HEADER {
        return Err(Error::Malformed("longer than 1 KiB"));
    }
    Ok((proxied, head[13], len))
}

/// Parses the address block for family/protocol byte `fam`.
fn addresses(proxied: bool, fam: u8, rest: &[u8]) -> Result<Header> {
    if !proxied {
        return Ok(Header::Local);
    }
    match fam >> 4 {
        1 if rest.len() >= 12 => {
            let a: [u8; 4] = rest[..4].try_into().map_err(|_| Error::Malformed("short IPv4 block"))?;
            Ok(Header::Proxied(IpAddr::V4(Ipv4Addr::from(a))))
        }
        2 if rest.len() >= 36 => {
            let a: [u8; 16] = rest[..16]
                .try_into()
                .map_err(|_| Error::Malformed("short IPv6 block"))?;
            Ok(Header::Proxied(canonical(IpAddr::V6(Ipv6Addr::from(a)))))
        }
        1 | 2 => Err(Error::Malformed("address block shorter than its family")),
        // AF_UNSPEC or AF_UNIX: no IP client to name.
        _ => Ok(Header::Local),
    }
}

/// Reads one version 2 header from the start of `io`, within `limit`. Reads
/// exactly the header's bytes, so what follows (the HTTP request) is untouched.
pub async fn read_header<IO: AsyncRead + Unpin>(io: &mut IO, limit: Duration) -> Result<Header> {
    let read = async {
        let mut head = [0u8; 16];
        io.read_exact(&mut head).await.map_err(|_| Error::NoHeader)?;
        let (proxied, fam, len) = fixed(&head)?;
        let mut rest = vec![0u8; len];
        io.read_exact(&mut rest)
            .await
            .map_err(|_| Error::Malformed("shorter than its length"))?;
        addresses(proxied, fam, &rest)
    };
    tokio::time::timeout(limit, read).await.map_err(|_| Error::Timeout)?
}

/// The client of a request that came through trusted proxy connection: the
/// rightmost `X-Forwarded-For` address that is not a trusted proxy, if any.
pub fn forwarded_client(headers: &HeaderMap, limits: &PublicListener) -> Option<IpAddr> {
    // Every X-Forwarded-For line, in order; the last entry is the nearest hop.
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    for e in entries.iter().rev() {
        let ip = canonical(e.parse::<IpAddr>().ok()?);
        if !limits.is_trusted(ip) {
            return Some(ip);
        }
    }
    None
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
