//! The shared vocabulary: what an app is, what is probed, what a probe saw, and
//! what the agent concluded.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// The identity of an app. `name` is the `/health/<name>` key and is unique per
/// agent; `namespace` is where the app was declared (`static` for the file source)
/// and is carried into metric labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AppKey {
    pub namespace: String,
    pub name: String,
}

/// The agent's verdict on an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
    pub fn is_healthy(self) -> bool {
        self == Health::Healthy
    }
}

/// A game-day override: force an app's verdict regardless of its signals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OverrideMode {
    #[default]
    None,
    Fail,
    Pass,
}

impl OverrideMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OverrideMode::None => "none",
            OverrideMode::Fail => "fail",
            OverrideMode::Pass => "pass",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(OverrideMode::None),
            "fail" => Some(OverrideMode::Fail),
            "pass" => Some(OverrideMode::Pass),
            _ => None,
        }
    }
}

/// One address the agent probes for an app.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// `GET` of an absolute `http://` URI.
    Http { uri: http::Uri, addr: SocketAddr },
    /// A TCP connect to `addr`.
    Tcp { addr: SocketAddr },
    /// `grpc.health.v1.Health/Check` over plaintext HTTP/2 to `addr`.
    Grpc { addr: SocketAddr },
}

impl Target {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Target::Http { addr, .. } | Target::Tcp { addr } | Target::Grpc { addr } => *addr,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Http { uri, .. } => write!(f, "{uri}"),
            Target::Tcp { addr } => write!(f, "tcp://{addr}"),
            Target::Grpc { addr } => write!(f, "grpc://{addr}"),
        }
    }
}

/// How one probe ended. Used as a metric label, so the set is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    Success,
    Timeout,
    ConnectError,
    BadStatus,
    BodyMismatch,
    /// gRPC health: the service answered `NOT_SERVING` (or `UNKNOWN`).
    GrpcNotServing,
    /// gRPC health: the server does not know the `grpcService` asked about.
    GrpcServiceUnknown,
    /// gRPC: the server has no `grpc.health.v1.Health` service.
    GrpcUnimplemented,
    /// gRPC: any other status of the call.
    GrpcError,
    /// HTTPS with `probe.tls.verify`: the server's certificate failed verification,
    /// or the CA certificates to verify it could not be loaded.
    TlsError,
    Error,
}

impl ProbeOutcome {
    pub const ALL: [ProbeOutcome; 11] = [
        ProbeOutcome::Success,
        ProbeOutcome::Timeout,
        ProbeOutcome::ConnectError,
        ProbeOutcome::BadStatus,
        ProbeOutcome::BodyMismatch,
        ProbeOutcome::GrpcNotServing,
        ProbeOutcome::GrpcServiceUnknown,
        ProbeOutcome::GrpcUnimplemented,
        ProbeOutcome::GrpcError,
        ProbeOutcome::TlsError,
        ProbeOutcome::Error,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeOutcome::Success => "success",
            ProbeOutcome::Timeout => "timeout",
            ProbeOutcome::ConnectError => "connect_error",
            ProbeOutcome::BadStatus => "bad_status",
            ProbeOutcome::BodyMismatch => "body_mismatch",
            ProbeOutcome::GrpcNotServing => "grpc_not_serving",
            ProbeOutcome::GrpcServiceUnknown => "grpc_service_unknown",
            ProbeOutcome::GrpcUnimplemented => "grpc_unimplemented",
            ProbeOutcome::GrpcError => "grpc_error",
            ProbeOutcome::TlsError => "tls_error",
            ProbeOutcome::Error => "error",
        }
    }
    pub fn is_success(self) -> bool {
        self == ProbeOutcome::Success
    }
}

/// What one probe saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeResult {
    pub outcome: ProbeOutcome,
    pub latency: Duration,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
}

/// The debounced state of one endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EndpointState {
    #[default]
    Unknown,
    Up,
    Down,
}

impl EndpointState {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointState::Unknown => "unknown",
            EndpointState::Up => "up",
            EndpointState::Down => "down",
        }
    }
}

/// Endpoint counts by debounced state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub up: usize,
    pub down: usize,
    pub unknown: usize,
}

impl Counts {
    pub fn of<'a>(states: impl IntoIterator<Item = &'a EndpointState>) -> Counts {
        let mut c = Counts::default();
        for s in states {
            c.total += 1;
            match s {
                EndpointState::Up => c.up += 1,
                EndpointState::Down => c.down += 1,
                EndpointState::Unknown => c.unknown += 1,
            }
        }
        c
    }
}

/// The ALB's view of an app: healthy targets out of all non-draining targets over
/// its target groups, as last read from AWS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TargetCounts {
    pub healthy: u32,
    pub total: u32,
    /// The last read failed (or some target group was never read): these are the
    /// last known counts, kept so that an AWS outage never flips a verdict.
    pub stale: bool,
}

mod dns;
pub use dns::{DnsView, RecordHealth, RegionView};
