//! The public listener's series: answers to `/health/<app>`, and connections open,
//! refused and evicted. Every label value comes from a closed enum here, and every
//! series exists from the start at 0.

use super::opts;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Registry};

/// Why the public listener closed a connection at once: a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot was busy answering (nothing idle to evict).
    Full,
    /// The client already held `maxConnectionsPerClient`.
    ClientCap,
    /// `proxyProtocol` is on and the connection had no valid header.
    ProxyHeader,
    /// The client is not in `allowFrom`.
    NotAllowed,
}

impl Refusal {
    const ALL: [Refusal; 4] = [
        Refusal::Full,
        Refusal::ClientCap,
        Refusal::ProxyHeader,
        Refusal::NotAllowed,
    ];
    /// The `reason` label of `public_connections_rejected_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Full => "full",
            Refusal::ClientCap => "client_cap",
            Refusal::ProxyHeader => "proxy_header",
            Refusal::NotAllowed => "not_allowed",
        }
    }
}

/// The result class of a public `/health/<app>` request: a metric label.
#[derive(Clone, Copy, Debug)]
pub enum HealthAnswer {
    Healthy,
    Unhealthy,
    UnknownApp,
    BadRequest,
}

impl HealthAnswer {
    const ALL: [HealthAnswer; 4] = [
        HealthAnswer::Healthy,
        HealthAnswer::Unhealthy,
        HealthAnswer::UnknownApp,
        HealthAnswer::BadRequest,
    ];
    fn as_str(self) -> &'static str {
        match self {
            HealthAnswer::Healthy => "healthy",
            HealthAnswer::Unhealthy => "unhealthy",
            HealthAnswer::UnknownApp => "unknown_app",
            HealthAnswer::BadRequest => "bad_request",
        }
    }
}

/// The public listener's handles, resolved once so the request path does no
/// label lookups.
pub(super) struct PublicSeries {
    /// `health_requests_total`, indexed by [`HealthAnswer`].
    pub answers: [IntCounter; 4],
    pub open: IntGauge,
    /// `public_connections_rejected_total`, indexed by [`Refusal`].
    pub rejected: [IntCounter; 4],
    pub evicted: IntCounter,
}

impl PublicSeries {
    /// Creates the families and registers them in `r`.
    pub fn register(r: &Registry) -> Result<PublicSeries, prometheus::Error> {
        let health_requests = IntCounterVec::new(
            opts(
                "health_requests_total",
                "Requests to the public /health/<app> path, by answer.",
            ),
            &["answer"],
        )?;
        let rejected = IntCounterVec::new(
            opts(
                "public_connections_rejected_total",
                "Public connections closed at once, by reason: full (every connection busy), client_cap, proxy_header, not_allowed.",
            ),
            &["reason"],
        )?;
        let s = PublicSeries {
            answers: HealthAnswer::ALL.map(|a| health_requests.with_label_values(&[a.as_str()])),
            open: IntGauge::with_opts(opts(
                "public_connections_open",
                "Open connections on the public listener.",
            ))?,
            rejected: Refusal::ALL.map(|r| rejected.with_label_values(&[r.as_str()])),
            evicted: IntCounter::with_opts(opts(
                "public_connections_evicted_total",
                "Idle public connections closed to admit a new one at the connection cap.",
            ))?,
        };
        r.register(Box::new(health_requests))?;
        r.register(Box::new(s.open.clone()))?;
        r.register(Box::new(rejected))?;
        r.register(Box::new(s.evicted.clone()))?;
        Ok(s)
    }
}
