//! Metrics and tracing. The [`Metrics`] registry is created by the caller and
//! passed in, never global, so two agents in one process (the demo, the tests)
//! keep separate counts.
//!
//! Every label value comes from a closed enum or from the app's identity; nothing
//! per pod, per address or per request path becomes a label.
//!
//! Who exports what, so that the series do not multiply with the node count:
//!
//! - the per-app verdict series (`app_healthy`, `app_transitions_total`,
//!   `app_endpoints`, `app_override`, `app_targets`, `route53_healthy`): the leader
//!   only (`telemetry/verdicts.rs`);
//! - the probe series (`probe_duration_seconds`, `probes_total`): each replica for
//!   the apps it probes ([`Metrics::probes_of`], [`Metrics::retain_probes`]);
//! - everything else (listeners, sources, AWS calls, the process): each replica,
//!   a constant number of series.

mod fold;
mod verdicts;

pub use fold::{FoldMetrics, Folded, PassKind};
pub use verdicts::{AppSeries, Leader, TermTransitions, VerdictSource};

use crate::model::{AppKey, ProbeOutcome};
use parking_lot::Mutex;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use std::collections::HashSet;
use std::sync::Arc;

/// Probe latency buckets, in seconds: six, each about 5× the last, from a pod on
/// the same node (2 ms) to a probe at its longest timeout. Every bucket is a series
/// per app on every node that probes it (with `+Inf`, `_sum` and `_count`, 9), so
/// they are few: a node probing 20 apps stays under 300 series.
const PROBE_BUCKETS: &[f64] = &[0.002, 0.01, 0.05, 0.25, 1.0, 5.0];

/// The agent's metric families, registered in their own [`Registry`].
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    probe_duration: HistogramVec,
    probes: IntCounterVec,
    health_answers: [IntCounter; 4],
    pub public_connections_open: IntGauge,
    /// 1 while the named source's data is stale (its watch is failing).
    pub source_stale: IntGaugeVec,
    /// Public connections refused, by [`Refusal`].
    public_connections_rejected: [IntCounter; 4],
    /// Idle public connections closed to admit new ones at the global cap.
    pub public_connections_evicted: IntCounter,
    /// `failover_agent_leader`: 1 while this replica leads: it holds the Lease and its
    /// term has not run out (a static agent leads alone: always 1). Only the leader
    /// exports the per-app verdict series.
    pub leader: Leader,
    /// AWS calls and the reconciler's work.
    pub aws: crate::aws::AwsMetrics,
    /// The leader's fold passes.
    pub fold: FoldMetrics,
    /// The verdict store the leader's per-app series are rendered from.
    verdicts: verdicts::Slot,
    /// Renders those series into each scrape (see [`verdicts::LeaderSeries`]).
    leader_series: Option<verdicts::LeaderSeries>,
    /// Apps given probe series by [`Metrics::probes_of`], so
    /// [`Metrics::retain_probes`] can find the ones no longer probed.
    probed: Arc<Mutex<HashSet<AppKey>>>,
}

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
        let mut m = Metrics {
            probe_duration: HistogramVec::new(
                HistogramOpts::new(
                    "probe_duration_seconds",
                    "Probe latency, all endpoints of the app that this replica probes (those on its node).",
                )
                .namespace("failover_agent")
                .buckets(PROBE_BUCKETS.to_vec()),
                app,
            )?,
            probes: IntCounterVec::new(
                opts(
                    "probes_total",
                    "Probes finished by this replica (of the app's endpoints on its node), by outcome.",
                ),
                &["namespace", "app", "outcome"],
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
            leader: Leader::new(IntGauge::with_opts(opts(
                "leader",
                "1 while this replica leads (holds the Lease and its term has not run out); a static agent always leads. Only the leader exports the per-app verdict series.",
            ))?),
            aws: crate::aws::AwsMetrics::register(&registry)?,
            fold: FoldMetrics::register(&registry)?,
            verdicts: Default::default(),
            leader_series: None,
            probed: Default::default(),
            registry,
        };
        let build = IntGaugeVec::new(
            opts("build_info", "Build and Region of this agent; always 1."),
            &["version", "region"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION"), region]).set(1);
        let r = &m.registry;
        r.register(Box::new(build))?;
        let series = verdicts::LeaderSeries::new(m.leader.clone(), m.verdicts.clone())?;
        r.register(Box::new(series.clone()))?;
        m.leader_series = Some(series);
        r.register(Box::new(m.probe_duration.clone()))?;
        r.register(Box::new(m.probes.clone()))?;
        r.register(Box::new(health_requests))?;
        r.register(Box::new(m.public_connections_open.clone()))?;
        r.register(Box::new(m.source_stale.clone()))?;
        for source in ["kubernetes", crate::agent::ELBV2_SOURCE] {
            m.source_stale.with_label_values(&[source]).set(0);
        }
        r.register(Box::new(rejected))?;
        r.register(Box::new(m.public_connections_evicted.clone()))?;
        r.register(Box::new(m.leader.gauge().clone()))?;
        // process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ...:
        // the agent's own footprint, for the dashboard and for sizing requests.
        r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(m)
    }

    /// Renders the per-app verdict series from `source` (while this replica leads).
    pub fn export_verdicts(&self, source: Arc<dyn VerdictSource>) {
        *self.verdicts.write() = Some(source);
    }

    /// The handles of an app whose probes run here (a static agent's apps): its probe
    /// series, and the term clock that restarts its transition counts.
    pub fn for_app(&self, key: &AppKey) -> AppMetrics {
        AppMetrics {
            probes: Some(self.probes_of(key)),
            leader: self.leader.clone(),
        }
    }

    /// The handles of an app whose verdict is decided elsewhere and which is not
    /// probed through it: no probe series.
    pub fn for_remote_app(&self) -> AppMetrics {
        AppMetrics {
            probes: None,
            leader: self.leader.clone(),
        }
    }

    /// The probe series of `key`, created (at 0) if it has none; resolved once so the
    /// probe path does no label lookups.
    pub fn probes_of(&self, key: &AppKey) -> ProbeMetrics {
        {
            let mut probed = self.probed.lock();
            if !probed.contains(key) {
                probed.insert(key.clone());
            }
        }
        let l = [key.namespace.as_str(), key.name.as_str()];
        ProbeMetrics {
            latency: self.probe_duration.with_label_values(&l),
            outcomes: Arc::new(LazyOutcomes {
                family: self.probes.clone(),
                key: key.clone(),
                counters: Default::default(),
            }),
        }
    }

    /// Removes the probe series of `key` (every outcome and the histogram). Handles
    /// still held keep working but are no longer exported.
    pub fn forget_probes(&self, key: &AppKey) {
        self.probed.lock().remove(key);
        let l = [key.namespace.as_str(), key.name.as_str()];
        // Err only means the series did not exist: nothing to remove.
        let _ = self.probe_duration.remove_label_values(&l);
        for o in ProbeOutcome::ALL {
            let _ = self.probes.remove_label_values(&[l[0], l[1], o.as_str()]);
        }
    }

    /// Forgets the probe series ([`Metrics::forget_probes`]) of every app with some
    /// for which `live` is false; returns how many.
    pub fn retain_probes(&self, live: impl Fn(&AppKey) -> bool) -> usize {
        let gone: Vec<AppKey> = self.probed.lock().iter().filter(|k| !live(k)).cloned().collect();
        for key in &gone {
            self.forget_probes(key);
        }
        if !gone.is_empty() {
            tracing::debug!(
                apps = gone.len(),
                "removed the probe series of apps no longer probed here"
            );
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
        if let Some(series) = &self.leader_series {
            series.render(&mut buf);
        }
        buf
    }
}

/// The probe series of one app.
#[derive(Clone)]
pub struct ProbeMetrics {
    latency: Histogram,
    outcomes: Arc<LazyOutcomes>,
}

/// An app's `probes_total` counters, each made the first time its outcome happens:
/// a healthy app exports one (`success`), not six.
struct LazyOutcomes {
    family: IntCounterVec,
    key: AppKey,
    counters: [std::sync::OnceLock<IntCounter>; 6],
}

impl ProbeMetrics {
    pub fn probe(&self, outcome: ProbeOutcome, latency_secs: f64) {
        self.latency.observe(latency_secs);
        let i = ProbeOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(ProbeOutcome::ALL.len() - 1);
        let o = &self.outcomes;
        o.counters[i]
            .get_or_init(|| {
                o.family
                    .with_label_values(&[o.key.namespace.as_str(), o.key.name.as_str(), outcome.as_str()])
            })
            .inc();
    }
}

/// Metric handles for one app in the verdict store.
#[derive(Clone)]
pub struct AppMetrics {
    /// Its probe series, when its probes go through the store (static agents).
    probes: Option<ProbeMetrics>,
    leader: Leader,
}

impl AppMetrics {
    pub fn probe(&self, outcome: ProbeOutcome, latency_secs: f64) {
        if let Some(p) = &self.probes {
            p.probe(outcome, latency_secs);
        }
    }

    /// The current term of leadership, which transition counts belong to.
    pub fn term(&self) -> u64 {
        self.leader.term()
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
