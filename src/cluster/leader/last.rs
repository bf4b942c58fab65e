//! What the leader's last full pass found, which its passes over changes build on:
//! the apps before the limits, what the limits held, the served apps by Service,
//! and the inputs (AWS results, the Kubernetes source's health) it saw.

use super::index::{Indexes, ServiceKey};
use super::limits;
use super::status::RESYNC;
use crate::cluster::kube::crd::AppHealth;
use crate::cluster::kube::dirty::Changed;
use crate::cluster::serving::resolve::app_key;
use crate::cluster::serving::resolve::Rejected;
use crate::cluster::serving::resolve::Resolution;
use crate::spec::Limits;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::ResourceExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::time::Instant;

/// What the last full pass found, which passes over changes build on.
#[derive(Debug)]
pub(super) struct Last {
    /// The apps after the Conflict rule, before the limits, by key.
    pub(super) candidates: BTreeMap<String, Arc<AppHealth>>,
    /// What each namespace's limits held, in order (namespaces that held none are absent).
    pub(super) held: HashMap<String, Vec<Rejected>>,
    /// The served apps' keys by the Services their specs name.
    pub(super) by_service: HashMap<ServiceKey, Vec<String>>,
    pub(super) aws_version: u64,
    pub(super) kube_stale: bool,
    pub(super) at: Instant,
}

impl Last {
    /// True when a full pass must run: the AWS results or the Kubernetes
    /// source's health changed since, or [`RESYNC`] has passed.
    pub(super) fn outdated(&self, aws_version: u64, kube_stale: bool) -> bool {
        self.aws_version != aws_version || self.kube_stale != kube_stale || self.at.elapsed() >= RESYNC
    }

    /// The keys of the apps named in `changed` whose objects changed in nothing
    /// but their status since the full pass (same identity, spec and finalizers,
    /// not deleted): the leader's own writes, whose events raced their responses,
    /// or another writer's, which a fold puts right. `None` when any other change
    /// is among them: only a full pass handles those.
    pub(super) fn status_only(&self, changed: &Changed, store: &Store<AppHealth>) -> Option<Vec<String>> {
        if changed.all {
            return None;
        }
        let one = |(ns, name): &(String, String)| {
            let now = store.get(&ObjectRef::new(name).within(ns))?;
            let key = app_key(now.as_ref());
            let was = self.candidates.get(&key)?;
            let (m, w) = (&now.metadata, &was.metadata);
            let same = m.uid == w.uid
                && m.deletion_timestamp.is_none()
                && m.finalizers == w.finalizers
                && now.spec == was.spec;
            same.then_some(key)
        };
        changed.objects.iter().map(one).collect()
    }

    /// The served app of `key`, as the full pass found it.
    pub(super) fn served(&self, key: &str) -> Option<&Arc<AppHealth>> {
        let ah = self.candidates.get(key)?;
        let held = self.held.get(ah.metadata.namespace.as_deref().unwrap_or_default());
        let is_held = held.is_some_and(|h| {
            h.iter()
                .any(|r| matches!(r, Rejected::Limit { key: k, .. } if k == key))
        });
        (!is_held).then_some(ah)
    }

    /// How many apps are served.
    pub(super) fn served_len(&self) -> usize {
        self.candidates.len() - self.held.values().map(Vec::len).sum::<usize>()
    }

    /// True when the limits of namespace `ns`, with the endpoints in `index`,
    /// hold other apps (or for other reasons) than they did in the full pass.
    pub(super) fn limits_moved(&self, ns: &str, index: &Indexes, limits: Limits) -> bool {
        let in_ns = self
            .candidates
            .iter()
            .filter(|(_, ah)| ah.metadata.namespace.as_deref() == Some(ns));
        let mut r = Resolution {
            served: in_ns.map(|(k, ah)| (k.clone(), ah.clone())).collect(),
            rejected: Vec::new(),
        };
        limits::apply(&mut r, &index.borrowed(Some(ns)), limits);
        let held = self.held.get(ns).map_or(&[][..], Vec::as_slice);
        !r.rejected.iter().map(|(_, why)| why).eq(held.iter())
    }
}

/// What passes over changes need of a full pass's `resolution` (`candidates`: its
/// served apps before the limits).
pub(super) fn last_of(
    resolution: &Resolution,
    candidates: BTreeMap<String, Arc<AppHealth>>,
    aws_version: u64,
    kube_stale: bool,
) -> Last {
    let mut by_service: HashMap<ServiceKey, Vec<String>> = HashMap::new();
    for (key, ah) in &resolution.served {
        let ns = ah.metadata.namespace.as_deref().unwrap_or_default();
        for svc in &ah.spec.services {
            by_service
                .entry((ns.to_owned(), svc.clone()))
                .or_default()
                .push(key.clone());
        }
    }
    let mut held: HashMap<String, Vec<Rejected>> = HashMap::new();
    for (ah, why) in &resolution.rejected {
        if matches!(why, Rejected::Limit { .. }) {
            held.entry(ah.namespace().unwrap_or_default())
                .or_default()
                .push(why.clone());
        }
    }
    Last {
        candidates,
        held,
        by_service,
        aws_version,
        kube_stale,
        at: Instant::now(),
    }
}
