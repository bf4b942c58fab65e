//! One pass of the leader's fold over every app: resolve which objects are served,
//! fold the signals of each served app whose inputs changed into its status, write
//! what differs, mark the objects that are not served, keep the Route 53 finalizers
//! right, and keep the plan of every node's probes.
//!
//! A pass is incremental (see [`super::memo`]): the Conflict rule, the namespace
//! limits and the indexes are computed for every app, but an app whose inputs are
//! those it was last found in line with is not folded again, and its plan shares
//! are kept. At 5,000 apps, one changed endpoint costs one app's fold, not 5,000.

use super::assignment::Nodes;
use super::aws::LeaderAws;
use super::caches::LeaderCaches;
use super::crd::{AppHealth, AppHealthStatus};
use super::finalizer;
use super::fold::{fold, Tally};
use super::memo::{self, Inputs, Memo};
use super::probe_plan::Plan;
use super::report::{app_ref, ProbeReport};
use super::resolve::{app_key, resolve, Rejected};
use super::slices::{by_service, endpoints_of_services};
use super::spec::settings;
use super::status::Duties;
use super::writer::{status, write, NotServed, Staleness};
use crate::fence::Fence;
use crate::model::{AppKey, Health};
use crate::policy::with_targets;
use crate::telemetry::Folded;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// EndpointSlices by (namespace, Service).
type SliceIndex<'a> = HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>;

/// What a pass reads and writes through.
pub struct Io<'a> {
    pub client: &'a Client,
    pub caches: &'a LeaderCaches,
    pub reports: &'a Store<ProbeReport>,
    pub recorder: &'a Recorder,
    pub aws: &'a LeaderAws,
    pub duties: &'a Duties,
    pub fence: &'a dyn Fence,
    /// The leader's AWS tasks' result counter, as last seen.
    pub aws_version: u64,
}

/// What the leader keeps between the passes of one term.
#[derive(Debug, Default)]
pub struct Folder {
    memo: Memo,
    plan: Plan,
}

impl Folder {
    /// Folds every app whose inputs changed and writes what differs; returns every
    /// node's assignment when it changed.
    pub async fn pass(&mut self, io: &Io<'_>) -> Option<Nodes> {
        let d = io.duties;
        let _timer = d.metrics.fold.pass_duration.start_timer();
        let mut recomputed = 0u64;
        let slices = io.caches.slices();
        let index = by_service(slices.iter().map(|s| s.as_ref()));
        let mut resolution = resolve(io.caches.apps.state());
        super::limits::apply(&mut resolution, &index, d.limits);
        let reports = io.reports.state();
        let probes = memo::probe_index(&reports);
        let now = Timestamp::now().to_string();
        let kube_stale = io.caches.is_stale();
        let mut served_aws = Vec::with_capacity(resolution.served.len());
        let mut invalid = HashSet::new();
        let mut app_slices: Vec<&EndpointSlice> = Vec::new();
        for (key, ah) in &resolution.served {
            // Computed for every app on every pass, so nothing here allocates for
            // an app without target groups: the slices go to a reused buffer.
            let ns = ah.metadata.namespace.as_deref().unwrap_or_default();
            let services = &ah.spec.services;
            app_slices.clear();
            app_slices.extend(services.iter().filter_map(|s| index.get(&(ns, s.as_str()))).flatten());
            let arns = io.aws.arns_of(ah, services);
            let alb = io.aws.view(&arns);
            let aref = app_ref(ns, key);
            let inputs = Inputs {
                slices: &app_slices,
                probes: probes.get(aref.as_str()),
                alb,
                aws_version: io.aws_version,
                kube_stale,
            };
            let digest = memo::digest(ah.as_ref(), &inputs);
            let akey = AppKey {
                namespace: ns.to_owned(),
                name: key.clone(),
            };
            let valid = match self.memo.in_line(key, digest) {
                Some(valid) => {
                    if valid {
                        self.plan.keep(&aref);
                    }
                    valid
                }
                None => {
                    recomputed += 1;
                    let (mut desired, valid) = self.desired(io, &index, ah, key, &aref, &akey, &inputs, &now);
                    let old_id = ah.status.as_ref().and_then(|s| s.health_check_id.clone());
                    desired.health_check_id = desired.health_check_id.or(old_id);
                    let in_line = write(io.client, ah, desired, io.recorder, io.fence, &io.caches.own).await;
                    self.memo.record(key, digest, valid, in_line);
                    valid
                }
            };
            if valid {
                served_aws.push((akey, ah.as_ref(), arns));
            } else {
                invalid.insert(key.as_str());
            }
        }
        let met = resolution.served.len() as u64;
        d.metrics.fold.count(Folded::Recomputed, recomputed);
        d.metrics.fold.count(Folded::Unchanged, met - recomputed);
        // Apps no longer served leave the memo; apps no longer served with a valid
        // spec leave the plan.
        self.memo.sweep();
        self.plan.sweep();
        let hold = resolution.route53_holds_with(|k, _| invalid.contains(k));
        io.aws.update(&served_aws, hold);
        finalizers(io, &resolution.served).await;
        for (ah, why) in &resolution.rejected {
            not_served(io, ah, why, &now).await;
        }
        self.plan.take_changed()
    }
}

impl Folder {
    /// The status a served app should have, and whether its spec is valid; sets
    /// the app's shares of the plan (none for an invalid spec). Writes nothing.
    #[allow(clippy::too_many_arguments)]
    fn desired(
        &mut self,
        io: &Io<'_>,
        index: &SliceIndex<'_>,
        ah: &AppHealth,
        key: &str,
        aref: &str,
        akey: &AppKey,
        inputs: &Inputs<'_>,
        now: &str,
    ) -> (AppHealthStatus, bool) {
        let d = io.duties;
        let alb = inputs.alb;
        let kube_stale = inputs.kube_stale;
        let ns = ah.metadata.namespace.as_deref().unwrap_or_default();
        match settings(&ah.spec) {
            Ok(set) => {
                let eps = endpoints_of_services(index, ns, &set.services, d.probe_targets);
                self.plan.set(aref, &set, eps.values());
                let app_probes = inputs.probes;
                // Unknown probe states count on readiness: an agent (re)starting must not fail apps.
                let (dec, tally) = fold(
                    eps.values(),
                    |ip| app_probes.and_then(|p| p.get(&ip)).copied(),
                    &set.policy,
                    true,
                    set.override_mode,
                );
                let dec = with_targets(dec, alb, &set.policy, set.override_mode);
                let stale = Staleness {
                    kubernetes: kube_stale,
                    alb: alb.is_some_and(|a| a.stale),
                };
                let mut st = status(ah, key, Some(dec.health), dec.reason, tally, stale, None, now);
                let old = ah.status.clone().unwrap_or_default();
                io.aws.annotate(&mut st, &old, akey, ah, alb, now);
                (st, true)
            }
            Err(errs) => {
                self.plan.remove(aref);
                let old_verdict = ah.status.as_ref().and_then(|s| s.verdict).or(Some(Health::Healthy));
                let reason = format!("invalid spec, verdict kept: {}", errs.join("; "));
                let stale = Staleness {
                    kubernetes: kube_stale,
                    alb: false,
                };
                (
                    status(ah, key, old_verdict, reason, Tally::default(), stale, None, now),
                    false,
                )
            }
        }
    }
}

/// Marks an object that is not served, and why.
async fn not_served(io: &Io<'_>, ah: &AppHealth, why: &Rejected, now: &str) {
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
    let t = Tally::default();
    let desired = status(ah, key, verdict, reason, t, Staleness::default(), Some(not_served), now);
    write(io.client, ah, desired, io.recorder, io.fence, &io.caches.own).await;
}

/// Adds or removes the Route 53 finalizer where [`finalizer::decide`] says so.
async fn finalizers(io: &Io<'_>, served: &BTreeMap<String, Arc<AppHealth>>) {
    let last = io.aws.last_report();
    let managed = io.aws.manages_route53();
    for ah in io.caches.apps.state() {
        // Neither wanting Route 53 nor holding the finalizer: nothing to decide.
        if ah.spec.route53.is_none() && ah.metadata.finalizers.as_ref().is_none_or(|f| f.is_empty()) {
            continue;
        }
        let key = app_key(ah.as_ref());
        let akey = AppKey {
            namespace: ah.namespace().unwrap_or_default(),
            name: key.clone(),
        };
        let is_served = served.get(&key).is_some_and(|s| s.uid() == ah.uid());
        if let Some(action) = finalizer::decide(&ah, &akey, is_served, managed, last.as_ref()) {
            if let Err(e) = finalizer::apply(io.client, &ah, action, io.fence).await {
                tracing::warn!(namespace = %akey.namespace, name = %ah.name_any(), error = %e, "updating the finalizer failed; will retry");
            }
        }
    }
}
