//! The in-memory verdict store. Observations come in through [`App::observe`];
//! each one runs the pure [`policy`](crate::verdict::policy) and, when the answer changes,
//! publishes a new pre-rendered [`PublicAnswer`].
//!
//! The public `/health/<app>` path reads only [`Apps::get`] and
//! [`App::public`]: two atomic loads and a hash lookup, never a lock held by a
//! probe, so a slow probe can never delay an answer.

mod apps;
mod history;
mod series;
mod view;

pub use apps::Apps;

pub use history::{DnsChange, History, Shares, DNS_CHANGES_KEPT, HISTORY_WINDOW};
pub use view::{AppView, EndpointView, Route53View, TransitionView};

use crate::model::Counts;
use crate::model::TargetCounts;
use crate::model::{AppKey, Health, OverrideMode, ProbeResult, Target};
use crate::spec::policy::Policy;
use crate::spec::AppConfig;
use crate::spec::ProbeSpec;
use crate::telemetry::{AppMetrics, TermTransitions};
use crate::verdict::policy;
use crate::verdict::policy::Decision;
use crate::verdict::policy::EndpointTracker;
use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How many recent transitions each app keeps for `/apps` and the status page.
pub const TRANSITIONS_KEPT: usize = 20;

/// The pre-rendered public answer for one app.
#[derive(Debug)]
pub struct PublicAnswer {
    pub healthy: bool,
    /// `HEALTHY <app>\n` or `UNHEALTHY <app>: <reason>\n`.
    pub body: Bytes,
}

/// A runtime override set through the admin API.
#[derive(Clone, Copy, Debug)]
struct RuntimeOverride {
    mode: OverrideMode,
    expires: Option<(Instant, SystemTime)>,
}

/// Who judges an app, and what that judge needs.
pub enum Judge {
    /// This agent probes the app's endpoints and runs its policy (static mode).
    Here(Here),
    /// The cluster's leader judges the app; its verdict arrives through
    /// `AppHealth.status` and is set with [`App::publish`]. This agent holds no
    /// policy, probe or endpoints for it.
    Leader,
}

/// What an app judged here is judged by: its validated config.
pub struct Here {
    pub policy: Policy,
    pub probe: Arc<ProbeSpec>,
    pub targets: Vec<Target>,
    /// ALB target groups whose health is a signal.
    pub target_groups: Vec<String>,
    /// Until then, `unknown` endpoints get the benefit of the doubt.
    grace_until: Instant,
}

/// One app: who judges it, its mutable state, and its published answer.
pub struct App {
    pub key: AppKey,
    pub judge: Judge,
    config_override: OverrideMode,
    public: ArcSwap<PublicAnswer>,
    metrics: AppMetrics,
    inner: Mutex<Inner>,
}

struct Inner {
    trackers: Vec<EndpointTracker>,
    last: Vec<Option<(ProbeResult, SystemTime)>>,
    decision: Decision,
    since: SystemTime,
    transitions: VecDeque<view::Transition>,
    /// Since when the verdict is known (see [`History::verdict_from`]).
    verdict_from: Option<SystemTime>,
    /// Where DNS answered over the last hour.
    dns_history: history::DnsRing,
    runtime_override: Option<RuntimeOverride>,
    /// Counts published with a verdict of the leader ([`Judge::Leader`] only).
    remote_counts: Counts,
    /// The ALB's view, once read.
    alb: Option<TargetCounts>,
    route53: Option<Route53View>,
    /// The override in force at the last evaluation (or published with the verdict).
    ovr: OverrideMode,
    /// Transitions in this replica's current term as leader (`app_transitions_total`).
    counted: TermTransitions,
}

impl Inner {
    /// An app's state as it starts: `decision` since now, no transition yet.
    fn new(
        trackers: Vec<EndpointTracker>,
        last: Vec<Option<(ProbeResult, SystemTime)>>,
        decision: Decision,
        ovr: OverrideMode,
    ) -> Inner {
        Inner {
            trackers,
            last,
            decision,
            since: SystemTime::now(),
            transitions: VecDeque::new(),
            verdict_from: None,
            dns_history: Default::default(),
            runtime_override: None,
            remote_counts: Counts::default(),
            alb: None,
            route53: None,
            ovr,
            counted: TermTransitions::default(),
        }
    }
}

impl App {
    pub fn new(cfg: &AppConfig, metrics: AppMetrics, now: Instant) -> App {
        let n = cfg.targets.len();
        let trackers = vec![EndpointTracker::default(); n];
        let in_grace = !cfg.startup_grace.is_zero();
        let decision = policy::evaluate(
            Counts::of(trackers.iter().map(|t| &t.state)),
            &cfg.policy,
            in_grace,
            cfg.override_mode,
        );
        let public = ArcSwap::from_pointee(render(&cfg.key.name, &decision));
        let mut inner = Inner::new(trackers, vec![None; n], decision, cfg.override_mode);
        inner.verdict_from = Some(inner.since);
        App {
            public,
            key: cfg.key.clone(),
            judge: Judge::Here(Here {
                policy: cfg.policy,
                probe: cfg.probe.clone(),
                targets: cfg.targets.clone(),
                target_groups: cfg.target_groups.clone(),
                grace_until: now + cfg.startup_grace,
            }),
            config_override: cfg.override_mode,
            metrics,
            inner: Mutex::new(inner),
        }
    }

    /// An app judged by the cluster's leader ([`Judge::Leader`]). It answers
    /// `initial` until the first [`App::publish`].
    pub fn remote(key: AppKey, initial: Decision, metrics: AppMetrics) -> App {
        App {
            public: ArcSwap::from_pointee(render(&key.name, &initial)),
            key,
            judge: Judge::Leader,
            config_override: OverrideMode::None,
            metrics,
            inner: Mutex::new(Inner::new(Vec::new(), Vec::new(), initial, OverrideMode::None)),
        }
    }

    /// True for apps judged by the cluster's leader ([`Judge::Leader`]).
    pub fn is_remote(&self) -> bool {
        matches!(self.judge, Judge::Leader)
    }

    /// What an app judged here is judged by; `None` for [`Judge::Leader`].
    pub fn here(&self) -> Option<&Here> {
        match &self.judge {
            Judge::Here(h) => Some(h),
            Judge::Leader => None,
        }
    }

    /// The current public answer. Never blocks.
    pub fn public(&self) -> Arc<PublicAnswer> {
        self.public.load_full()
    }

    /// Applies one probe result for endpoint `idx`, seen at `now`.
    pub fn observe(&self, idx: usize, result: ProbeResult, now: Instant) {
        let Some(here) = self.here() else { return };
        self.metrics.probe(result.outcome, result.latency.as_secs_f64());
        let mut inner = self.inner.lock();
        let Some(tracker) = inner.trackers.get_mut(idx) else {
            return;
        };
        tracker.observe(result.outcome.is_success(), &here.policy);
        inner.last[idx] = Some((result, SystemTime::now()));
        self.reevaluate(&mut inner, now);
    }

    /// Sets the ALB's view of the app's targets and re-evaluates.
    pub fn set_targets(&self, alb: Option<TargetCounts>, now: Instant) {
        let mut inner = self.inner.lock();
        inner.alb = alb;
        self.reevaluate(&mut inner, now);
    }

    /// Sets the AWS views published with a remote verdict (from `AppHealth.status`).
    pub fn publish_aws(&self, alb: Option<TargetCounts>, route53: Option<Route53View>) {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        inner.alb = alb;
        inner.route53 = route53;
        let dns = inner.route53.as_ref().and_then(|r| r.dns.as_ref());
        inner.dns_history.record(dns, SystemTime::now());
    }

    /// Updates what the agent knows of the app's Route 53 objects.
    pub fn update_route53(&self, f: impl FnOnce(&mut Route53View)) {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        let r53 = inner.route53.get_or_insert_with(Route53View::default);
        f(r53);
        inner.dns_history.record(r53.dns.as_ref(), SystemTime::now());
    }

    /// Re-evaluates without a new observation (grace end, override expiry).
    pub fn tick(&self, now: Instant) {
        let mut inner = self.inner.lock();
        self.reevaluate(&mut inner, now);
    }

    /// Sets (`Some`) or clears (`None`) the runtime override, for `ttl` if given.
    pub fn set_override(&self, mode: Option<OverrideMode>, ttl: Option<Duration>, now: Instant) {
        let mut inner = self.inner.lock();
        inner.runtime_override = mode.map(|mode| RuntimeOverride {
            mode,
            expires: ttl.map(|t| (now + t, SystemTime::now() + t)),
        });
        tracing::warn!(namespace = %self.key.namespace, app = %self.key.name, mode = mode.map(|m| m.as_str()).unwrap_or("cleared"), ttl_seconds = ttl.map(|t| t.as_secs()), "override set through the admin API");
        self.reevaluate(&mut inner, now);
    }

    fn effective_override(&self, inner: &mut Inner, now: Instant) -> OverrideMode {
        if let Some(o) = inner.runtime_override {
            if o.expires.is_some_and(|(at, _)| now >= at) {
                inner.runtime_override = None;
                tracing::info!(namespace = %self.key.namespace, app = %self.key.name, "admin override expired");
            } else {
                return o.mode;
            }
        }
        self.config_override
    }

    fn reevaluate(&self, inner: &mut Inner, now: Instant) {
        let Some(here) = self.here() else { return };
        let ovr = self.effective_override(inner, now);
        let counts = Counts::of(inner.trackers.iter().map(|t| &t.state));
        let decision = policy::evaluate(counts, &here.policy, now < here.grace_until, ovr);
        let decision = policy::with_targets(decision, inner.alb, &here.policy, ovr);
        inner.ovr = ovr;
        self.apply(inner, decision);
    }

    /// Publishes a verdict of the cluster's leader (through `AppHealth.status`).
    /// Only for apps judged by the leader ([`App::remote`]); ignored for others.
    pub fn publish(&self, decision: Decision, counts: Counts, ovr: OverrideMode) {
        if self.here().is_some() {
            return;
        }
        let mut inner = self.inner.lock();
        // The verdict is known from the leader's first one on.
        inner.verdict_from.get_or_insert_with(SystemTime::now);
        inner.ovr = ovr;
        inner.remote_counts = counts;
        self.apply(&mut inner, decision);
    }

    fn apply(&self, inner: &mut Inner, decision: Decision) {
        if decision == inner.decision {
            return;
        }
        if decision.health != inner.decision.health {
            let at = SystemTime::now();
            inner.counted.count(decision.health, self.metrics.term());
            if inner.transitions.len() == TRANSITIONS_KEPT {
                // What came before the oldest kept transition is known only back to it.
                if let Some(dropped) = inner.transitions.pop_front() {
                    inner.verdict_from = inner.verdict_from.max(Some(dropped.at));
                }
            }
            inner.transitions.push_back(view::Transition {
                at,
                to: decision.health,
                reason: decision.reason.clone(),
            });
            inner.since = at;
            match decision.health {
                Health::Healthy => {
                    tracing::info!(namespace = %self.key.namespace, app = %self.key.name, reason = %decision.reason, "app is now HEALTHY")
                }
                Health::Unhealthy => {
                    tracing::warn!(namespace = %self.key.namespace, app = %self.key.name, reason = %decision.reason, "app is now UNHEALTHY")
                }
            }
        }
        self.public.store(Arc::new(render(&self.key.name, &decision)));
        inner.decision = decision;
    }
}

fn render(name: &str, d: &Decision) -> PublicAnswer {
    let body = match d.health {
        Health::Healthy => format!("HEALTHY {name}\n"),
        Health::Unhealthy => format!("UNHEALTHY {name}: {}\n", d.reason),
    };
    PublicAnswer {
        healthy: d.health.is_healthy(),
        body: Bytes::from(body),
    }
}
