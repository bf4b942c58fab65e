//! What the leader writes: the status an `AppHealth` should have, and the patch
//! (plus an Event on a verdict change) that writes it when it differs.

use super::fold::Tally;
use crate::cluster::kube::crd::AppHealth;
use crate::cluster::kube::crd::AppHealthStatus;
use crate::cluster::kube::crd::Condition;
use crate::fence::Fence;
use crate::model::Health;
use crate::model::TargetCounts;
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

/// The Route 53 part of what the leader publishes, for an app with a `route53` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Route53Part {
    /// Whether the app's Route 53 objects are in line (the `Route53Synced` condition).
    pub sync: Route53Sync,
    /// The app's health check, once made.
    pub health_check_id: Option<String>,
    /// Route 53's own verdict on it, once read.
    pub healthy: Option<bool>,
    /// Where DNS answers go now, once the record set was read.
    pub dns: Option<crate::model::DnsView>,
}

/// Whether an app's Route 53 objects are in line.
#[derive(Clone, Debug, PartialEq)]
pub enum Route53Sync {
    Synced,
    /// Not known yet: why (the condition's message).
    Pending(&'static str),
    /// Not in line: the condition's reason, and the problems (published as
    /// `route53Problems`, joined in the condition's message).
    Failed {
        reason: &'static str,
        problems: Vec<String>,
    },
}

/// Everything the leader publishes of one app: [`status`] turns it into the
/// object's status, and is the only place a status is built.
#[derive(Clone, Debug, Default)]
pub struct Published {
    pub verdict: Option<Health>,
    /// The verdict's reason, served as is.
    pub reason: String,
    pub tally: Tally,
    /// The leader's Kubernetes watch is failing.
    pub kube_stale: bool,
    /// Why the object is not served, if it is not.
    pub not_served: Option<NotServed>,
    /// The ALB view, for an app with target groups once they were read.
    pub alb: Option<TargetCounts>,
    /// The Route 53 view, for an app with a `route53` block.
    pub route53: Option<Route53Part>,
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

/// The status an object should have: `p`'s typed fields, which replicas serve,
/// and the conditions that say the same in words. A served object keeps its
/// health check ID while `p` names none; a verdict keeps its transition time.
pub fn status(ah: &AppHealth, key: &str, p: Published, now: &str) -> AppHealthStatus {
    let old = ah.status.as_ref();
    let since = match (old.and_then(|o| o.verdict), p.verdict) {
        (Some(a), Some(b)) if a == b => old.and_then(|o| o.last_transition_time.clone()),
        (_, None) => None,
        _ => Some(now.to_string()),
    };
    let t = p.tally;
    let alb = p.alb;
    let (health_check_id, route53_healthy, route53_problems, dns) = match &p.route53 {
        Some(r) => (
            r.health_check_id.clone(),
            r.healthy,
            r.problems().to_vec(),
            r.dns.clone(),
        ),
        None => (None, None, Vec::new(), None),
    };
    let health_check_id = match p.not_served {
        None => health_check_id.or_else(|| old.and_then(|o| o.health_check_id.clone())),
        Some(_) => health_check_id,
    };
    AppHealthStatus {
        app: Some(key.to_string()),
        verdict: p.verdict,
        total_endpoints: Some(t.total),
        ready_endpoints: Some(t.ready),
        probed_endpoints: Some(t.probed),
        healthy_endpoints: Some(t.healthy),
        unknown_endpoints: Some(t.unknown),
        healthy_targets: alb.map(|a| a.healthy),
        total_targets: alb.map(|a| a.total),
        targets_stale: alb.map(|a| a.stale),
        health_check_id,
        route53_healthy,
        route53_problems,
        dns,
        last_transition_time: since,
        observed_generation: ah.metadata.generation,
        conditions: conditions(ah, &p, now),
        reason: Some(p.reason),
    }
}

impl Route53Part {
    /// The problems of a [`Route53Sync::Failed`]; none otherwise.
    pub fn problems(&self) -> &[String] {
        match &self.sync {
            Route53Sync::Failed { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// The conditions of `p`, for people and kubectl.
fn conditions(ah: &AppHealth, p: &Published, now: &str) -> Vec<Condition> {
    let cond = |type_: &str, on: bool, why: &str, message: String| {
        condition(ah, type_, if on { "True" } else { "False" }, why, message, now)
    };
    let t = p.tally;
    let mut conditions = Vec::new();
    if let Some(v) = p.verdict {
        let healthy = v == Health::Healthy;
        conditions.push(cond(
            "Healthy",
            healthy,
            if healthy { "Healthy" } else { "Unhealthy" },
            p.reason.clone(),
        ));
    }
    let (c_on, c_why, c_msg) = match &p.not_served {
        Some(NotServed::Conflict { reason, message }) => (true, *reason, message.clone()),
        _ => (false, "Unique", String::new()),
    };
    conditions.push(cond("Conflict", c_on, c_why, c_msg));
    let (h_on, h_why, h_msg) = match &p.not_served {
        Some(NotServed::Held { reason, message }) => (true, *reason, message.clone()),
        _ => (false, "WithinLimits", String::new()),
    };
    conditions.push(cond("Held", h_on, h_why, h_msg));
    let mut stale_parts = Vec::new();
    if p.kube_stale {
        stale_parts.push("Kubernetes watch failing; verdict from last known data".to_string());
    } else if t.unprobed > 0 {
        stale_parts.push(format!(
            "{} ready endpoints have no probe report from their node's agent; judged on readiness alone",
            t.unprobed
        ));
    }
    if p.alb.is_some_and(|a| a.stale) {
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
    if let Some(r) = &p.route53 {
        let (on, why, msg) = match &r.sync {
            Route53Sync::Synced => ("True", "Synced", String::new()),
            Route53Sync::Pending(m) => ("Unknown", "Pending", (*m).to_string()),
            Route53Sync::Failed { reason, problems } => ("False", *reason, problems.join("; ")),
        };
        conditions.push(condition(ah, "Route53Synced", on, why, msg, now));
    }
    conditions
}

/// The merge patch that turns `old` into `desired`: `desired`'s fields, and a
/// null for each field `old` has and `desired` lacks, at every depth (a merge
/// patch keeps fields it does not name, also inside objects such as
/// `dns.shares`, and replaces lists whole).
fn merge_patch(old: &AppHealthStatus, desired: &AppHealthStatus) -> serde_json::Result<serde_json::Value> {
    let mut patch = serde_json::to_value(desired)?;
    if !patch.is_object() {
        return Ok(serde_json::Value::Null);
    }
    null_missing(&mut patch, &serde_json::to_value(old)?);
    Ok(patch)
}

/// Adds to `patch` a null for every key of `was` it lacks, in nested objects too.
fn null_missing(patch: &mut serde_json::Value, was: &serde_json::Value) {
    let (serde_json::Value::Object(p), serde_json::Value::Object(w)) = (patch, was) else {
        return;
    };
    for (k, old) in w {
        match p.get_mut(k) {
            Some(new) => null_missing(new, old),
            None => {
                p.insert(k.clone(), serde_json::Value::Null);
            }
        }
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
    own: &crate::cluster::kube::caches::OwnWrites,
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
    let status = match merge_patch(&old, &desired) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(namespace = %ns, name = %ah.name_any(), error = %e, "building the AppHealth status patch failed; will retry");
            return false;
        }
    };
    let patch = serde_json::json!({ "metadata": { "resourceVersion": ah.resource_version() }, "status": status });
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

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
