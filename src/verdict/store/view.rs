//! Read-only views of an app for `/apps` JSON and the status page.

use super::{App, Inner};
use crate::model::Counts;
use crate::model::EndpointState;
use crate::model::{Health, OverrideMode, ProbeOutcome};
use serde::Serialize;
use std::time::SystemTime;
use tokio::time::Instant;

/// One verdict transition, kept in a short ring per app.
#[derive(Clone, Debug)]
pub(super) struct Transition {
    pub at: SystemTime,
    pub to: Health,
    pub reason: String,
}

/// Everything the agent knows about one app, as served on `/apps/<app>`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    pub name: String,
    pub namespace: String,
    pub verdict: Health,
    pub reason: String,
    pub last_transition_time: String,
    pub in_startup_grace: bool,
    /// True while the source of this app (the Kubernetes API) cannot be read: the
    /// verdict is the last one known and is kept until the source is back.
    pub stale: bool,
    #[serde(rename = "override")]
    pub override_: OverrideView,
    pub counts: Counts,
    /// The policy this agent judges the app by; absent for an app the cluster's
    /// leader judges (the policy is in its `AppHealth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::spec::policy::Policy>,
    /// How this agent probes the app; absent for an app the cluster's leader judges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<crate::spec::ProbeSpec>,
    pub endpoints: Vec<EndpointView>,
    /// The ALB's view over the app's target groups, once read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<crate::model::TargetCounts>,
    /// The app's Route 53 objects, when the agent manages them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route53: Option<Route53View>,
    /// Where DNS answers for the app go now and why, with every Region's record as
    /// Route 53 sees it, once read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<crate::model::DnsView>,
    /// Most recent last.
    pub transitions: Vec<TransitionView>,
    /// The last hour, for the status page's strip (not served in JSON).
    #[serde(skip)]
    pub history: super::History,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverrideView {
    /// The override in force.
    pub mode: OverrideMode,
    /// `config` or `admin`.
    pub source: &'static str,
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointView {
    pub target: String,
    pub state: EndpointState,
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
    pub samples: u64,
    pub last_outcome: Option<ProbeOutcome>,
    pub last_status: Option<u16>,
    pub last_latency_ms: Option<f64>,
    pub last_probe_time: Option<String>,
}

/// What the agent knows of an app's Route 53 objects.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route53View {
    /// The ID of the app's health check, once it exists.
    pub health_check_id: Option<String>,
    /// Route 53's own verdict (more than 18% of its checkers pass), once read.
    pub route53_healthy: Option<bool>,
    /// Conflicts and failed changes of the last reconcile (retried).
    pub problems: Vec<String>,
    /// Where DNS answers go (served as the app's top-level `dns`).
    #[serde(skip)]
    pub dns: Option<crate::model::DnsView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionView {
    pub at: String,
    pub to: Health,
    pub reason: String,
}

impl AppView {
    /// Sets the stale mark.
    pub fn stale(mut self, stale: bool) -> AppView {
        self.stale = stale;
        self
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// One endpoint's view: its tracker and its last probe, if any.
fn endpoint_view(
    target: &crate::model::Target,
    t: &crate::verdict::policy::EndpointTracker,
    last: Option<(crate::model::ProbeResult, SystemTime)>,
) -> EndpointView {
    EndpointView {
        target: target.to_string(),
        state: t.state,
        consecutive_successes: t.consecutive_successes,
        consecutive_failures: t.consecutive_failures,
        samples: t.samples,
        last_outcome: last.map(|(r, _)| r.outcome),
        last_status: last.and_then(|(r, _)| r.status),
        last_latency_ms: last.map(|(r, _)| r.latency.as_secs_f64() * 1e3),
        last_probe_time: last.map(|(_, at)| rfc3339(at)),
    }
}

impl App {
    /// The override in force: the admin's, else the config's.
    fn override_view(&self, runtime: Option<&super::RuntimeOverride>) -> OverrideView {
        match runtime {
            Some(o) => OverrideView {
                mode: o.mode,
                source: "admin",
                expires_at: o.expires.map(|(_, t)| rfc3339(t)),
            },
            None => OverrideView {
                mode: self.config_override,
                source: "config",
                expires_at: None,
            },
        }
    }

    /// A consistent snapshot of the app at `now`.
    pub fn view(&self, now: Instant) -> AppView {
        let inner = self.inner.lock();
        let Inner {
            trackers,
            last,
            decision,
            since,
            transitions,
            verdict_from,
            dns_history,
            runtime_override,
            remote_counts,
            alb,
            route53,
            ovr: _,
            counted: _,
        } = &*inner;
        let override_ = self.override_view(runtime_override.as_ref());
        let here = self.here();
        let targets = here.map_or(&[][..], |h| h.targets.as_slice());
        let endpoints = targets
            .iter()
            .zip(trackers.iter().zip(last.iter()))
            .map(|(target, (t, last))| endpoint_view(target, t, *last))
            .collect();
        AppView {
            name: self.key.name.clone(),
            namespace: self.key.namespace.clone(),
            verdict: decision.health,
            reason: decision.reason.clone(),
            last_transition_time: rfc3339(*since),
            in_startup_grace: here.is_some_and(|h| now < h.grace_until),
            stale: false,
            override_,
            counts: match here {
                None => *remote_counts,
                Some(_) => Counts::of(trackers.iter().map(|t| &t.state)),
            },
            policy: here.map(|h| h.policy),
            probe: here.map(|h| (*h.probe).clone()),
            endpoints,
            targets: *alb,
            route53: route53.clone(),
            dns: route53.as_ref().and_then(|r| r.dns.clone()),
            transitions: transitions
                .iter()
                .map(|t| TransitionView {
                    at: rfc3339(t.at),
                    to: t.to,
                    reason: t.reason.clone(),
                })
                .collect(),
            history: super::History {
                verdict_from: *verdict_from,
                verdict: decision.health,
                transitions: transitions.iter().map(|t| (t.at, t.to)).collect(),
                dns: dns_history.snapshot(),
            },
        }
    }
}
