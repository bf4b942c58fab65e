//! Metrics and tracing. The [`Metrics`] registry is created by the caller and
//! passed in, never global, so two agents in one process (the demo, the tests)
//! keep separate counts.
//!
//! Every label value comes from a closed enum or from the app's identity; nothing
//! per pod, per address or per request path becomes a label.

use crate::model::{AppKey, Health, ProbeOutcome};
use crate::policy::Counts;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

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
    pub public_connections_rejected: IntCounter,
    /// AWS calls, the ALB signal, Route 53's view and the reconciler.
    pub aws: crate::aws::AwsMetrics,
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
            public_connections_rejected: IntCounter::with_opts(opts(
                "public_connections_rejected_total",
                "Public connections closed at once because the connection cap was reached.",
            ))?,
            source_stale: IntGaugeVec::new(
                opts(
                    "source_stale",
                    "1 while a source's data is stale: verdicts are kept from its last known data.",
                ),
                &["source"],
            )?,
            aws: crate::aws::AwsMetrics::register(&registry)?,
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
        r.register(Box::new(m.public_connections_rejected.clone()))?;
        // process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ...:
        // the agent's own footprint, for the dashboard and for sizing requests.
        r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(m)
    }

    /// Per-app metric handles, resolved once so the probe path does no label lookups.
    pub fn for_app(&self, key: &AppKey) -> AppMetrics {
        let l = [key.namespace.as_str(), key.name.as_str()];
        fn with<'a>(l: [&'a str; 2], extra: &'a str) -> [&'a str; 3] {
            [l[0], l[1], extra]
        }
        AppMetrics {
            healthy: self.app_healthy.with_label_values(&l),
            to_healthy: self.transitions.with_label_values(&with(l, Health::Healthy.as_str())),
            to_unhealthy: self.transitions.with_label_values(&with(l, Health::Unhealthy.as_str())),
            latency: self.probe_duration.with_label_values(&l),
            outcomes: ProbeOutcome::ALL.map(|o| self.probes.with_label_values(&with(l, o.as_str()))),
            up: self.endpoints.with_label_values(&with(l, "up")),
            down: self.endpoints.with_label_values(&with(l, "down")),
            unknown: self.endpoints.with_label_values(&with(l, "unknown")),
            override_fail: self.override_active.with_label_values(&with(l, "fail")),
            override_pass: self.override_active.with_label_values(&with(l, "pass")),
        }
    }

    /// Counts one public health answer.
    pub fn health_answer(&self, a: HealthAnswer) {
        self.health_answers[a as usize].inc();
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
