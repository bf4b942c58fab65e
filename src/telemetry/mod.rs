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
//!   only (`telemetry/verdicts.rs`), and the account's health-check quota and
//!   usage (`telemetry/route53_quota.rs`);
//! - the probe series (`probe_duration_seconds`, `probes_total`): each replica for
//!   the apps it probes ([`Metrics::probes_of`], [`Metrics::retain_probes`]);
//! - everything else (listeners, sources, AWS calls, the process): each replica,
//!   a constant number of series.

mod fold;
mod probes;
mod public;
mod route53_quota;
mod verdicts;

pub use fold::{FoldMetrics, Folded, PassKind};
pub use probes::{AppMetrics, ProbeMetrics};
pub use public::{HealthAnswer, Refusal};
pub use route53_quota::{CheckOwner, QuotaGauges};
pub use verdicts::{AppSeries, Leader, TermTransitions, VerdictSource};

use crate::model::AppKey;
use prometheus::{Encoder, IntCounter, IntGauge, IntGaugeVec, Opts, Registry};
use std::sync::Arc;

/// The agent's metric families, registered in their own [`Registry`].
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    /// The probe series of the apps probed here.
    probes: probes::ProbeFamilies,
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
    /// The account's health-check quota and usage (the leader only).
    pub route53_quota: QuotaGauges,
    /// The verdict store the leader's per-app series are rendered from.
    verdicts: verdicts::Slot,
    /// Renders those series into each scrape (see [`verdicts::LeaderSeries`]).
    leader_series: Option<verdicts::LeaderSeries>,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("failover_agent")
}

/// The sources whose staleness `source_stale` reports, each at 0 from the start.
const SOURCES: [&str; 2] = ["kubernetes", crate::aws::ELBV2_SOURCE];

impl Metrics {
    /// Registers every family of one agent in a new registry: each family once,
    /// each closed-label series at 0 from the start.
    pub fn new(region: &str) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let public = public::PublicSeries::register(&registry)?;
        let leader = Leader::new(IntGauge::with_opts(opts(
            "leader",
            "1 while this replica leads (holds the Lease and its term has not run out); a static agent always leads. Only the leader exports the per-app verdict series.",
        ))?);
        registry.register(Box::new(leader.gauge().clone()))?;
        let verdicts = verdicts::Slot::default();
        let series = verdicts::LeaderSeries::new(leader.clone(), verdicts.clone())?;
        registry.register(Box::new(series.clone()))?;
        let route53_quota = QuotaGauges::new(leader.clone())?;
        registry.register(Box::new(route53_quota.clone()))?;
        register_process(&registry, region)?;
        Ok(Metrics {
            probes: probes::ProbeFamilies::register(&registry)?,
            health_answers: public.answers,
            public_connections_open: public.open,
            source_stale: register_source_stale(&registry)?,
            public_connections_rejected: public.rejected,
            public_connections_evicted: public.evicted,
            leader,
            aws: crate::aws::AwsMetrics::register(&registry)?,
            fold: FoldMetrics::register(&registry)?,
            route53_quota,
            verdicts,
            leader_series: Some(series),
            registry,
        })
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
        self.probes.of(key)
    }

    /// Removes the probe series of `key` (every outcome and the histogram). Handles
    /// still held keep working but are no longer exported.
    pub fn forget_probes(&self, key: &AppKey) {
        self.probes.forget(key)
    }

    /// Forgets the probe series ([`Metrics::forget_probes`]) of every app with some
    /// for which `live` is false; returns how many.
    pub fn retain_probes(&self, live: impl Fn(&AppKey) -> bool) -> usize {
        self.probes.retain(live)
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

/// Registers `source_stale`, with every known source at 0.
fn register_source_stale(r: &Registry) -> Result<IntGaugeVec, prometheus::Error> {
    let stale = IntGaugeVec::new(
        opts(
            "source_stale",
            "1 while a source's data is stale: verdicts are kept from its last known data.",
        ),
        &["source"],
    )?;
    r.register(Box::new(stale.clone()))?;
    for source in SOURCES {
        stale.with_label_values(&[source]).set(0);
    }
    Ok(stale)
}

/// Registers `build_info` (always 1) and the process collector:
/// `process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`,
/// ...: the agent's own footprint, for the dashboard and for sizing requests.
fn register_process(r: &Registry, region: &str) -> Result<(), prometheus::Error> {
    let build = prometheus::IntGaugeVec::new(
        opts("build_info", "Build and Region of this agent; always 1."),
        &["version", "region"],
    )?;
    build.with_label_values(&[env!("CARGO_PKG_VERSION"), region]).set(1);
    r.register(Box::new(build))?;
    r.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global tracing subscriber. `RUST_LOG` filters (default `info`, with
/// hickory-server's line per DNS query of the demo at `warn`).
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,hickory_server=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}
