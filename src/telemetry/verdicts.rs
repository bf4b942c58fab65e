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

use crate::model::Counts;
use crate::model::{AppKey, Health, OverrideMode};
use parking_lot::RwLock;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{MetricFamily, MetricType};
use prometheus::IntGauge;
use std::io::Write;
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
#[derive(Clone, Debug)]
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
    /// The share of DNS answers per set identifier, once the record set was read.
    pub dns_shares: Option<std::collections::BTreeMap<String, f64>>,
}

/// The verdict store, as the collector reads it.
pub trait VerdictSource: Send + Sync {
    /// Calls `f` with every app's key and series.
    fn each(&self, f: &mut dyn FnMut(&AppKey, &AppSeries));
}

/// The store the collector reads, once the agent has given it one.
pub(super) type Slot = Arc<RwLock<Option<Arc<dyn VerdictSource>>>>;

/// The families, their help, type and extra label (after `namespace` and `app`).
const FAMILIES: [(&str, &str, MetricType, Option<&str>); 7] = [
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
    (
        "dns_share",
        "The share (0 to 1) of DNS answers for the app's record that go to each record of its set, by Route 53's rules and its view of every record's check. Exported by the leader only.",
        MetricType::GAUGE,
        Some("set_identifier"),
    ),
];

/// The index in [`FAMILIES`] of `dns_share`, whose label value comes from the
/// record set (its set identifiers), not from a closed set.
const DNS_SHARE: usize = 6;

/// The per-app verdict families, rendered from the store while this replica leads.
///
/// Registered in the registry only to reserve the families' names (its `collect`
/// yields nothing): [`LeaderSeries::render`] writes them straight into the text of
/// a scrape, so 5,000 apps (40,000 samples) cost their text, not 40,000 protobuf
/// messages (16 MiB of allocator high-water mark on the leader, measured with
/// `bench/cluster_scale.py --apps 5000`).
#[derive(Clone)]
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

    /// Appends the families, in the Prometheus text format (as `TextEncoder`
    /// writes it: labels sorted by name, values escaped), to `out`; nothing unless
    /// this replica leads and has a store. Families without samples are left out.
    pub(super) fn render(&self, out: &mut Vec<u8>) {
        if !self.leader.is_leading() {
            return;
        }
        let Some(source) = self.source.read().clone() else {
            return;
        };
        let term = self.leader.term();
        for (i, (name, help, kind, _)) in FAMILIES.iter().enumerate() {
            let start = out.len();
            let kind = if *kind == MetricType::COUNTER {
                "counter"
            } else {
                "gauge"
            };
            let _ = write!(
                out,
                "# HELP failover_agent_{name} {}\n# TYPE failover_agent_{name} {kind}\n",
                escape(help, false)
            );
            let head = out.len();
            source.each(&mut |key, s| {
                if i == DNS_SHARE {
                    for (id, share) in s.dns_shares.iter().flatten() {
                        write_sample(out, name, key, Some(("set_identifier", id)), *share);
                    }
                    return;
                }
                for (extra, value) in samples_of(i, s, term) {
                    write_sample(out, name, key, extra, value);
                }
            });
            if out.len() == head {
                out.truncate(start);
            }
        }
    }
}

/// The samples of family `FAMILIES[family]` for one app: its extra label, if
/// any, and value.
fn samples_of(family: usize, s: &AppSeries, term: u64) -> Vec<(Option<(&'static str, &'static str)>, f64)> {
    let bit = |b: bool| f64::from(u8::from(b));
    match family {
        0 => vec![(None, bit(s.health.is_healthy()))],
        1 => {
            let [to_healthy, to_unhealthy] = s.transitions.in_term(term);
            vec![
                (Some(("to", Health::Healthy.as_str())), to_healthy as f64),
                (Some(("to", Health::Unhealthy.as_str())), to_unhealthy as f64),
            ]
        }
        2 => vec![
            (Some(("state", "up")), s.counts.up as f64),
            (Some(("state", "down")), s.counts.down as f64),
            (Some(("state", "unknown")), s.counts.unknown as f64),
        ],
        3 => [OverrideMode::Fail, OverrideMode::Pass]
            .into_iter()
            .map(|m| (Some(("mode", m.as_str())), bit(s.ovr == m)))
            .collect(),
        4 => s.targets.map_or_else(Vec::new, |(healthy, total)| {
            vec![
                (Some(("state", "healthy")), f64::from(healthy)),
                (Some(("state", "total")), f64::from(total)),
            ]
        }),
        5 => s.route53_healthy.map(|h| (None, bit(h))).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// One sample line: labels sorted by name (`app`, then the extra label when it
/// sorts before `namespace`, `namespace`, then the others).
fn write_sample(out: &mut Vec<u8>, name: &str, key: &AppKey, extra: Option<(&str, &str)>, value: f64) {
    let _ = write!(out, "failover_agent_{name}{{app=\"{}\"", escape(&key.name, true));
    let (before, after) = match extra {
        Some((n, v)) if n < "namespace" => (Some((n, v)), None),
        other => (None, other),
    };
    if let Some((n, v)) = before {
        let _ = write!(out, ",{n}=\"{}\"", escape(v, true));
    }
    let _ = write!(out, ",namespace=\"{}\"", escape(&key.namespace, true));
    if let Some((n, v)) = after {
        let _ = write!(out, ",{n}=\"{}\"", escape(v, true));
    }
    let _ = writeln!(out, "}} {value}");
}

/// `v` escaped as the text format wants: `\\`, `\n`, and `\"` in label values.
fn escape(v: &str, quotes: bool) -> std::borrow::Cow<'_, str> {
    let special = |c: char| c == '\\' || c == '\n' || (quotes && c == '"');
    if !v.contains(special) {
        return v.into();
    }
    let mut e = String::with_capacity(v.len() + 8);
    for c in v.chars() {
        match c {
            '\n' => e.push_str("\\n"),
            c if special(c) => {
                e.push('\\');
                e.push(c);
            }
            c => e.push(c),
        }
    }
    e.into()
}

impl Collector for LeaderSeries {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    /// Nothing: see [`LeaderSeries::render`].
    fn collect(&self) -> Vec<MetricFamily> {
        Vec::new()
    }
}

#[cfg(test)]
#[path = "verdicts_tests.rs"]
mod tests;
