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
mod tests {
    use super::*;
    use crate::model::{ProbeOutcome, Target};
    use crate::spec::policy::Policy;
    use std::time::Duration;

    fn job(app: &str, ip: &str) -> Job<Tag> {
        let addr = format!("{ip}:80").parse().unwrap();
        Job {
            target: Target::Tcp { addr },
            spec: Arc::new(crate::spec::ProbeSpec {
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                expected_status: None,
                body_contains: None,
            }),
            group: app.into(),
            tag: Tag {
                app: app.into(),
                ip: ip.parse().unwrap(),
                policy: Policy {
                    min_healthy: crate::spec::policy::MinHealthy::Count(1),
                    fall_count: 1,
                    rise_count: 1,
                    min_healthy_targets: crate::spec::policy::MinHealthy::Count(1),
                },
            },
        }
    }

    /// `(namespace, app)` of every probe sample in `/metrics`.
    fn probed(m: &Metrics) -> Vec<(String, String, u64)> {
        let mut out = Vec::new();
        for f in m.registry.gather() {
            // The histogram's count: it exists from the first job; outcome counters
            // appear with their first outcome.
            if f.name() != "failover_agent_probe_duration_seconds" {
                continue;
            }
            for s in f.get_metric() {
                let l = |n: &str| {
                    s.get_label()
                        .iter()
                        .find(|l| l.name() == n)
                        .map(|l| l.value().to_string())
                        .unwrap_or_default()
                };
                {
                    out.push((l("namespace"), l("app"), s.get_histogram().get_sample_count()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_node_exports_probe_series_only_for_the_apps_it_probes() {
        let m = Metrics::new("r").unwrap();
        let series = ProbeSeries::new(m.clone());
        let ok = ProbeResult {
            outcome: ProbeOutcome::Success,
            latency: Duration::from_millis(3),
            status: Some(200),
        };
        assert!(probed(&m).is_empty(), "no series before any job");
        series.retain(&[
            job("team/web", "10.0.0.1"),
            job("team/web", "10.0.0.2"),
            job("shop/db", "10.0.0.3"),
        ]);
        series.observe("team/web", &ok);
        series.observe("team/web", &ok);
        series.observe("shop/db", &ok);
        series.observe("team/elsewhere", &ok);
        assert_eq!(
            probed(&m),
            [("shop".into(), "db".into(), 1), ("team".into(), "web".into(), 2)]
        );

        // db's endpoint leaves this node: its series go, and a probe of it that was
        // in flight is not counted anywhere.
        series.retain(&[job("team/web", "10.0.0.1")]);
        series.observe("shop/db", &ok);
        series.observe("team/web", &ok);
        assert_eq!(probed(&m), [("team".into(), "web".into(), 3)], "web's counts are kept");
        let text = String::from_utf8(m.encode()).unwrap();
        assert!(!text.contains("app=\"db\""), "{text}");

        // Back on this node: it starts again from 0.
        series.retain(&[job("team/web", "10.0.0.1"), job("shop/db", "10.0.0.3")]);
        assert_eq!(
            probed(&m),
            [("shop".into(), "db".into(), 0), ("team".into(), "web".into(), 3)]
        );
        series.retain(&[]);
        assert!(probed(&m).is_empty());
        let text = String::from_utf8(m.encode()).unwrap();
        assert!(!text.contains("failover_agent_probe_duration_seconds_count"), "{text}");
    }
}
