//! The probe series (`probe_duration_seconds`, `probes_total`): each replica
//! exports them for the apps it probes, and removes them when it stops.
//!
//! Guarantees: an app has probe series only between [`ProbeFamilies::of`] and
//! [`ProbeFamilies::forget`]; a healthy app exports one outcome counter, not six.

use super::opts;
use super::verdicts::Leader;
use crate::model::{AppKey, ProbeOutcome};
use parking_lot::Mutex;
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Registry};
use std::collections::HashSet;
use std::sync::Arc;

/// Probe latency buckets, in seconds: six, each about 5× the last, from a pod on
/// the same node (2 ms) to a probe at its longest timeout. Every bucket is a series
/// per app on every node that probes it (with `+Inf`, `_sum` and `_count`, 9), so
/// they are few: a node probing 20 apps stays under 300 series.
const PROBE_BUCKETS: &[f64] = &[0.002, 0.01, 0.05, 0.25, 1.0, 5.0];

/// The two probe families, and the apps that have series in them.
#[derive(Clone)]
pub(super) struct ProbeFamilies {
    duration: HistogramVec,
    outcomes: IntCounterVec,
    /// Apps given probe series by [`ProbeFamilies::of`], so
    /// [`ProbeFamilies::retain`] can find the ones no longer probed.
    probed: Arc<Mutex<HashSet<AppKey>>>,
}

impl ProbeFamilies {
    /// Creates the families and registers them in `r`.
    pub fn register(r: &Registry) -> Result<ProbeFamilies, prometheus::Error> {
        let f = ProbeFamilies {
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "probe_duration_seconds",
                    "Probe latency, all endpoints of the app that this replica probes (those on its node).",
                )
                .namespace("failover_agent")
                .buckets(PROBE_BUCKETS.to_vec()),
                &["namespace", "app"],
            )?,
            outcomes: IntCounterVec::new(
                opts(
                    "probes_total",
                    "Probes finished by this replica (of the app's endpoints on its node), by outcome.",
                ),
                &["namespace", "app", "outcome"],
            )?,
            probed: Default::default(),
        };
        r.register(Box::new(f.duration.clone()))?;
        r.register(Box::new(f.outcomes.clone()))?;
        Ok(f)
    }

    /// The probe series of `key`, created (at 0) if it has none.
    pub fn of(&self, key: &AppKey) -> ProbeMetrics {
        {
            let mut probed = self.probed.lock();
            if !probed.contains(key) {
                probed.insert(key.clone());
            }
        }
        let l = [key.namespace.as_str(), key.name.as_str()];
        ProbeMetrics {
            latency: self.duration.with_label_values(&l),
            outcomes: Arc::new(LazyOutcomes {
                family: self.outcomes.clone(),
                key: key.clone(),
                counters: Default::default(),
            }),
        }
    }

    /// Removes the probe series of `key` (every outcome and the histogram).
    pub fn forget(&self, key: &AppKey) {
        self.probed.lock().remove(key);
        let l = [key.namespace.as_str(), key.name.as_str()];
        // Err only means the series did not exist: nothing to remove.
        let _ = self.duration.remove_label_values(&l);
        for o in ProbeOutcome::ALL {
            let _ = self.outcomes.remove_label_values(&[l[0], l[1], o.as_str()]);
        }
    }

    /// Forgets the probe series of every app with some for which `live` is false;
    /// returns how many.
    pub fn retain(&self, live: impl Fn(&AppKey) -> bool) -> usize {
        let gone: Vec<AppKey> = self.probed.lock().iter().filter(|k| !live(k)).cloned().collect();
        for key in &gone {
            self.forget(key);
        }
        if !gone.is_empty() {
            tracing::debug!(
                apps = gone.len(),
                "removed the probe series of apps no longer probed here"
            );
        }
        gone.len()
    }
}

/// The probe series of one app.
#[derive(Clone)]
pub struct ProbeMetrics {
    latency: Histogram,
    outcomes: Arc<LazyOutcomes>,
}

/// An app's `probes_total` counters, each made the first time its outcome happens:
/// a healthy app exports one (`success`), not one per outcome.
struct LazyOutcomes {
    family: IntCounterVec,
    key: AppKey,
    counters: [std::sync::OnceLock<IntCounter>; ProbeOutcome::ALL.len()],
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
    pub(super) probes: Option<ProbeMetrics>,
    pub(super) leader: Leader,
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
