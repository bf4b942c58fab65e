//! The public listener's limits (`publicListener:` in the static config and the
//! settings file): how many connections one client and everyone together may
//! hold, how long a connection lives, and whom to believe about the real client.
//!
//! The defaults are safe on the internet as they are; the keys exist for the
//! load balancer in front (`trustedProxies`, `proxyProtocol`) and for unusual
//! sizes. Validation refuses every value that would turn a limit off.

use super::numbers::finite_secs;
use serde::Deserialize;
use std::net::IpAddr;
use std::time::Duration;

/// The `publicListener` block as written. Every key is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileListener {
    /// Connections open at once, all clients. Default 4096.
    pub max_connections: Option<usize>,
    /// Connections open at once from one client address. Default 64.
    pub max_connections_per_client: Option<usize>,
    /// Requests served on one connection before it is closed. Default 1000.
    pub max_requests_per_connection: Option<u64>,
    /// Seconds a connection may live before it is closed after its next answer. Default 300.
    pub max_connection_age_seconds: Option<f64>,
    /// Seconds an answer may wait for a client that does not read it. Default 10.
    pub write_timeout_seconds: Option<f64>,
    /// CIDRs of load balancers in front (e.g. the VPC's): their connections are not
    /// counted per client, and their `X-Forwarded-For` names the client. Default none.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// When set, only clients in these CIDRs get answers (e.g. Route 53's checker
    /// ranges behind a shared ALB); others are closed (direct) or get 403 (through a
    /// trusted proxy). Default: every client.
    #[serde(default)]
    pub allow_from: Vec<String>,
    /// Every connection starts with a PROXY protocol v2 header (the NLB's
    /// `proxy_protocol_v2.enabled`), which names the client. Default false.
    #[serde(default)]
    pub proxy_protocol: bool,
}

/// An IPv4 or IPv6 network, `ADDR/LEN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (a, l) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = a.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            Some(l) => l.trim().parse::<u8>().ok().filter(|l| *l <= max)?,
            None => max,
        };
        Some(Cidr { addr, len })
    }

    /// Whether `ip` is inside this network. An IPv4-mapped IPv6 address counts as
    /// its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(u32::from(n) as u128, u32::from(a) as u128, 32, self.len),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(u128::from(n), u128::from(a), 128, self.len),
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn prefix_eq(n: u128, a: u128, bits: u32, len: u8) -> bool {
    if len == 0 {
        return true;
    }
    let shift = bits - u32::from(len);
    (n >> shift) == (a >> shift)
}

/// `::ffff:1.2.3.4` as `1.2.3.4`; every other address as it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The public listener's limits, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicListener {
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    pub max_requests_per_connection: u64,
    pub max_connection_age: Duration,
    pub write_timeout: Duration,
    pub trusted_proxies: Vec<Cidr>,
    /// Empty: every client.
    pub allow_from: Vec<Cidr>,
    pub proxy_protocol: bool,
}

impl Default for PublicListener {
    fn default() -> Self {
        PublicListener {
            max_connections: 4096,
            max_connections_per_client: 64,
            max_requests_per_connection: 1000,
            max_connection_age: Duration::from_secs(300),
            write_timeout: Duration::from_secs(10),
            trusted_proxies: Vec::new(),
            allow_from: Vec::new(),
            proxy_protocol: false,
        }
    }
}

impl PublicListener {
    /// Whether `peer` is one of the trusted proxies.
    pub fn is_trusted(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(peer))
    }

    /// Whether `client` may be answered (`allowFrom` is empty or holds it).
    pub fn allows(&self, client: IpAddr) -> bool {
        self.allow_from.is_empty() || self.allow_from.iter().any(|c| c.contains(client))
    }
}

/// Validates the block at `at` (e.g. `publicListener`), pushing one message per
/// bad key.
pub(crate) fn validate(at: &str, file: &FileListener, errs: &mut Vec<String>) -> PublicListener {
    let d = PublicListener::default();
    let count = |key: &str, v: Option<usize>, lo: usize, hi: usize, default: usize, errs: &mut Vec<String>| match v {
        None => default,
        Some(v) if (lo..=hi).contains(&v) => v,
        Some(v) => {
            errs.push(format!(
                "{at}.{key}: {v} is out of range; use {lo} to {hi} (default {default})"
            ));
            default
        }
    };
    let max_connections = count(
        "maxConnections",
        file.max_connections,
        16,
        1 << 20,
        d.max_connections,
        errs,
    );
    let per_client = count(
        "maxConnectionsPerClient",
        file.max_connections_per_client,
        1,
        max_connections,
        d.max_connections_per_client.min(max_connections),
        errs,
    );
    let requests = count(
        "maxRequestsPerConnection",
        file.max_requests_per_connection
            .map(|v| usize::try_from(v).unwrap_or(usize::MAX)),
        1,
        1 << 30,
        d.max_requests_per_connection as usize,
        errs,
    ) as u64;
    let secs = |key: &str, v: Option<f64>, range: (f64, f64), default: Duration, errs: &mut Vec<String>| {
        v.and_then(|v| finite_secs(&format!("{at}.{key}"), v, range, "", errs))
            .unwrap_or(default)
    };
    let age = secs(
        "maxConnectionAgeSeconds",
        file.max_connection_age_seconds,
        (1.0, 86_400.0),
        d.max_connection_age,
        errs,
    );
    let write = secs(
        "writeTimeoutSeconds",
        file.write_timeout_seconds,
        (0.1, 300.0),
        d.write_timeout,
        errs,
    );
    let (trusted, allow_from) = (trusted_proxies(at, file, errs), allow_from(at, file, errs));
    PublicListener {
        max_connections,
        max_connections_per_client: per_client,
        max_requests_per_connection: requests,
        max_connection_age: age,
        write_timeout: write,
        trusted_proxies: trusted,
        allow_from,
        proxy_protocol: file.proxy_protocol,
    }
}

/// `trustedProxies`: CIDRs, none of which trusts every address.
fn trusted_proxies(at: &str, file: &FileListener, errs: &mut Vec<String>) -> Vec<Cidr> {
    let mut trusted = Vec::new();
    for (i, t) in file.trusted_proxies.iter().enumerate() {
        match Cidr::parse(t) {
            Some(c) if c.len == 0 => errs.push(format!(
                "{at}.trustedProxies[{i}]: `{t}` trusts every address, so any client could name itself in X-Forwarded-For; list the load balancer's subnets, e.g. the VPC CIDR 10.0.0.0/16"
            )),
            Some(c) => trusted.push(c),
            None => errs.push(format!(
                "{at}.trustedProxies[{i}]: `{}` is not a CIDR; write e.g. `10.0.0.0/16` or `10.0.3.7`",
                t.escape_debug()
            )),
        }
    }
    trusted
}

/// `allowFrom`: CIDRs.
fn allow_from(at: &str, file: &FileListener, errs: &mut Vec<String>) -> Vec<Cidr> {
    file.allow_from
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let c = Cidr::parse(t);
            if c.is_none() {
                errs.push(format!(
                    "{at}.allowFrom[{i}]: `{}` is not a CIDR; write e.g. `15.177.0.0/18`",
                    t.escape_debug()
                ));
            }
            c
        })
        .collect()
}

#[cfg(test)]
#[path = "listener_tests.rs"]
mod tests;
