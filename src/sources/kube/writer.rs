//! What the leader writes: the status an `AppHealth` should have, and the patch
//! (plus an Event on a verdict change) that writes it when it differs.

use super::crd::{AppHealth, AppHealthStatus, Condition};
use super::fold::Tally;
use crate::fence::Fence;
use crate::model::Health;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Client, Resource, ResourceExt};

/// The message of the `Stale` condition while the ALB's target health cannot be
/// read, or its last successful read is older than 3 read intervals.
pub const ALB_STALE: &str = "ALB target health unavailable or out of date (AWS errors, throttling, or no successful read for 3 read intervals); last known counts kept";

/// The end of the `ProbesRefused` condition's message, after the counts.
pub const PROBES_REFUSED: &str = "never probed, judged on readiness alone; agents probe only Pods of the app's namespace in EndpointSlices of the EndpointSlice controller (a Service with a selector), and never loopback addresses";

/// Why an object is not served, for its conditions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotServed {
    /// Another object has its key (`Conflict` True), or its key is invalid.
    Conflict { reason: &'static str, message: String },
    /// Held by its namespace's limits (`Held` True).
    Held { reason: &'static str, message: String },
}

/// Which of an app's sources are stale.
#[derive(Clone, Copy, Debug, Default)]
pub struct Staleness {
    /// The leader's Kubernetes watch is failing.
    pub kubernetes: bool,
    /// The app's ALB target health could not be read.
    pub alb: bool,
}

/// A condition of `ah` at `now`: its transition time is kept while its status
/// (`True`, `False` or `Unknown`) stays the same.
pub fn condition(ah: &AppHealth, type_: &str, status: &str, why: &str, message: String, now: &str) -> Condition {
    let prev = ah
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_));
    let at = match prev {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => now.to_string(),
    };
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: why.into(),
        message,
        last_transition_time: at,
        observed_generation: ah.metadata.generation,
    }
}

/// The status an object should have.
#[allow(clippy::too_many_arguments)]
pub fn status(
    ah: &AppHealth,
    key: &str,
    verdict: Option<Health>,
    reason: String,
    t: Tally,
    stale: Staleness,
    not_served: Option<NotServed>,
    now: &str,
) -> AppHealthStatus {
    let old = ah.status.clone().unwrap_or_default();
    let since = match (old.verdict, verdict) {
        (Some(a), Some(b)) if a == b => old.last_transition_time.clone(),
        (_, None) => None,
        _ => Some(now.to_string()),
    };
    let gen = ah.metadata.generation;
    let cond = |type_: &str, on: bool, why: &str, message: String| {
        condition(ah, type_, if on { "True" } else { "False" }, why, message, now)
    };
    let mut conditions = Vec::new();
    if let Some(v) = verdict {
        let healthy = v == Health::Healthy;
        conditions.push(cond(
            "Healthy",
            healthy,
            if healthy { "Healthy" } else { "Unhealthy" },
            reason.clone(),
        ));
    }
    let (c_on, c_why, c_msg) = match &not_served {
        Some(NotServed::Conflict { reason, message }) => (true, *reason, message.clone()),
        _ => (false, "Unique", String::new()),
    };
    conditions.push(cond("Conflict", c_on, c_why, c_msg));
    let (h_on, h_why, h_msg) = match &not_served {
        Some(NotServed::Held { reason, message }) => (true, *reason, message.clone()),
        _ => (false, "WithinLimits", String::new()),
    };
    conditions.push(cond("Held", h_on, h_why, h_msg));
    let mut stale_parts = Vec::new();
    if stale.kubernetes {
        stale_parts.push("Kubernetes watch failing; verdict from last known data".to_string());
    } else if t.unprobed > 0 {
        stale_parts.push(format!(
            "{} ready endpoints have no probe report from their node's agent; judged on readiness alone",
            t.unprobed
        ));
    }
    if stale.alb {
        stale_parts.push(ALB_STALE.to_string());
    }
    let stale_msg = stale_parts.join("; ");
    conditions.push(cond(
        "Stale",
        !stale_msg.is_empty(),
        if stale_msg.is_empty() { "Fresh" } else { "Stale" },
        stale_msg,
    ));
    let refused = t.refused_text().map(|text| format!("{text}: {PROBES_REFUSED}"));
    conditions.push(cond(
        "ProbesRefused",
        refused.is_some(),
        if refused.is_some() {
            "NotProbeTargets"
        } else {
            "AllProbeable"
        },
        refused.unwrap_or_default(),
    ));
    AppHealthStatus {
        app: Some(key.to_string()),
        verdict,
        reason: Some(reason),
        total_endpoints: Some(t.total),
        ready_endpoints: Some(t.ready),
        probed_endpoints: Some(t.probed),
        healthy_endpoints: Some(t.healthy),
        healthy_targets: None,
        total_targets: None,
        health_check_id: None,
        route53_healthy: None,
        last_transition_time: since,
        observed_generation: gen,
        conditions,
    }
}

/// Writes `desired` if it differs from the object's status, with an Event when the
/// verdict changes. A failed write is logged and retried on the next fold. Returns
/// true when the status is in line: nothing to write, or written.
///
/// Fenced twice: `fence` is asked before the status write and before the Event,
/// and the write is conditional on the `resourceVersion` the status was computed
/// from, so a write that arrives late (after another leader, or anyone, changed
/// the object) is refused by the API server rather than undo a newer one.
pub async fn write(
    client: &Client,
    ah: &AppHealth,
    desired: AppHealthStatus,
    recorder: &Recorder,
    fence: &dyn Fence,
    own: &super::caches::OwnWrites,
) -> bool {
    let old = ah.status.clone().unwrap_or_default();
    if old == desired {
        return true;
    }
    let ns = ah.namespace().unwrap_or_default();
    if let Err(lost) = fence.check() {
        tracing::debug!(namespace = %ns, name = %ah.name_any(), reason = %lost, "status not written");
        return false;
    }
    let api = Api::<AppHealth>::namespaced(client.clone(), &ns);
    // A merge patch replaces lists and sets absent fields to null.
    let patch = serde_json::json!({ "metadata": { "resourceVersion": ah.resource_version() }, "status": {
        "app": desired.app, "verdict": desired.verdict, "reason": desired.reason,
        "totalEndpoints": desired.total_endpoints, "readyEndpoints": desired.ready_endpoints,
        "probedEndpoints": desired.probed_endpoints, "healthyEndpoints": desired.healthy_endpoints,
        "lastTransitionTime": desired.last_transition_time, "observedGeneration": desired.observed_generation,
        "conditions": desired.conditions,
        "healthyTargets": desired.healthy_targets, "totalTargets": desired.total_targets,
        "healthCheckId": desired.health_check_id, "route53Healthy": desired.route53_healthy,
    }});
    match api
        .patch_status(&ah.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(written) => own.wrote(written.metadata.resource_version),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            tracing::debug!(namespace = %ns, name = %ah.name_any(), "AppHealth changed since it was read; its status is written on the next fold");
            return false;
        }
        Err(e) => {
            tracing::warn!(namespace = %ns, name = %ah.name_any(), error = %e, "writing AppHealth status failed; will retry");
            return false;
        }
    }
    if old.verdict != desired.verdict && fence.check().is_ok() {
        if let Some(v) = desired.verdict {
            let (type_, reason) = match v {
                Health::Healthy => (EventType::Normal, "Healthy"),
                Health::Unhealthy => (EventType::Warning, "Unhealthy"),
            };
            let ev = Event {
                type_,
                reason: reason.into(),
                note: desired.reason.clone().map(|r| r.chars().take(1000).collect()),
                action: "Verdict".into(),
                secondary: None,
            };
            if let Err(e) = recorder.publish(&ev, &ah.object_ref(&())).await {
                tracing::warn!(namespace = %ns, name = %ah.name_any(), error = %e, "publishing the verdict Event failed");
            }
        }
    }
    true
}
