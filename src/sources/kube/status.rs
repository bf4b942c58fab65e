//! The leader's duty: fold every served app's signals into `AppHealth.status`,
//! writing only when something changed, with an Event on every verdict transition;
//! mark objects that lose the Conflict rule; and hand each node the endpoints it
//! must probe (`ProbeAssignment`s, see [`super::assigner`]).
//!
//! Everything here runs under one [`Term`]: the leader's caches (full `AppHealth`
//! objects, EndpointSlices, ProbeReports, ProbeAssignments) are watched only during
//! the term; the fold, the status and assignment writes, the finalizer patches and
//! the AWS tasks stop the moment its token is cancelled (writes in flight are
//! dropped), and each write first asks the term as a fence.

use super::assigner;
use super::assignment::{Nodes, Plan, ProbeAssignment};
use super::aws::LeaderAws;
use super::caches::{self, LeaderCaches};
use super::finalizer;
use super::fold::{fold, Tally};
use super::report::{app_ref, ProbeReport};
use super::resolve::{app_key, resolve, Rejected};
use super::slices::{by_service, endpoints_of_services};
use super::spec::settings;
use super::term::Term;
use super::writer::{status, write, NotServed, Staleness};
use crate::config::AwsSettings;
use crate::fence::Fence;
use crate::model::{AppKey, Health};
use crate::policy::{with_targets, EndpointState};
use crate::telemetry::Metrics;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
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

/// What the leader needs besides the caches.
pub struct Duties {
    pub namespace: String,
    pub pod: String,
    pub region: String,
    pub aws: AwsSettings,
    /// The operator's probe target rules, which decide which endpoints are never probed.
    pub probe_targets: crate::config::ProbeTargets,
    /// The operator's per-namespace limits, which decide which apps are held.
    pub limits: crate::config::Limits,
    pub metrics: Metrics,
}

/// Runs the leader's duties during each term published on `terms`, until `shutdown`.
pub async fn run(client: Client, d: Duties, mut terms: watch::Receiver<Option<Term>>, shutdown: CancellationToken) {
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "failover-agent".into(),
            instance: Some(d.pod.clone()),
        },
    );
    loop {
        // Wait to lead.
        let term = loop {
            if let Some(t) = terms.borrow_and_update().clone().filter(|t| !t.is_over()) {
                break t;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = terms.changed() => if r.is_err() { return },
            }
        };
        if !lead(&client, &d, &recorder, &term).await || shutdown.is_cancelled() {
            return;
        }
        tracing::info!("term ended: fold, status writes and Route 53 reconcile stopped");
    }
}

/// The duties of one term; returns as soon as its token (a child of the agent's
/// shutdown) is cancelled: true then, false if the caches can never sync.
async fn lead(client: &Client, d: &Duties, recorder: &Recorder, term: &Term) -> bool {
    let metrics = &d.metrics;
    let stop = term.token().clone();
    let caches = &caches::start_leader(client, &stop);
    let (assign_tx, assign_rx) = watch::channel(None);
    let duties = async {
        // Never fold from half-filled caches: an EndpointSlice cache that has not
        // listed yet would make every app look like it has no endpoints.
        if caches.synced().await.is_err() {
            return;
        }
        let (tx, mut reports_changed) = watch::channel(0u64);
        let (reports, _) = caches::reflect(
            Api::<ProbeReport>::namespaced(client.clone(), &d.namespace),
            watcher::Config::default(),
            "probereports",
            Arc::new(tx),
            stop.clone(),
            |_| {},
        );
        let _ = tokio::time::timeout(Duration::from_secs(10), reports.wait_until_ready()).await;
        let mut changed = caches.changed.clone();
        let (refold, mut aws_changed) = watch::channel(0u64);
        let fence: Arc<dyn Fence> = Arc::new(term.clone());
        let leader_aws = LeaderAws::start(
            client.clone(),
            d.aws.clone(),
            d.region.clone(),
            metrics,
            Arc::new(refold),
            fence,
            stop.clone(),
        )
        .await;
        tracing::info!("leading: folding probe reports and AWS signals into AppHealth status");
        loop {
            let nodes = fold_all(client, caches, &reports, recorder, &leader_aws, d, term).await;
            assign_tx.send_if_modified(|cur| {
                let changed = cur.as_deref() != Some(&nodes);
                if changed {
                    *cur = Some(Arc::new(nodes));
                }
                changed
            });
            tokio::select! {
                _ = changed.changed() => {}
                _ = reports_changed.changed() => {}
                _ = aws_changed.changed() => {}
                _ = tokio::time::sleep(RESYNC) => {}
            }
            tokio::time::sleep(FOLD_COALESCE).await;
        }
    };
    let assignments = assigner::run(
        Api::<ProbeAssignment>::namespaced(client.clone(), &d.namespace),
        assign_rx,
        term,
        &stop,
    );
    // Whatever is in flight (a fold, a status or assignment write, AWS start-up) is
    // dropped at once.
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = duties => false,
        _ = assignments => {
            // It returns only when the fence closed (the term is over) or its watch
            // ended; in the second case, end the term too, so the next renewal starts
            // every duty afresh rather than leading without assignments.
            if !stop.is_cancelled() {
                tracing::error!("the ProbeAssignment writer stopped; ending this term so the next one starts afresh");
                term.end();
            }
            true
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

/// Folds every app and writes what changed; returns every node's assignment.
async fn fold_all(
    client: &Client,
    caches: &LeaderCaches,
    reports: &Store<ProbeReport>,
    recorder: &Recorder,
    aws: &LeaderAws,
    d: &Duties,
    fence: &dyn Fence,
) -> Nodes {
    let (rules, limits) = (d.probe_targets, d.limits);
    let slices = caches.slices();
    let mut plan = Plan::default();
    let index = by_service(slices.iter().map(|s| s.as_ref()));
    let mut resolution = resolve(caches.apps.state());
    super::limits::apply(&mut resolution, &index, limits);
    let probes = probe_states(reports);
    let now = Timestamp::now().to_string();
    let mut served_aws = Vec::with_capacity(resolution.served.len());
    // Conflict losers and invalid specs: their Route 53 objects stay as they are.
    let hold = resolution.route53_holds();
    for (key, ah) in &resolution.served {
        let ns = ah.namespace().unwrap_or_default();
        let akey = AppKey {
            namespace: ns.clone(),
            name: key.clone(),
        };
        let old = ah.status.clone().unwrap_or_default();
        let mut desired = match settings(&ah.spec) {
            Ok(set) => {
                let eps = endpoints_of_services(&index, &ns, &set.services, rules);
                let aref = app_ref(&ns, key);
                plan.add(&aref, &set, eps.values());
                // Unknown probe states count on readiness: an agent (re)starting must not fail apps.
                let (d, tally) = fold(
                    eps.values(),
                    |ip| probes.get(&(aref.clone(), ip)).copied(),
                    &set.policy,
                    true,
                    set.override_mode,
                );
                let arns = aws.arns_of(ah, &set.services);
                let alb = aws.view(&arns);
                let d = with_targets(d, alb, &set.policy, set.override_mode);
                let stale = Staleness {
                    kubernetes: caches.is_stale(),
                    alb: alb.is_some_and(|a| a.stale),
                };
                let mut st = status(ah, key, Some(d.health), d.reason, tally, stale, None, &now);
                aws.annotate(&mut st, &old, &akey, ah, alb, &now);
                served_aws.push((akey, ah.as_ref(), arns));
                st
            }
            Err(errs) => {
                let old_verdict = ah.status.as_ref().and_then(|s| s.verdict).or(Some(Health::Healthy));
                let reason = format!("invalid spec, verdict kept: {}", errs.join("; "));
                status(
                    ah,
                    key,
                    old_verdict,
                    reason,
                    Tally::default(),
                    Staleness {
                        kubernetes: caches.is_stale(),
                        alb: false,
                    },
                    None,
                    &now,
                )
            }
        };
        desired.health_check_id = desired.health_check_id.or(old.health_check_id);
        write(client, ah, desired, recorder, fence).await;
    }
    aws.update(&served_aws, hold);
    finalizers(client, caches, &resolution.served, aws, fence).await;
    for (ah, why) in &resolution.rejected {
        let (key, not_served) = match why {
            Rejected::Conflict { key, winner } => (
                key,
                NotServed::Conflict {
                    reason: "Conflict",
                    message: format!(
                        "app key `{key}` is already claimed by {winner}, which is older; this object is not served"
                    ),
                },
            ),
            Rejected::InvalidKey { key } => (
                key,
                NotServed::Conflict {
                    reason: "InvalidKey",
                    message: format!("app key `{key}` is not a valid /health/<app> key"),
                },
            ),
            Rejected::Limit { key, kind, message } => (
                key,
                NotServed::Held {
                    reason: kind.reason(),
                    message: message.clone(),
                },
            ),
        };
        // A conflict loser has no verdict. An app held by its namespace's limits keeps
        // the verdict it had (it is served with it, unprobed), so a namespace that
        // grows past its limit never fails over an app that was being served.
        let (verdict, reason) = match &not_served {
            NotServed::Conflict { message, .. } => (None, message.clone()),
            NotServed::Held { message, .. } => {
                let kept = ah.status.as_ref().and_then(|s| s.verdict);
                let reason = match kept {
                    Some(_) => format!("held by the namespace's limits, verdict kept: {message}"),
                    None => message.clone(),
                };
                (kept, reason)
            }
        };
        let desired = status(
            ah,
            key,
            verdict,
            reason,
            Tally::default(),
            Staleness::default(),
            Some(not_served),
            &now,
        );
        write(client, ah, desired, recorder, fence).await;
    }
    plan.into_nodes()
}

/// Adds or removes the Route 53 finalizer where [`finalizer::decide`] says so.
async fn finalizers(
    client: &Client,
    caches: &LeaderCaches,
    served: &std::collections::BTreeMap<String, Arc<super::crd::AppHealth>>,
    aws: &LeaderAws,
    fence: &dyn Fence,
) {
    let last = aws.last_report();
    for ah in caches.apps.state() {
        let key = app_key(ah.as_ref());
        let akey = AppKey {
            namespace: ah.namespace().unwrap_or_default(),
            name: key.clone(),
        };
        let is_served = served.get(&key).is_some_and(|s| s.uid() == ah.uid());
        if let Some(action) = finalizer::decide(&ah, &akey, is_served, aws.manages_route53(), last.as_ref()) {
            if let Err(e) = finalizer::apply(client, &ah, action, fence).await {
                tracing::warn!(namespace = %akey.namespace, name = %ah.name_any(), error = %e, "updating the finalizer failed; will retry");
            }
        }
    }
}
