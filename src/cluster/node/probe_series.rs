//! This replica's probe series: `failover_agent_probe_duration_seconds` and
//! `failover_agent_probes_total` for the apps it probes (those with endpoints on its
//! node) and no others. An app's series go as soon as this node stops probing it;
//! a probe of it that finishes after that is not counted.

use super::prober::Tag;
use crate::model::{AppKey, ProbeResult};
use crate::observe::probe::Job;
use crate::telemetry::{Metrics, ProbeMetrics};
use arc_swap::ArcSwap;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The probe series of this node's apps, by app (`namespace/app`, as in [`Tag::app`]).
pub struct ProbeSeries {
    metrics: Metrics,
    by_app: ArcSwap<HashMap<Arc<str>, ProbeMetrics>>,
}

impl ProbeSeries {
    pub fn new(metrics: Metrics) -> ProbeSeries {
        ProbeSeries {
            metrics,
            by_app: Default::default(),
        }
    }

    /// Keeps probe series for the apps of `jobs` (this node's probe jobs) only:
    /// creates those of new apps, drops those of apps no longer probed here.
    pub fn retain(&self, jobs: &[Job<Tag>]) {
        let current = self.by_app.load();
        let mut next: HashMap<Arc<str>, ProbeMetrics> = HashMap::new();
        for job in jobs {
            let app = &job.tag.app;
            if next.contains_key(app) {
                continue;
            }
            let handles = match current.get(app) {
                Some(h) => h.clone(),
                None => match key_of(app) {
                    Some(key) => self.metrics.probes_of(&key),
                    None => continue,
                },
            };
            next.insert(app.clone(), handles);
        }
        let live: HashSet<AppKey> = next.keys().filter_map(|a| key_of(a)).collect();
        // Late results of dropped apps find no handles from here on.
        self.by_app.store(Arc::new(next));
        self.metrics.retain_probes(|key| live.contains(key));
    }

    /// Counts one probe result of `app` (`namespace/app`), if it is probed here.
    pub fn observe(&self, app: &str, result: &ProbeResult) {
        if let Some(h) = self.by_app.load().get(app) {
            h.probe(result.outcome, result.latency.as_secs_f64());
        }
    }
}

/// The key of an app reference `namespace/app` (a namespace has no `/`).
fn key_of(app_ref: &str) -> Option<AppKey> {
    let (namespace, name) = app_ref.split_once('/')?;
    Some(AppKey {
        namespace: namespace.into(),
        name: name.into(),
    })
}

#[cfg(test)]
#[path = "probe_series_tests.rs"]
mod tests;
