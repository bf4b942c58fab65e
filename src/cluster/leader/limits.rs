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
mod tests {
    use super::*;
    use crate::cluster::kube::slices::by_service;
    use crate::cluster::serving::resolve::resolve;
    use kube::ResourceExt;

    fn ah(ns: &str, name: &str, created: &str) -> Arc<AppHealth> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
                "metadata": { "name": name, "namespace": ns, "creationTimestamp": created },
                "spec": { "services": [name] },
            }))
            .unwrap(),
        )
    }

    fn slice(ns: &str, svc: &str, n: u8) -> EndpointSlice {
        let eps: Vec<serde_json::Value> = (0..n)
            .map(|i| serde_json::json!({ "addresses": [format!("10.0.{}.{i}", svc.len())] }))
            .collect();
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": format!("{svc}-x"), "namespace": ns, "labels": { "kubernetes.io/service-name": svc } },
            "addressType": "IPv4", "ports": [{ "port": 80 }], "endpoints": eps,
        }))
        .unwrap()
    }

    fn held(r: &Resolution) -> Vec<(String, &'static str)> {
        let mut v: Vec<(String, &'static str)> = r
            .rejected
            .iter()
            .filter_map(|(ah, why)| match why {
                Rejected::Limit { kind, .. } => Some((
                    format!("{}/{}", ah.namespace().unwrap_or_default(), ah.name_any()),
                    kind.reason(),
                )),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    const LIMITS: Limits = Limits {
        apps_per_namespace: 2,
        endpoints_per_namespace: 5,
        probes_in_flight_per_app: 8,
    };

    #[test]
    fn the_oldest_apps_that_fit_are_served_and_the_rest_held_per_namespace() {
        let objects = [
            ah("a", "z-old", "2026-01-01T00:00:00Z"),
            ah("a", "b-mid", "2026-01-02T00:00:00Z"),
            ah("a", "a-new", "2026-01-03T00:00:00Z"),
            ah("b", "big", "2026-01-01T00:00:00Z"),
            ah("b", "huge", "2026-01-02T00:00:00Z"),
            ah("b", "one", "2026-01-03T00:00:00Z"),
            ah("c", "alone", "2026-01-09T00:00:00Z"),
        ];
        let slices = [
            slice("a", "z-old", 1),
            slice("a", "b-mid", 1),
            slice("a", "a-new", 1),
            slice("b", "big", 4),
            slice("b", "huge", 3),
            slice("b", "one", 1),
            slice("c", "alone", 5),
        ];
        let index = by_service(slices.iter());
        for order in [objects.to_vec(), objects.iter().rev().cloned().collect()] {
            let mut r = resolve(order);
            apply(&mut r, &index, LIMITS);
            assert_eq!(
                held(&r),
                [
                    ("a/a-new".to_string(), "AppsPerNamespace"),
                    ("b/huge".to_string(), "EndpointsPerNamespace")
                ],
                "by age, not by name; a younger app that fits is served"
            );
            assert_eq!(
                r.served.keys().collect::<Vec<_>>(),
                ["alone", "b-mid", "big", "one", "z-old"]
            );
        }
        let mut r = resolve(objects.to_vec());
        apply(&mut r, &index, Limits::default());
        assert!(held(&r).is_empty());
    }

    #[test]
    fn held_apps_keep_their_route53_objects() {
        let mut r = resolve([
            ah("a", "x", "2026-01-01T00:00:00Z"),
            ah("a", "y", "2026-01-02T00:00:00Z"),
        ]);
        let lim = Limits {
            apps_per_namespace: 1,
            ..LIMITS
        };
        apply(&mut r, &HashMap::new(), lim);
        let holds = r.route53_holds();
        let names: Vec<String> = holds
            .apps
            .iter()
            .map(|k| format!("{}/{}", k.namespace, k.name))
            .collect();
        assert_eq!(names, ["a/y"]);
        let Some((_, Rejected::Limit { message, .. })) = r.rejected.first() else {
            panic!("{:?}", r.rejected)
        };
        assert!(
            message.starts_with("namespace a already has 1 older apps served, its limit (limits.appsPerNamespace 1)"),
            "{message}"
        );
    }
}
