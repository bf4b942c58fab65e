//! Per-namespace limits: what one tenant may use of the agent (settings `limits`).
//!
//! After the Conflict rule, each namespace's served apps are taken oldest first (the
//! Conflict rule's [`crate::cluster::serving::resolve::age_order`]): an app is served if the namespace's count of apps
//! stays within `appsPerNamespace` and its endpoints (every endpoint of its Services,
//! ready or not) fit in what older apps left of `endpointsPerNamespace`. Any other
//! app is held: not served at `/health/<app>`, not probed, its Route 53 objects left
//! exactly as they are, and its status says why (condition `Held`). Pure, so every
//! replica holds the same apps.

use crate::cluster::kube::crd::AppHealth;
use crate::cluster::kube::slices::endpoints_of_services;
use crate::cluster::serving::resolve::age_cmp;
use crate::cluster::serving::resolve::Rejected;
use crate::cluster::serving::resolve::Resolution;
use crate::spec::Limits;
use crate::spec::ProbeTargets;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Which limit held an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    /// `limits.appsPerNamespace`.
    Apps,
    /// `limits.endpointsPerNamespace`.
    Endpoints,
}

impl Exceeded {
    /// The `Held` condition's reason.
    pub fn reason(self) -> &'static str {
        match self {
            Exceeded::Apps => "AppsPerNamespace",
            Exceeded::Endpoints => "EndpointsPerNamespace",
        }
    }
}

/// Moves the served apps that exceed their namespace's `limits` from `served` to
/// `rejected` ([`Rejected::Limit`]). `index` is the EndpointSlices by Service.
pub fn apply(r: &mut Resolution, index: &HashMap<(&str, &str), Vec<&EndpointSlice>>, limits: Limits) {
    let mut by_ns: BTreeMap<&str, Vec<(&String, &Arc<AppHealth>)>> = BTreeMap::new();
    for (key, ah) in &r.served {
        let ns = ah.metadata.namespace.as_deref().unwrap_or_default();
        by_ns.entry(ns).or_default().push((key, ah));
    }
    let mut held = Vec::new();
    for (ns, mut apps) in by_ns {
        // Counting an app's endpoints exactly builds its endpoint map; most
        // namespaces are far under the limit even counting every address of every
        // slice, and then no app can be held for endpoints.
        let upper = |apps: &[(&String, &Arc<AppHealth>)]| -> usize {
            apps.iter().map(|(_, ah)| addresses(index, ns, &ah.spec.services)).sum()
        };
        if apps.len() <= limits.apps_per_namespace && upper(&apps) <= limits.endpoints_per_namespace {
            continue;
        }
        // Unstamped objects are the newest, as in the Conflict rule.
        apps.sort_by(|a, b| age_cmp(a.1.as_ref(), b.1.as_ref()));
        let exact = upper(&apps[..apps.len().min(limits.apps_per_namespace)]) > limits.endpoints_per_namespace;
        let (mut n_apps, mut n_eps) = (0usize, 0usize);
        for (key, ah) in apps {
            let eps = if exact {
                endpoints_of_services(
                    |svc| index.get(&(ns, svc)).map_or(&[][..], Vec::as_slice).iter().copied(),
                    ns,
                    &ah.spec.services,
                    ProbeTargets::default(),
                )
                .len()
            } else {
                0
            };
            if n_apps + 1 > limits.apps_per_namespace {
                let message = format!(
                    "namespace {ns} already has {n_apps} older apps served, its limit (limits.appsPerNamespace {}); this app is not served or probed until an older one goes or the operator raises the limit",
                    limits.apps_per_namespace
                );
                held.push((key.clone(), Exceeded::Apps, message));
            } else if n_eps + eps > limits.endpoints_per_namespace {
                let message = format!(
                    "this app's {eps} endpoints and the {n_eps} of older apps in namespace {ns} pass its limit (limits.endpointsPerNamespace {}); this app is not served or probed until they fit or the operator raises the limit",
                    limits.endpoints_per_namespace
                );
                held.push((key.clone(), Exceeded::Endpoints, message));
            } else {
                n_apps += 1;
                n_eps += eps;
            }
        }
    }
    for (key, kind, message) in held {
        if let Some(ah) = r.served.remove(&key) {
            r.rejected.push((ah, Rejected::Limit { key, kind, message }));
        }
    }
}

/// Every address in the slices of `services`: at least their endpoint count.
fn addresses(index: &HashMap<(&str, &str), Vec<&EndpointSlice>>, ns: &str, services: &[String]) -> usize {
    services
        .iter()
        .filter_map(|svc| index.get(&(ns, svc.as_str())))
        .flatten()
        .flat_map(|s| s.endpoints.iter())
        .map(|e| e.addresses.len())
        .sum()
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
