//! The per-app verdict series, exported by the leader only.
//!
//! Every replica serves every app's verdict, but Prometheus needs it once: exported
//! by each of N replicas, the same series would be stored N times. So these
//! families are not kept as metric handles. At each scrape, [`LeaderSeries`] renders
//! them from the verdict store (a [`VerdictSource`]) while this replica leads
//! (`failover_agent_leader` is 1, as the election publishes it through [`Leader`]),
//! and renders nothing otherwise:
//!
//! - a replica that starts leading exports every app's series at its next scrape,
//!   from the verdicts it already serves;
//! - one that stops leading drops all of them at once;
//! - an app that leaves the store has none left: there is nothing to forget, and no
//!   late write can bring a series back;
//! - `failover_agent_app_transitions_total` counts the transitions seen during this
//!   replica's current term of leadership, so a new leader's counters start at 0 (a
//!   counter reset, which `rate()` and `increase()` handle).

use crate::model::{AppKey, Health, OverrideMode};
use crate::policy::Counts;
use parking_lot::RwLock;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::IntGauge;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Whether this replica leads: the `failover_agent_leader` gauge, and the number of
/// the current term of leadership, which goes up each time the gauge goes to 1.
#[derive(Clone)]
pub struct Leader {
    inner: Arc<LeaderInner>,
}

struct LeaderInner {
    gauge: IntGauge,
    term: AtomicU64,
}

impl Leader {
    pub fn new(gauge: IntGauge) -> Leader {
        Leader {
            inner: Arc::new(LeaderInner {
                gauge,
                term: AtomicU64::new(0),
            }),
        }
    }

    /// 1 while this replica leads, else 0. A change to 1 begins a new term (before
    /// the gauge says so, so a scrape that sees 1 sees the new term).
    pub fn set(&self, leading: i64) {
        if leading == 1 && self.inner.gauge.get() != 1 {
            self.inner.term.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.gauge.set(leading);
    }

    /// The gauge's value: 1 while leading.
    pub fn get(&self) -> i64 {
        self.inner.gauge.get()
    }

    pub fn is_leading(&self) -> bool {
        self.get() == 1
    }

    /// The current (or last) term of leadership; 0 before the first.
    pub fn term(&self) -> u64 {
        self.inner.term.load(Ordering::SeqCst)
    }

    pub(super) fn gauge(&self) -> &IntGauge {
        &self.inner.gauge
    }
}

/// An app's verdict transitions in one term of leadership, by the verdict
/// transitioned to. Counting in a new term starts again from 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TermTransitions {
    term: u64,
    to_healthy: u64,
    to_unhealthy: u64,
}

impl TermTransitions {
    /// Counts a transition to `to`, seen in term `term`.
    pub fn count(&mut self, to: Health, term: u64) {
        if self.term != term {
            *self = TermTransitions {
                term,
                ..Default::default()
            };
        }
        match to {
            Health::Healthy => self.to_healthy += 1,
            Health::Unhealthy => self.to_unhealthy += 1,
        }
    }

    /// Transitions to healthy and to unhealthy in term `term` (0 if none was counted in it).
    pub fn in_term(&self, term: u64) -> [u64; 2] {
        if self.term == term {
            [self.to_healthy, self.to_unhealthy]
        } else {
            [0, 0]
        }
    }
}

/// What the per-app verdict series of one app say.
#[derive(Clone, Copy, Debug)]
pub struct AppSeries {
    pub health: Health,
    /// Endpoints by debounced state (`failover_agent_app_endpoints`).
    pub counts: Counts,
    /// The override in force.
    pub ovr: OverrideMode,
    pub transitions: TermTransitions,
    /// The ALB's healthy and total targets, once read.
    pub targets: Option<(u32, u32)>,
    /// Route 53's own verdict, once read.
    pub route53_healthy: Option<bool>,
}

/// The verdict store, as the collector reads it.
pub trait VerdictSource: Send + Sync {
    /// Calls `f` with every app's key and series.
    fn each(&self, f: &mut dyn FnMut(&AppKey, &AppSeries));
}

/// The store the collector reads, once the agent has given it one.
pub(super) type Slot = Arc<RwLock<Option<Arc<dyn VerdictSource>>>>;

/// The families, their help, type and extra label (after `namespace` and `app`).
const FAMILIES: [(&str, &str, MetricType, Option<&str>); 6] = [
    (
        "app_healthy",
        "1 if the agent's verdict for the app is healthy, else 0. Exported by the leader only.",
        MetricType::GAUGE,
        None,
    ),
    (
        "app_transitions_total",
        "Verdict transitions during this replica's term as leader, by the verdict transitioned to. Exported by the leader only; a new leader starts from 0.",
        MetricType::COUNTER,
        Some("to"),
    ),
    (
        "app_endpoints",
        "Endpoints by debounced state (up, down, unknown). Exported by the leader only.",
        MetricType::GAUGE,
        Some("state"),
    ),
    (
        "app_override",
        "1 while an override forces the app's verdict, by mode. Exported by the leader only.",
        MetricType::GAUGE,
        Some("mode"),
    ),
    (
        "app_targets",
        "The ALB's targets for the app over its target groups, by state (healthy, total). Exported by the leader only.",
        MetricType::GAUGE,
        Some("state"),
    ),
    (
        "route53_healthy",
        "1 if Route 53's own health check of the app passes (over 18% of checkers), else 0. Exported by the leader only.",
        MetricType::GAUGE,
        None,
    ),
];

/// Renders the per-app verdict families from the store while this replica leads.
pub(super) struct LeaderSeries {
    leader: Leader,
    source: Slot,
    descs: Vec<Desc>,
}

impl LeaderSeries {
    pub(super) fn new(leader: Leader, source: Slot) -> Result<LeaderSeries, prometheus::Error> {
        let descs = FAMILIES
            .iter()
            .map(|(name, help, _, extra)| {
                let mut labels = vec!["namespace".to_string(), "app".to_string()];
                labels.extend(extra.map(str::to_string));
                Desc::new(
                    format!("failover_agent_{name}"),
                    help.to_string(),
                    labels,
                    Default::default(),
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(LeaderSeries { leader, source, descs })
    }
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

/// One sample of `key` with the extra label `extra`, labels sorted by name as the
/// text format expects.
fn sample(key: &AppKey, extra: Option<(&str, &str)>, value: f64, kind: MetricType) -> Metric {
    let mut labels = vec![label("app", &key.name), label("namespace", &key.namespace)];
    if let Some((n, v)) = extra {
        labels.push(label(n, v));
    }
    labels.sort_by(|a, b| a.name().cmp(b.name()));
    let mut m = Metric::from_label(labels);
    if kind == MetricType::COUNTER {
        let mut c = Counter::default();
        c.set_value(value);
        m.set_counter(c);
    } else {
        let mut g = Gauge::default();
        g.set_value(value);
        m.set_gauge(g);
    }
    m
}

/// The samples of one app, by family (in [`FAMILIES`] order).
fn samples(key: &AppKey, s: &AppSeries, term: u64, out: &mut [Vec<Metric>; 6]) {
    let bit = |b: bool| f64::from(u8::from(b));
    let g = MetricType::GAUGE;
    out[0].push(sample(key, None, bit(s.health.is_healthy()), g));
    let [to_healthy, to_unhealthy] = s.transitions.in_term(term);
    for (to, n) in [(Health::Healthy, to_healthy), (Health::Unhealthy, to_unhealthy)] {
        out[1].push(sample(key, Some(("to", to.as_str())), n as f64, MetricType::COUNTER));
    }
    for (state, n) in [
        ("up", s.counts.up),
        ("down", s.counts.down),
        ("unknown", s.counts.unknown),
    ] {
        out[2].push(sample(key, Some(("state", state)), n as f64, g));
    }
    for mode in [OverrideMode::Fail, OverrideMode::Pass] {
        out[3].push(sample(key, Some(("mode", mode.as_str())), bit(s.ovr == mode), g));
    }
    if let Some((healthy, total)) = s.targets {
        out[4].push(sample(key, Some(("state", "healthy")), f64::from(healthy), g));
        out[4].push(sample(key, Some(("state", "total")), f64::from(total), g));
    }
    if let Some(h) = s.route53_healthy {
        out[5].push(sample(key, None, bit(h), g));
    }
}

impl Collector for LeaderSeries {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        if !self.leader.is_leading() {
            return Vec::new();
        }
        let Some(source) = self.source.read().clone() else {
            return Vec::new();
        };
        let term = self.leader.term();
        let mut out: [Vec<Metric>; 6] = Default::default();
        source.each(&mut |key, s| samples(key, s, term, &mut out));
        FAMILIES
            .iter()
            .zip(out)
            .map(|((name, help, kind, _), metrics)| {
                let mut f = MetricFamily::default();
                f.set_name(format!("failover_agent_{name}"));
                f.set_help(help.to_string());
                f.set_field_type(*kind);
                f.set_metric(metrics);
                f
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "verdicts_tests.rs"]
mod tests;
