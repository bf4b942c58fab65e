//! The Conflict rule: one `/health/<app>` key, one `AppHealth`.
//!
//! When two objects claim one key, the older (by `creationTimestamp`, then by
//! namespace and name, so every replica decides alike) is served and the others
//! get a `Conflict` condition. Pure, and it needs only each object's key,
//! namespace, name and creation and deletion times: the leader runs it on the full
//! objects, and every replica runs it on its lean serving view
//! ([`crate::cluster::kube::view::ServedApp`]) and reaches the same answer.

use crate::cluster::kube::crd::AppHealth;
use crate::spec::valid_app_name;
use kube::{Resource, ResourceExt};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// An object that claims a `/health/<app>` key: the full `AppHealth` or the lean
/// serving view.
pub trait Claim: Resource {
    /// `spec.app`, when set.
    fn claimed_key(&self) -> Option<&str>;
}

impl Claim for AppHealth {
    fn claimed_key(&self) -> Option<&str> {
        self.spec.app.as_deref()
    }
}

/// The `/health/<app>` key an object claims: `spec.app`, or its name.
pub fn app_key<K: Claim>(ah: &K) -> String {
    ah.claimed_key().map_or_else(|| ah.name_any(), str::to_owned)
}

/// Why an object is not served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Another, older object claims the same key: `namespace/name` of the winner.
    Conflict { key: String, winner: String },
    /// The key cannot be a `/health/<app>` key.
    InvalidKey { key: String },
    /// The app is beyond its namespace's limits (see [`crate::cluster::leader::limits`]): held.
    Limit {
        key: String,
        kind: crate::cluster::leader::limits::Exceeded,
        message: String,
    },
}

/// Served objects by key, and the rejected ones with the reason.
#[derive(Debug)]
pub struct Resolution<K = AppHealth> {
    pub served: BTreeMap<String, Arc<K>>,
    pub rejected: Vec<(Arc<K>, Rejected)>,
}

impl<K> Default for Resolution<K> {
    fn default() -> Self {
        Resolution {
            served: BTreeMap::new(),
            rejected: Vec::new(),
        }
    }
}

/// The Conflict rule's order: older first, then namespace and name. It also decides
/// which of two apps keeps a Route 53 record both want.
pub fn age_order<K: Resource>(ah: &K) -> (Option<k8s_openapi::jiff::Timestamp>, String, String) {
    (
        ah.meta().creation_timestamp.as_ref().map(|t| t.0),
        ah.namespace().unwrap_or_default(),
        ah.name_any(),
    )
}

/// [`age_order`] as a comparison that allocates nothing, with objects not yet
/// stamped last (they are the newest).
pub fn age_cmp<K: Resource>(a: &K, b: &K) -> std::cmp::Ordering {
    fn key<K: Resource>(o: &K) -> (bool, Option<k8s_openapi::jiff::Timestamp>, &str, &str) {
        let m = o.meta();
        let ts = m.creation_timestamp.as_ref().map(|t| t.0);
        let name = m.name.as_deref().or(m.generate_name.as_deref()).unwrap_or_default();
        (ts.is_none(), ts, m.namespace.as_deref().unwrap_or_default(), name)
    }
    key(a).cmp(&key(b))
}

impl Resolution<AppHealth> {
    /// The apps whose Route 53 objects stay exactly as they are although they are
    /// not served: the losers of the Conflict rule (under their own namespace; a
    /// loser in the winner's namespace has the winner's key, which is served), apps
    /// held by their namespace's limits, and served objects whose spec is invalid. A held app's objects are neither
    /// updated nor collected; only deleting the object (or removing its `route53`
    /// block) lets them go.
    pub fn route53_holds(&self) -> crate::publish::route53::Hold {
        self.route53_holds_with(|_, ah| crate::cluster::kube::spec::settings(&ah.spec).is_err())
    }

    /// [`Self::route53_holds`], with `invalid(key, object)` telling which served
    /// objects have an invalid spec (the leader knows it from its fold).
    pub fn route53_holds_with(&self, invalid: impl Fn(&str, &AppHealth) -> bool) -> crate::publish::route53::Hold {
        let key = |ah: &AppHealth, name: &str| crate::model::AppKey {
            namespace: ah.namespace().unwrap_or_default(),
            name: name.to_owned(),
        };
        // Only losers need it: most passes have none.
        let served: std::collections::BTreeSet<_> = if self.rejected.is_empty() {
            Default::default()
        } else {
            self.served.iter().map(|(k, ah)| key(ah, k)).collect()
        };
        let losers = self.rejected.iter().filter_map(|(ah, why)| match why {
            Rejected::Conflict { key: k, .. } | Rejected::Limit { key: k, .. } => Some(key(ah, k)),
            Rejected::InvalidKey { .. } => None,
        });
        let invalid: Vec<_> = self.served.iter().filter(|(k, ah)| invalid(k, ah)).collect();
        // A loser also holds what it made under an earlier key, by its UID.
        let incarnations = self
            .rejected
            .iter()
            .filter(|(_, why)| matches!(why, Rejected::Conflict { .. } | Rejected::Limit { .. }))
            .map(|(ah, _)| ah.as_ref())
            .chain(invalid.iter().map(|(_, ah)| ah.as_ref()))
            .filter_map(|ah| ah.uid())
            .collect();
        crate::publish::route53::Hold {
            apps: losers
                .filter(|k| !served.contains(k))
                .chain(invalid.iter().map(|(k, ah)| key(ah, k)))
                .collect(),
            incarnations,
        }
    }
}

/// Applies the Conflict rule to every `AppHealth` in the cache. Runs on every
/// watch event, so it does not sort the objects: each key keeps its oldest claimant,
/// and only the rejected (few) are put in the rule's order.
pub fn resolve<K: Claim>(objects: impl IntoIterator<Item = Arc<K>>) -> Resolution<K> {
    let mut winners: HashMap<String, Arc<K>> = HashMap::new();
    let mut losers: Vec<(String, Arc<K>)> = Vec::new();
    let mut r = Resolution::default();
    for ah in objects.into_iter().filter(|o| o.meta().deletion_timestamp.is_none()) {
        let key = app_key(ah.as_ref());
        if !valid_app_name(&key) {
            r.rejected.push((ah, Rejected::InvalidKey { key }));
            continue;
        }
        match winners.entry(key) {
            Entry::Vacant(v) => {
                v.insert(ah);
            }
            Entry::Occupied(mut o) => {
                let loser = if age_cmp(ah.as_ref(), o.get().as_ref()).is_lt() {
                    o.insert(ah)
                } else {
                    ah
                };
                losers.push((o.key().clone(), loser));
            }
        }
    }
    for (key, ah) in losers {
        let w = &winners[&key];
        let winner = format!("{}/{}", w.namespace().unwrap_or_default(), w.name_any());
        r.rejected.push((ah, Rejected::Conflict { key, winner }));
    }
    r.rejected.sort_by(|a, b| age_cmp(a.0.as_ref(), b.0.as_ref()));
    r.served = winners.into_iter().collect();
    r
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
