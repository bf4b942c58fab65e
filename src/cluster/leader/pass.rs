//! One pass of the leader's fold: resolve which objects are served, fold the
//! signals of each served app whose inputs changed into its status, write what
//! differs, mark the objects that are not served, keep the Route 53 finalizers
//! right, and keep the plan of every node's probes.
//!
//! Passes are incremental twice over:
//!
//! - A **pass over changes** starts from the EndpointSlices and probe reports that
//!   its watches named ([`crate::cluster::kube::dirty`]): it updates the [`Indexes`], checks the
//!   limits of the namespaces whose endpoints changed, and folds only the apps those
//!   objects feed, and any whose last write failed. At 5,000 apps, one changed
//!   endpoint costs one app, not a walk over 5,000.
//! - A **full pass** walks every app (the Conflict rule, the limits, the
//!   finalizers, the ALB and Route 53 wiring) but folds again only the apps whose
//!   inputs differ from those they were last found in line with ([`super::memo`]).
//!   It runs first in a term; after any `AppHealth` changed in more than its
//!   status (its spec, key, finalizers or deletion: what the Conflict rule, the
//!   limits and Route 53 read; an app whose status alone changed is folded by a
//!   pass over changes) or a watch relisted; when the AWS results or
//!   the Kubernetes source's health changed; when a pass over changes cannot stand
//!   in for it (a namespace's limits hold other apps now, or an app's object moved
//!   under it); and at least every [`super::status::RESYNC`].
//!
//! Either way an app's status is the same pure function of its inputs, so a pass
//! over changes writes exactly what a full pass would.

use super::app_step::{step, Kept};
use super::aws::LeaderAws;
use super::finalizer;
use super::index::Indexes;
use super::last::{last_of, Last};
use super::limits;
use super::status::Duties;
use super::writer::{status, write, NotServed, Published};
use crate::cluster::kube::caches::LeaderCaches;
use crate::cluster::kube::crd::AppHealth;
use crate::cluster::kube::dirty::Changed;
use crate::cluster::kube::dirty::Dirty;
use crate::cluster::node::assignment::Nodes;
use crate::cluster::node::report::ProbeReport;
use crate::cluster::serving::resolve::app_key;
use crate::cluster::serving::resolve::resolve;
use crate::cluster::serving::resolve::Rejected;
use crate::fence::Fence;
use crate::model::AppKey;
use crate::telemetry::{Folded, PassKind};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use tokio::time::Instant;

/// What a pass reads and writes through.
pub struct Io<'a> {
    pub client: &'a Client,
    pub caches: &'a LeaderCaches,
    pub reports: &'a Store<ProbeReport>,
    /// The probe reports named by their watch since the last pass.
    pub reports_dirty: &'a Dirty,
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
    kept: Kept,
    index: Indexes,
    /// What the last full pass found; `None` before the first.
    last: Option<Last>,
}

impl Folder {
    /// Folds every app whose inputs changed and writes what differs, over the
    /// changes when it can and over every app when it must; returns every node's
    /// assignment when it changed.
    pub async fn pass(&mut self, io: &Io<'_>) -> Option<Nodes> {
        let fold = &io.duties.metrics.fold;
        let apps = io.caches.apps_dirty.take();
        let slices = io.caches.other_dirty.take();
        let reports = io.reports_dirty.take();
        let kube_stale = io.caches.is_stale();
        let statuses = match &self.last {
            Some(l) if !l.outdated(io.aws_version, kube_stale) => l.status_only(&apps, &io.caches.apps),
            _ => None,
        };
        let done = match statuses {
            Some(statuses) if !slices.all && !reports.all => {
                let timer = fold.pass_duration(PassKind::Changes).start_timer();
                let done = self.changes(io, slices, reports, statuses, kube_stale).await;
                if done {
                    timer.observe_duration();
                } else {
                    timer.stop_and_discard();
                }
                done
            }
            _ => false,
        };
        if !done {
            let _timer = fold.pass_duration(PassKind::Full).start_timer();
            self.full(io, kube_stale).await;
        }
        self.kept.plan.take_changed()
    }

    /// True while some app's last status write failed (a pass retries it).
    pub fn retrying(&self) -> bool {
        !self.kept.retry.is_empty()
    }

    /// When the earliest start-up grace still running ends: a pass then folds its app.
    pub fn next_grace_end(&self) -> Option<Instant> {
        self.kept.next_grace_end(Instant::now())
    }

    /// A pass over the changed `slices` and `reports` and the apps whose
    /// `statuses` changed; false (with the indexes brought up to date) when only a
    /// full pass can do what they need.
    async fn changes(
        &mut self,
        io: &Io<'_>,
        slices: Changed,
        reports: Changed,
        statuses: Vec<String>,
        kube_stale: bool,
    ) -> bool {
        let Folder { kept, index, last } = self;
        let Some(last) = last.as_ref() else { return false };
        let services = index.update_slices(slices.objects, &io.caches.other);
        let probed = index.update_reports(reports.objects, io.reports);
        let namespaces: BTreeSet<&str> = services.iter().map(|(ns, _)| ns.as_str()).collect();
        if namespaces
            .into_iter()
            .any(|ns| last.limits_moved(ns, index, io.duties.limits))
        {
            return false;
        }
        let due = kept.grace_due(Instant::now()).cloned();
        let mut keys: BTreeSet<String> = kept.retry.iter().cloned().chain(statuses).chain(due).collect();
        keys.extend(
            services
                .iter()
                .filter_map(|s| last.by_service.get(s))
                .flatten()
                .cloned(),
        );
        for aref in &probed {
            if let Some((ns, key)) = aref.split_once('/') {
                if last
                    .served(key)
                    .is_some_and(|ah| ah.metadata.namespace.as_deref() == Some(ns))
                {
                    keys.insert(key.to_owned());
                }
            }
        }
        let now = Timestamp::now().to_string();
        let mut recomputed = 0u64;
        for key in &keys {
            let Some(was) = last.served(key) else {
                kept.retry.remove(key);
                continue;
            };
            // The object as the cache holds it now (the leader's own writes bump its
            // version). One whose key or deletion changed is a change to its AppHealth,
            // which only a full pass handles (its event is on its way).
            let (ns, name) = (was.namespace().unwrap_or_default(), was.name_any());
            let Some(ah) = io.caches.apps.get(&ObjectRef::new(&name).within(&ns)) else {
                return false;
            };
            if ah.metadata.deletion_timestamp.is_some() || app_key(ah.as_ref()) != *key {
                return false;
            }
            recomputed += u64::from(step(kept, index, io, key, &ah, kube_stale, &now).await.recomputed);
        }
        let fold = &io.duties.metrics.fold;
        fold.count(Folded::Recomputed, recomputed);
        fold.count(Folded::Unchanged, (last.served_len() as u64).saturating_sub(recomputed));
        true
    }

    /// A pass over every app.
    async fn full(&mut self, io: &Io<'_>, kube_stale: bool) {
        let d = io.duties;
        self.index.load_slices(io.caches.slices());
        self.index.load_reports(io.reports.state());
        let mut resolution = resolve(io.caches.apps.state());
        let candidates = resolution.served.clone();
        limits::apply(&mut resolution, &self.index.borrowed(None), d.limits);
        let now = Timestamp::now().to_string();
        let mut served_aws = Vec::with_capacity(resolution.served.len());
        let mut invalid = HashSet::new();
        let mut recomputed = 0u64;
        for (key, ah) in &resolution.served {
            let s = step(&mut self.kept, &self.index, io, key, ah, kube_stale, &now).await;
            recomputed += u64::from(s.recomputed);
            if s.valid {
                served_aws.push((s.key, ah.as_ref(), s.arns, s.checked));
            } else {
                invalid.insert(key.as_str());
            }
        }
        let met = resolution.served.len() as u64;
        d.metrics.fold.count(Folded::Recomputed, recomputed);
        d.metrics.fold.count(Folded::Unchanged, met - recomputed);
        // Apps no longer served leave the memo; apps no longer served with a valid
        // spec leave the plan.
        self.kept.memo.sweep();
        self.kept.plan.sweep();
        self.kept.specs.sweep();
        self.kept.retry.retain(|k| resolution.served.contains_key(k));
        self.kept.grace.retain(|k, _| resolution.served.contains_key(k));
        let hold = resolution.route53_holds_with(|k, _| invalid.contains(k));
        io.aws.update(&served_aws, hold);
        finalizers(io, &resolution.served).await;
        for (ah, why) in &resolution.rejected {
            not_served(io, ah, why, &now).await;
        }
        self.last = Some(last_of(&resolution, candidates, io.aws_version, kube_stale));
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
    let published = Published {
        verdict,
        reason,
        not_served: Some(not_served),
        ..Published::default()
    };
    let desired = status(ah, key, published, now);
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
                tracing::warn!(namespace = %akey.namespace, name = %ah.name_any(), error = %e, error_kind = e.metric_label(), "updating the finalizer failed; will retry");
            }
        }
    }
}
