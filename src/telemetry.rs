//! Metrics and tracing. The [`Metrics`] registry is created by the caller and
//! passed in, never global, so two agents in one process (the demo, the tests)
//! keep separate counts.
//!
//! Every label value comes from a closed enum or from the app's identity; nothing
//! per pod, per address or per request path becomes a label.

use crate::model::{AppKey, Health, ProbeOutcome};
use crate::policy::Counts;
use parking_lot::Mutex;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use std::collections::HashSet;
use std::sync::Arc;

/// Probe latency buckets, in seconds.
const PROBE_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The agent's metric families, registered in their own [`Registry`].
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    app_healthy: IntGaugeVec,
    transitions: IntCounterVec,
    probe_duration: HistogramVec,
    probes: IntCounterVec,
    endpoints: IntGaugeVec,
    override_active: IntGaugeVec,
    health_answers: [IntCounter; 4],
    pub public_connections_open: IntGauge,
    /// 1 while the named source's data is stale (its watch is failing).
    pub source_stale: IntGaugeVec,
    /// Public connections refused, by [`Refusal`].
    public_connections_rejected: [IntCounter; 4],
    /// Idle public connections closed to admit new ones at the global cap.
    pub public_connections_evicted: IntCounter,
    /// 1 while this replica leads: it holds the Lease and its term has not run out
    /// (a static agent leads alone: always 1).
    pub leader: IntGauge,
    /// AWS calls, the ALB signal, Route 53's view and the reconciler.
    pub aws: crate::aws::AwsMetrics,
    /// Apps given series by [`Metrics::for_app`], so [`Metrics::retain_apps`] can
    /// find the ones that are gone.
    apps: Arc<Mutex<HashSet<AppKey>>>,
}

/// The `state` label values of `failover_agent_app_endpoints`.
const ENDPOINT_STATES: [&str; 3] = ["up", "down", "unknown"];
/// The `mode` label values of `failover_agent_app_override`.
const OVERRIDE_MODES: [&str; 2] = ["fail", "pass"];
/// The `to` label values of `failover_agent_app_transitions_total`.
const TRANSITIONS_TO: [Health; 2] = [Health::Healthy, Health::Unhealthy];

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
    fn as_str(self) -> &'static str {
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

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("failover_agent")
}

impl Metrics {
    pub fn new(region: &str) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let app = &["namespace", "app"];
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
        let m = Metrics {
            app_healthy: IntGaugeVec::new(
                opts(
                    "app_healthy",
                    "1 if the agent's verdict for the app is healthy, else 0.",
                ),
                app,
            )?,
            transitions: IntCounterVec::new(
                opts(
                    "app_transitions_total",
                    "Verdict transitions, by the verdict transitioned to.",
                ),
                &["namespace", "app", "to"],
            )?,
            probe_duration: HistogramVec::new(
                HistogramOpts::new("probe_duration_seconds", "Probe latency, all endpoints of the app.")
                    .namespace("failover_agent")
                    .buckets(PROBE_BUCKETS.to_vec()),
                app,
            )?,
            probes: IntCounterVec::new(
                opts("probes_total", "Probes finished, by outcome."),
                &["namespace", "app", "outcome"],
            )?,
            endpoints: IntGaugeVec::new(
                opts("app_endpoints", "Endpoints by debounced state (up, down, unknown)."),
                &["namespace", "app", "state"],
            )?,
            override_active: IntGaugeVec::new(
                opts("app_override", "1 while an override forces the app's verdict, by mode."),
                &["namespace", "app", "mode"],
            )?,
            health_answers: HealthAnswer::ALL.map(|a| health_requests.with_label_values(&[a.as_str()])),
            public_connections_open: IntGauge::with_opts(opts(
                "public_connections_open",
                "Open connections on the public listener.",
            ))?,
            public_connections_rejected: Refusal::ALL.map(|r| rejected.with_label_values(&[r.as_str()])),
            public_connections_evicted: IntCounter::with_opts(opts(
                "public_connections_evicted_total",
                "Idle public connections closed to admit a new one at the connection cap.",
            ))?,
            source_stale: IntGaugeVec::new(
                opts(
                    "source_stale",
                    "1 while a source's data is stale: verdicts are kept from its last known data.",
                ),
                &["source"],
            )?,
            leader: IntGauge::with_opts(opts(
                "leader",
                "1 while this replica leads (holds the Lease and its term has not run out); a static agent always leads.",
            ))?,
            aws: crate::aws::AwsMetrics::register(&registry)?,
            apps: Default::default(),
            registry,
        };
        let build = IntGaugeVec::new(
            opts("build_info", "Build and Region of this agent; always 1."),
            &["version", "region"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION"), region]).set(1);
        let r = &m.registry;
        r.register(Box::new(build))?;
        r.register(Box::new(m.app_healthy.clone()))?;
        r.register(Box::new(m.transitions.clone()))?;
        r.register(Box::new(m.probe_duration.clone()))?;
        r.register(Box::new(m.probes.clone()))?;
        r.register(Box::new(m.endpoints.clone()))?;
        r.register(Box::new(m.override_active.clone()))?;
        r.register(Box::new(health_requests))?;
        r.register(Box::new(m.public_connections_open.clone()))?;
        r.register(Box::new(m.source_stale.clone()))?;
        for source in ["kubernetes", crate::agent::ELBV2_SOURCE] {
            m.source_stale.with_label_values(&[source]).set(0);
        }
        r.register(Box::new(rejected))?;
        r.register(Box::new(m.public_connections_evicted.clone()))?;
        r.register(Box::new(m.leader.clone()))?;
        // process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ...:
        // the agent's own footprint, for the dashboard and for sizing requests.
        r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(m)
    }

    /// Per-app metric handles, resolved once so the probe path does no label lookups.
    pub fn for_app(&self, key: &AppKey) -> AppMetrics {
        {
            let mut apps = self.apps.lock();
            if !apps.contains(key) {
                apps.insert(key.clone());
            }
        }
        let l = [key.namespace.as_str(), key.name.as_str()];
        fn with<'a>(l: [&'a str; 2], extra: &'a str) -> [&'a str; 3] {
            [l[0], l[1], extra]
        }
        let [up, down, unknown] = ENDPOINT_STATES.map(|s| self.endpoints.with_label_values(&with(l, s)));
        let [override_fail, override_pass] =
            OVERRIDE_MODES.map(|m| self.override_active.with_label_values(&with(l, m)));
        let [to_healthy, to_unhealthy] =
            TRANSITIONS_TO.map(|h| self.transitions.with_label_values(&with(l, h.as_str())));
        AppMetrics {
            healthy: self.app_healthy.with_label_values(&l),
            to_healthy,
            to_unhealthy,
            latency: self.probe_duration.with_label_values(&l),
            outcomes: ProbeOutcome::ALL.map(|o| self.probes.with_label_values(&with(l, o.as_str()))),
            up,
            down,
            unknown,
            override_fail,
            override_pass,
        }
    }

    /// Removes every per-app series of `key`: each family with `namespace` and
    /// `app` labels, in every combination of its other labels (all from closed
    /// enums), the histogram and the AWS families included. Handles an [`App`]
    /// still holds keep working but are no longer exported.
    ///
    /// [`App`]: crate::state::App
    pub fn forget(&self, key: &AppKey) {
        self.apps.lock().remove(key);
        let l = [key.namespace.as_str(), key.name.as_str()];
        let with = |extra: &'static str| [l[0], l[1], extra];
        // Err only means the series did not exist: nothing to remove.
        let _ = self.app_healthy.remove_label_values(&l);
        let _ = self.probe_duration.remove_label_values(&l);
        for h in TRANSITIONS_TO {
            let _ = self.transitions.remove_label_values(&with(h.as_str()));
        }
        for o in ProbeOutcome::ALL {
            let _ = self.probes.remove_label_values(&with(o.as_str()));
        }
        for s in ENDPOINT_STATES {
            let _ = self.endpoints.remove_label_values(&with(s));
        }
        for m in OVERRIDE_MODES {
            let _ = self.override_active.remove_label_values(&with(m));
        }
        self.aws.forget(key);
    }

    /// Forgets ([`Metrics::forget`]) every app with series that is not `live`,
    /// whichever path gave it series (the store, the ALB reader, Route 53's
    /// check watcher); returns how many. Called when the app set changes, so a
    /// series written late for an app already gone goes at the next change.
    pub fn retain_apps(&self, live: impl Fn(&AppKey) -> bool) -> usize {
        let mut gone: HashSet<AppKey> = self.apps.lock().iter().filter(|k| !live(k)).cloned().collect();
        gone.extend(self.aws.apps_not(&live));
        for key in &gone {
            self.forget(key);
        }
        if !gone.is_empty() {
            tracing::debug!(apps = gone.len(), "removed the metric series of apps that are gone");
        }
        gone.len()
    }

    /// Counts one public health answer.
    pub fn health_answer(&self, a: HealthAnswer) {
        self.health_answers[a as usize].inc();
    }

    /// Counts a public connection closed at once.
    pub fn refused(&self, r: Refusal) {
        self.public_connections_rejected[r as usize].inc();
    }

    /// The registry in Prometheus text format.
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail on I/O; a metric-family error would be a bug.
        if let Err(e) = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        buf
    }
}

/// Metric handles for one app.
#[derive(Clone)]
pub struct AppMetrics {
    healthy: IntGauge,
    to_healthy: IntCounter,
    to_unhealthy: IntCounter,
    latency: Histogram,
    outcomes: [IntCounter; 6],
    up: IntGauge,
    down: IntGauge,
    unknown: IntGauge,
    override_fail: IntGauge,
    override_pass: IntGauge,
}

impl AppMetrics {
    pub fn probe(&self, outcome: ProbeOutcome, latency_secs: f64) {
        self.latency.observe(latency_secs);
        let i = ProbeOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(ProbeOutcome::ALL.len() - 1);
        self.outcomes[i].inc();
    }

    pub fn verdict(&self, health: Health, counts: Counts, ovr: crate::model::OverrideMode) {
        self.healthy.set(health.is_healthy() as i64);
        self.up.set(counts.up as i64);
        self.down.set(counts.down as i64);
        self.unknown.set(counts.unknown as i64);
        self.override_fail.set((ovr == crate::model::OverrideMode::Fail) as i64);
        self.override_pass.set((ovr == crate::model::OverrideMode::Pass) as i64);
    }

    pub fn transition(&self, to: Health) {
        match to {
            Health::Healthy => self.to_healthy.inc(),
            Health::Unhealthy => self.to_unhealthy.inc(),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global tracing subscriber. `RUST_LOG` filters (default `info`).
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}
