//! gRPC probes, as the kubelet's: `grpc.health.v1.Health/Check` over plaintext
//! HTTP/2 (h2c), with tonic-health's generated client. `SERVING` passes; every
//! other answer fails with its own outcome label ([`outcome_of_status`],
//! [`outcome_of_code`]).
//!
//! One channel (one HTTP/2 connection, reconnected when it breaks) per target
//! address, reused by every probe of that address; a channel no probe used for
//! [`IDLE`] is dropped, which closes its connection.

use crate::model::{ProbeOutcome, ProbeResult};
use crate::spec::ProbeSpec;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// A channel no probe used for this long is dropped (its connection closed).
pub const IDLE: Duration = Duration::from_secs(30);

const USER_AGENT: &str = concat!("failover-agent/", env!("CARGO_PKG_VERSION"));

/// The gRPC channels of probes, one per target address. Cheap to clone: clones
/// share the channels.
#[derive(Clone, Default)]
pub struct GrpcProber {
    channels: Arc<Mutex<Channels>>,
}

#[derive(Default)]
struct Channels {
    by_addr: HashMap<SocketAddr, (Channel, Instant)>,
    swept: Option<Instant>,
}

impl GrpcProber {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many channels are kept now.
    pub fn channels(&self) -> usize {
        self.channels.lock().by_addr.len()
    }

    /// The channel to `addr`, made (without connecting) when there is none; drops
    /// the channels unused for [`IDLE`], at most once per [`IDLE`].
    fn channel(&self, addr: SocketAddr) -> Result<Channel, tonic::transport::Error> {
        let now = Instant::now();
        let mut c = self.channels.lock();
        if c.swept.is_none_or(|t| now.duration_since(t) >= IDLE) {
            c.by_addr.retain(|_, (_, used)| now.duration_since(*used) < IDLE);
            c.swept = Some(now);
        }
        if let Some((channel, used)) = c.by_addr.get_mut(&addr) {
            *used = now;
            return Ok(channel.clone());
        }
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .user_agent(USER_AGENT)?
            .tcp_nodelay(true)
            .connect_lazy();
        c.by_addr.insert(addr, (channel.clone(), now));
        Ok(channel)
    }

    /// `Health/Check` of `spec.grpc_service` (the server's overall health when
    /// `None`) at `addr`. The caller bounds it with the probe timeout; the
    /// request also carries that timeout as its `grpc-timeout`.
    pub async fn probe(&self, addr: SocketAddr, spec: &ProbeSpec) -> ProbeResult {
        let start = Instant::now();
        let outcome = match self.channel(addr) {
            Ok(channel) => check(channel, spec).await,
            Err(_) => ProbeOutcome::Error,
        };
        ProbeResult {
            outcome,
            latency: start.elapsed(),
            status: None,
        }
    }
}

async fn check(channel: Channel, spec: &ProbeSpec) -> ProbeOutcome {
    let mut req = tonic::Request::new(HealthCheckRequest {
        service: spec.grpc_service.clone().unwrap_or_default(),
    });
    req.set_timeout(spec.timeout);
    match HealthClient::new(channel).check(req).await {
        Ok(resp) => outcome_of_status(resp.get_ref().status),
        Err(status) if in_chain::<tonic::ConnectError>(&status) => ProbeOutcome::ConnectError,
        // The client's own deadline (the request's timeout) ran out.
        Err(status) if in_chain::<tonic::TimeoutExpired>(&status) => ProbeOutcome::Timeout,
        Err(status) => outcome_of_code(status.code()),
    }
}

/// The outcome of a `Check` answer's status (its protobuf number).
pub fn outcome_of_status(status: i32) -> ProbeOutcome {
    match ServingStatus::try_from(status) {
        Ok(ServingStatus::Serving) => ProbeOutcome::Success,
        Ok(ServingStatus::ServiceUnknown) => ProbeOutcome::GrpcServiceUnknown,
        // NOT_SERVING, UNKNOWN, and a number this client does not know.
        _ => ProbeOutcome::GrpcNotServing,
    }
}

/// The outcome of a `Check` call that ended with status `code`: `NOT_FOUND` is
/// the health service's answer for a service it does not know.
pub fn outcome_of_code(code: Code) -> ProbeOutcome {
    match code {
        Code::Ok => ProbeOutcome::Success,
        Code::NotFound => ProbeOutcome::GrpcServiceUnknown,
        Code::Unimplemented => ProbeOutcome::GrpcUnimplemented,
        Code::DeadlineExceeded => ProbeOutcome::Timeout,
        _ => ProbeOutcome::GrpcError,
    }
}

/// Whether an error of type `E` is in the source chain of `status`.
fn in_chain<E: std::error::Error + 'static>(status: &tonic::Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if e.is::<E>() {
            return true;
        }
        source = e.source();
    }
    false
}
