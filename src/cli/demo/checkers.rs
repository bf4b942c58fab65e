//! A stand-in for Route 53's health checkers, on loopback. For each Region × app a
//! few checkers GET that Region's `/health/<app>` on a fixed interval with Route 53's
//! HTTP semantics (4 s to connect, then 2 s for a 2xx or 3xx; anything else fails),
//! and each changes its view of the record only after `threshold` consecutive results
//! the other way. The record is healthy when more than 18% of its checkers say so
//! ([`status::judge`], the rule the agent reads Route 53 by).
//!
//! Route 53 runs about 15 checkers per check every 30 s (or 10 s); the demo runs
//! [`CHECKERS`] every [`DEMO_TIMING`]`.interval` so a failover shows in seconds. The
//! demo prints both so nobody mistakes one for the other.

use crate::publish::route53::status;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Checkers per record (Route 53 runs about 15).
pub const CHECKERS: usize = 3;

/// How often a checker checks and how many consecutive results change its view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub interval: Duration,
    pub threshold: u32,
    /// Route 53's: the TCP connection must be up within this.
    pub connect_timeout: Duration,
    /// Route 53's: after connecting, the status line must arrive within this.
    pub response_timeout: Duration,
}

/// Route 53's own timing: a 30 s (or 10 s) interval, failure threshold 3 by default.
pub const ROUTE53_TIMING: Timing = Timing {
    interval: Duration::from_secs(30),
    threshold: 3,
    connect_timeout: Duration::from_secs(4),
    response_timeout: Duration::from_secs(2),
};

/// The demo's: Route 53's threshold and timeouts, a 1 s interval.
pub const DEMO_TIMING: Timing = Timing {
    interval: Duration::from_secs(1),
    ..ROUTE53_TIMING
};

/// One checker's view of one endpoint: a small state machine with no I/O.
///
/// It starts healthy (Route 53 counts a new check healthy) and flips only after
/// `threshold` consecutive results that disagree with its view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checker {
    healthy: bool,
    streak: u32,
    threshold: u32,
}

impl Checker {
    /// A new checker; a threshold of 0 is taken as 1.
    pub fn new(threshold: u32) -> Self {
        Checker {
            healthy: true,
            streak: 0,
            threshold: threshold.max(1),
        }
    }

    /// This checker's current view.
    pub fn healthy(&self) -> bool {
        self.healthy
    }

    /// Counts one check's result; returns true when the view changed.
    pub fn observe(&mut self, ok: bool) -> bool {
        if ok == self.healthy {
            self.streak = 0;
            return false;
        }
        self.streak += 1;
        if self.streak < self.threshold {
            return false;
        }
        self.healthy = ok;
        self.streak = 0;
        true
    }
}

/// Route 53's HTTP rule: a 2xx or 3xx status passes; anything else, or no status at
/// all (no connection, a timeout), fails.
pub fn passes(status: Option<u16>) -> bool {
    matches!(status, Some(200..=399))
}

/// The record's health from its checkers' views: more than 18% healthy
/// ([`status::judge`]). A record with no checkers counts healthy.
pub fn record_healthy(views: &[bool]) -> bool {
    let reports = views.iter().map(|h| if *h { "Success" } else { "Failure" });
    status::judge(reports).unwrap_or(true)
}

/// Every checker's view, per (Region index, app).
pub type Views = BTreeMap<(usize, &'static str), Vec<bool>>;

/// What the checkers check: per (Region index, app), the agent's health address.
pub type Targets = BTreeMap<(usize, &'static str), SocketAddr>;

/// Starts [`CHECKERS`] checkers per target until `shutdown`; their views go to the
/// returned receiver, which starts with every checker healthy. Checkers of one
/// record are spread evenly over the interval, as Route 53's are not in step.
pub fn start(targets: &Targets, timing: Timing, shutdown: &CancellationToken) -> watch::Receiver<Views> {
    let views: Views = targets.keys().map(|k| (*k, vec![true; CHECKERS])).collect();
    let (tx, rx) = watch::channel(views);
    let tx = Arc::new(tx);
    let mut conn = HttpConnector::new();
    conn.set_connect_timeout(Some(timing.connect_timeout));
    conn.set_nodelay(true);
    // Route 53 opens a new connection for every check.
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(conn);
    for (n, (key, addr)) in targets.iter().enumerate() {
        let uri = format!("http://{addr}/health/{}", key.1);
        for i in 0..CHECKERS {
            let offset = timing
                .interval
                .mul_f64((i as f64 + n as f64 / targets.len() as f64) / CHECKERS as f64);
            let slot = Slot {
                key: *key,
                index: i,
                views: tx.clone(),
            };
            tokio::spawn(check_loop(
                client.clone(),
                uri.clone(),
                timing,
                offset,
                slot,
                shutdown.clone(),
            ));
        }
    }
    rx
}

/// Where one checker writes its view.
struct Slot {
    key: (usize, &'static str),
    index: usize,
    views: Arc<watch::Sender<Views>>,
}

async fn check_loop(
    client: Client<HttpConnector, Empty<Bytes>>,
    uri: String,
    timing: Timing,
    offset: Duration,
    slot: Slot,
    shutdown: CancellationToken,
) {
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = tokio::time::sleep(offset) => {}
    }
    let mut tick = tokio::time::interval(timing.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut checker = Checker::new(timing.threshold);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let ok = passes(check(&client, &uri, timing).await);
        if checker.observe(ok) {
            let healthy = checker.healthy();
            slot.views.send_modify(|v| {
                if let Some(slots) = v.get_mut(&slot.key) {
                    slots[slot.index] = healthy;
                }
            });
        }
    }
}

/// One check: `GET uri` on a new connection; the status, or `None` when there was
/// none in time: the connection must be up within the connect timeout, and the
/// whole exchange within the connect and response timeouts together.
async fn check(client: &Client<HttpConnector, Empty<Bytes>>, uri: &str, timing: Timing) -> Option<u16> {
    let req = http::Request::get(uri)
        .header(http::header::USER_AGENT, "failover-agent-demo-checker")
        .body(Empty::new())
        .ok()?;
    let limit = timing.connect_timeout + timing.response_timeout;
    match tokio::time::timeout(limit, client.request(req)).await {
        Ok(Ok(resp)) => Some(resp.status().as_u16()),
        _ => None,
    }
}

#[cfg(test)]
#[path = "checkers_tests.rs"]
mod tests;
