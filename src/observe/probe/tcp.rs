//! TCP probes: a connect that completes within the timeout passes.

use crate::model::{ProbeOutcome, ProbeResult};
use std::net::SocketAddr;
use std::time::Instant;

/// Connects to `addr` and closes at once. The caller bounds it with the timeout.
pub async fn probe(addr: SocketAddr) -> ProbeResult {
    let start = Instant::now();
    let outcome = match tokio::net::TcpStream::connect(addr).await {
        Ok(_) => ProbeOutcome::Success,
        Err(_) => ProbeOutcome::ConnectError,
    };
    ProbeResult {
        outcome,
        latency: start.elapsed(),
        status: None,
    }
}
