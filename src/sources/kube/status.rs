//! The leader's duty: fold every served app's signals into `AppHealth.status`,
//! writing only when something changed, with an Event on every verdict transition,
//! and mark objects that lose the Conflict rule.

use super::caches::{self, Caches};
use super::crd::{AppHealth, AppHealthStatus, Condition};
use super::fold::{fold, Tally};
use super::report::{app_ref, ProbeReport};
use super::resolve::{resolve, Rejected};
use super::slices::{by_service, endpoints_of_services};
use super::spec::settings;
use crate::model::Health;
use crate::policy::EndpointState;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long changes are gathered before one fold.
pub const FOLD_COALESCE: Duration = Duration::from_millis(10);
/// A full fold also runs this often, to retry failed writes.
pub const RESYNC: Duration = Duration::from_secs(10);

/// Runs the leader's duties whenever this replica leads, until `shutdown`.
pub async fn run(
    client: Client,
    caches: Caches,
    namespace: String,
    pod: String,
    mut leading: watch::Receiver<bool>,
    shutdown: CancellationToken,
) {
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "failover-agent".into(),
            instance: Some(pod),
        },
    );
    loop {
        // Wait to lead.
        while !*leading.borrow_and_update() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = leading.changed() => if r.is_err() { return },
            }
        }
        // Never fold from half-filled caches: an EndpointSlice cache that has not
        // listed yet would make every app look like it has no endpoints.
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = caches.synced() => if r.is_err() { return },
        }
        let stop = shutdown.child_token();
        let (tx, mut reports_changed) = watch::channel(0u64);
        let (reports, _) = caches::reflect(
            Api::<ProbeReport>::namespaced(client.clone(), &namespace),
            watcher::Config::default(),
            "probereports",
            Arc::new(tx),
            stop.clone(),
            |_| {},
        );
        let _ = tokio::time::timeout(Duration::from_secs(10), reports.wait_until_ready()).await;
        let mut changed = caches.changed.clone();
        tracing::info!("leading: folding probe reports into AppHealth status");
        loop {
            fold_all(&client, &caches, &reports, &recorder).await;
            tokio::select! {
                _ = shutdown.cancelled() => { stop.cancel(); return; }
                r = leading.changed() => if r.is_err() || !*leading.borrow() { stop.cancel(); break; },
                _ = changed.changed() => {}
                _ = reports_changed.changed() => {}
                _ = tokio::time::sleep(RESYNC) => {}
            }
            tokio::time::sleep(FOLD_COALESCE).await;
        }
    }
}

/// Probe states by app and endpoint, from every node's report.
fn probe_states(reports: &Store<ProbeReport>) -> HashMap<(String, IpAddr), EndpointState> {
    let mut m = HashMap::new();
    for r in reports.state() {
        for (app, eps) in &r.spec.apps {
            for (ip, state) in eps {
                if let Ok(ip) = ip.parse() {
                    m.insert((app.clone(), ip), *state);
                }
            }
        }
    }
    m
}

async fn fold_all(client: &Client, caches: &Caches, reports: &Store<ProbeReport>, recorder: &Recorder) {
    let resolution = resolve(caches.apps.state());
    let slices = caches.slices.state();
    let index = by_service(slices.iter().map(|s| s.as_ref()));
    let probes = probe_states(reports);
    let now = Timestamp::now().to_string();
    for (key, ah) in &resolution.served {
        let ns = ah.namespace().unwrap_or_default();
        let desired = match settings(&ah.spec) {
            Ok(set) => {
                let eps = endpoints_of_services(&index, &ns, &set.services);
                let aref = app_ref(&ns, key);
                // Unknown probe states count on readiness: an agent (re)starting must not fail apps.
                let (d, tally) = fold(
                    eps.values(),
                    |ip| probes.get(&(aref.clone(), ip)).copied(),
                    &set.policy,
                    true,
                    set.override_mode,
                );
                status(ah, key, Some(d.health), d.reason, tally, caches.is_stale(), None, &now)
            }
            Err(errs) => {
                let old = ah.status.as_ref().and_then(|s| s.verdict).or(Some(Health::Healthy));
                let reason = format!("invalid spec, verdict kept: {}", errs.join("; "));
                status(ah, key, old, reason, Tally::default(), caches.is_stale(), None, &now)
            }
        };
        write(client, ah, desired, recorder).await;
    }
    for (ah, why) in &resolution.rejected {
        let (key, kind, reason) = match why {
            Rejected::Conflict { key, winner } => (
                key,
                "Conflict",
                format!("app key `{key}` is already claimed by {winner}, which is older; this object is not served"),
            ),
            Rejected::InvalidKey { key } => (
                key,
                "InvalidKey",
                format!("app key `{key}` is not a valid /health/<app> key"),
            ),
        };
        let desired = status(
            ah,
            key,
            None,
            reason.clone(),
            Tally::default(),
            false,
            Some((kind, reason)),
            &now,
        );
        write(client, ah, desired, recorder).await;
    }
}

/// The status an object should have.
#[allow(clippy::too_many_arguments)]
fn status(
    ah: &AppHealth,
    key: &str,
    verdict: Option<Health>,
    reason: String,
    t: Tally,
    stale: bool,
    conflict: Option<(&str, String)>,
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
        let status = if on { "True" } else { "False" };
        let prev = old.conditions.iter().find(|c| c.type_ == type_);
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
            observed_generation: gen,
        }
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
    let (c_on, c_why, c_msg) = match &conflict {
        Some((why, msg)) => (true, *why, msg.clone()),
        None => (false, "Unique", String::new()),
    };
    conditions.push(cond("Conflict", c_on, c_why, c_msg));
    let stale_msg = if stale {
        "Kubernetes watch failing; verdict from last known data".to_string()
    } else if t.unprobed > 0 {
        format!(
            "{} ready endpoints have no probe report from their node's agent; judged on readiness alone",
            t.unprobed
        )
    } else {
        String::new()
    };
    conditions.push(cond(
        "Stale",
        !stale_msg.is_empty(),
        if stale_msg.is_empty() { "Fresh" } else { "Stale" },
        stale_msg,
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
/// verdict changes. A failed write is logged and retried on the next fold.
async fn write(client: &Client, ah: &AppHealth, desired: AppHealthStatus, recorder: &Recorder) {
    let old = ah.status.clone().unwrap_or_default();
    if old == desired {
        return;
    }
    let ns = ah.namespace().unwrap_or_default();
    let api = Api::<AppHealth>::namespaced(client.clone(), &ns);
    // A merge patch replaces lists and sets absent fields to null.
    let patch = serde_json::json!({ "status": {
        "app": desired.app, "verdict": desired.verdict, "reason": desired.reason,
        "totalEndpoints": desired.total_endpoints, "readyEndpoints": desired.ready_endpoints,
        "probedEndpoints": desired.probed_endpoints, "healthyEndpoints": desired.healthy_endpoints,
        "lastTransitionTime": desired.last_transition_time, "observedGeneration": desired.observed_generation,
        "conditions": desired.conditions,
    }});
    if let Err(e) = api
        .patch_status(&ah.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::warn!(namespace = %ns, name = %ah.name_any(), error = %e, "writing AppHealth status failed; will retry");
        return;
    }
    if old.verdict != desired.verdict {
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
}
