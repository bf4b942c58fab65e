//! The probe keys ([`ProbeKeys`]) validated into a [`ProbeSpec`], with defaults.

use super::super::keys::ProbeKeys;
use super::super::numbers::{finite_secs, problem, show};
use super::probe_tls::ProbeTls;
use std::time::Duration;

/// How an app's endpoints are probed.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeSpec {
    #[serde(with = "secs")]
    pub interval: Duration,
    #[serde(with = "secs")]
    pub timeout: Duration,
    /// Passing status codes; `None` means any 2xx or 3xx.
    pub expected_status: Option<Vec<u16>>,
    pub body_contains: Option<String>,
    /// gRPC probes: the service asked about; `None` means the server's overall health.
    pub grpc_service: Option<String>,
    /// HTTPS probes: certificate checks; `None` means any certificate (the kubelet's way).
    pub tls: Option<ProbeTls>,
}

impl ProbeSpec {
    pub fn status_passes(&self, status: u16) -> bool {
        match &self.expected_status {
            Some(list) => list.contains(&status),
            None => (200..400).contains(&status),
        }
    }
}

mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

const DEFAULT_INTERVAL: f64 = 2.0;
const DEFAULT_TIMEOUT: f64 = 1.0;

/// The probe keys of one app, validated.
pub(super) struct Checked {
    /// The spec, with the defaults in place of any refused interval or timeout.
    pub spec: ProbeSpec,
    /// The interval and timeout, `None` when refused (so the default start-up
    /// grace, made of them, is not computed and not refused a second time).
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
}

/// Validates the probe keys `p`. Problems go to `errs`, each naming
/// `{at}.probe.<key>` and the fix.
pub(super) fn validate(at: &str, p: &ProbeKeys, errs: &mut Vec<String>) -> Checked {
    let interval_v = p.interval_seconds.unwrap_or(DEFAULT_INTERVAL);
    let interval = finite_secs(
        &format!("{at}.probe.intervalSeconds"),
        interval_v,
        (0.1, 3600.0),
        &format!(" (default {DEFAULT_INTERVAL})"),
        errs,
    );
    let timeout = timeout(at, p.timeout_seconds, (interval, interval_v), errs);
    if let Some(list) = &p.expected_status {
        if list.is_empty() || list.iter().any(|c| !(100..=599).contains(c)) {
            errs.push(format!("{at}.probe.expectedStatus: {list:?} must list HTTP status codes between 100 and 599, e.g. 200 or [200, 204]"));
        }
    }
    if let Some(path) = &p.path {
        if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
            errs.push(format!(
                "{at}.probe.path: `{}` must be an absolute URL path such as /healthz",
                path.escape_debug()
            ));
        }
    }
    if matches!(&p.body_contains, Some(s) if s.is_empty() || s.len() > 1024) {
        errs.push(format!(
            "{at}.probe.bodyContains: must be 1 to 1024 bytes; remove it to skip the body check"
        ));
    }
    if let Some(service) = &p.grpc_service {
        grpc_service(at, service, errs);
    }
    let tls = p.tls.as_ref().and_then(|t| super::probe_tls::validate(at, t, errs));
    let spec = ProbeSpec {
        interval: interval.unwrap_or(Duration::from_secs(2)),
        timeout: timeout.unwrap_or(Duration::from_secs(1)),
        expected_status: p.expected_status.clone(),
        body_contains: p.body_contains.clone(),
        grpc_service: p.grpc_service.clone(),
        tls,
    };
    Checked {
        spec,
        interval,
        timeout,
    }
}

/// `grpcService`: a gRPC service name, 1 to 256 printable ASCII characters
/// without spaces (such as `grpc.health.v1.Health` or `payments.v1.Ledger`).
fn grpc_service(at: &str, service: &str, errs: &mut Vec<String>) {
    if service.is_empty() {
        errs.push(format!(
            "{at}.probe.grpcService: is empty; remove it to check the server's overall health"
        ));
    } else if service.len() > 256 || !service.bytes().all(|b| b.is_ascii_graphic()) {
        errs.push(format!(
            "{at}.probe.grpcService: `{}` must be a gRPC service name of 1 to 256 printable ASCII characters without spaces, such as payments.v1.Ledger",
            service.escape_debug()
        ));
    }
}

/// `timeoutSeconds`: at least 0.01 and at most the interval (`interval`, as
/// validated, and `interval_v`, as written).
fn timeout(
    at: &str,
    given: Option<f64>,
    (interval, interval_v): (Option<Duration>, f64),
    errs: &mut Vec<String>,
) -> Option<Duration> {
    let timeout_v = given.unwrap_or(DEFAULT_TIMEOUT);
    let timeout_max = interval.map_or(3600.0, |d| d.as_secs_f64());
    match problem(timeout_v, (0.01, timeout_max)) {
        None => Duration::try_from_secs_f64(timeout_v).ok(),
        Some(why) => {
            let why = if timeout_v.is_finite() {
                String::new()
            } else {
                format!("{why}; it ")
            };
            errs.push(format!("{at}.probe.timeoutSeconds: {} {why}must be at least 0.01 and at most intervalSeconds ({}); lower it or raise the interval", show(timeout_v), show(interval_v)));
            None
        }
    }
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
