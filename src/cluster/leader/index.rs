//! The leader's indexes of its caches, kept across the passes of one term and
//! changed one object at a time: EndpointSlices by Service, and every node's
//! probe states by app.
//!
//! A pass that starts from what changed (see [`super::pass`]) updates them with
//! the objects its watches named, and learns from them which apps those objects
//! feed; a full pass reloads them from the caches.

use crate::cluster::kube::dirty::ObjKey;
use crate::cluster::kube::slices::endpoints_of_services;
use crate::cluster::kube::slices::service_of;
use crate::cluster::kube::slices::Endpoint;
use crate::cluster::node::report::ProbeReport;
use crate::model::EndpointState;
use crate::spec::ProbeTargets;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

/// A Service: its namespace and name.
pub type ServiceKey = (String, String);

/// EndpointSlices by Service, and probe reports by app.
#[derive(Debug, Default)]
pub struct Indexes {
    /// EndpointSlices by namespace, then Service.
    slices: HashMap<String, HashMap<String, Vec<Arc<EndpointSlice>>>>,
    /// The Service each indexed slice is filed under (in the slice's namespace),
    /// by the slice's key.
    slice_service: HashMap<ObjKey, String>,
    /// Every probe report, by its key.
    reports: HashMap<ObjKey, Arc<ProbeReport>>,
    /// The reports that hold states of each app (`namespace/app`).
    app_reports: HashMap<String, BTreeSet<ObjKey>>,
}

impl Indexes {
    /// Files every slice of `all` anew.
    pub fn load_slices(&mut self, all: Vec<Arc<EndpointSlice>>) {
        self.slices.clear();
        self.slice_service.clear();
        for s in all {
            self.file_slice(s);
        }
    }

    /// Brings the slices named in `changed` in line with `store` (a slice no longer
    /// there is dropped); returns the Services whose slices changed.
    pub fn update_slices(
        &mut self,
        changed: impl IntoIterator<Item = ObjKey>,
        store: &Store<EndpointSlice>,
    ) -> HashSet<ServiceKey> {
        let mut services = HashSet::new();
        for key in changed {
            if let Some(svc) = self.slice_service.remove(&key) {
                if let Some(v) = self.slices.get_mut(&key.0).and_then(|m| m.get_mut(&svc)) {
                    v.retain(|s| s.metadata.name.as_deref() != Some(key.1.as_str()));
                }
                services.insert((key.0.clone(), svc));
            }
            if let Some(s) = store.get(&ObjectRef::new(&key.1).within(&key.0)) {
                if let Some(svc) = self.file_slice(s) {
                    services.insert(svc);
                }
            }
        }
        services
    }

    /// Files one slice under its Service, if it has one.
    fn file_slice(&mut self, s: Arc<EndpointSlice>) -> Option<ServiceKey> {
        let (Some(ns), Some(name), Some(svc)) = (&s.metadata.namespace, &s.metadata.name, service_of(&s)) else {
            return None;
        };
        self.slice_service.insert((ns.clone(), name.clone()), svc.to_owned());
        let svc_key = (ns.clone(), svc.to_owned());
        let by_svc = self.slices.entry(ns.clone()).or_default();
        by_svc.entry(svc.to_owned()).or_default().push(s);
        Some(svc_key)
    }

    /// The slices of the Service `svc` in `ns`.
    pub fn slices_of(&self, ns: &str, svc: &str) -> &[Arc<EndpointSlice>] {
        self.slices.get(ns).and_then(|m| m.get(svc)).map_or(&[], Vec::as_slice)
    }

    /// The index as [`super::limits::apply`] takes it, for the namespaces `only`
    /// (every namespace when `None`).
    pub fn borrowed(&self, only: Option<&str>) -> HashMap<(&str, &str), Vec<&EndpointSlice>> {
        let mut m = HashMap::new();
        for (ns, by_svc) in &self.slices {
            if only.is_some_and(|o| o != ns) {
                continue;
            }
            for (svc, v) in by_svc {
                m.insert((ns.as_str(), svc.as_str()), v.iter().map(AsRef::as_ref).collect());
            }
        }
        m
    }

    /// The endpoints of every Service in `services` of `ns`, by IP (see
    /// [`crate::cluster::kube::slices::endpoints_of_services`]).
    pub fn endpoints(&self, ns: &str, services: &[String], rules: ProbeTargets) -> BTreeMap<IpAddr, Endpoint> {
        endpoints_of_services(
            |svc| self.slices_of(ns, svc).iter().map(AsRef::as_ref),
            ns,
            services,
            rules,
        )
    }

    /// Indexes every report of `all` anew.
    pub fn load_reports(&mut self, all: Vec<Arc<ProbeReport>>) {
        self.reports.clear();
        self.app_reports.clear();
        for r in all {
            let key = crate::cluster::kube::dirty::key_of(r.as_ref());
            for app in r.spec.apps.keys() {
                self.app_reports.entry(app.clone()).or_default().insert(key.clone());
            }
            self.reports.insert(key, r);
        }
    }

    /// Brings the reports named in `changed` in line with `store`; returns the
    /// apps (`namespace/app`) whose states in those reports changed.
    pub fn update_reports(
        &mut self,
        changed: impl IntoIterator<Item = ObjKey>,
        store: &Store<ProbeReport>,
    ) -> HashSet<String> {
        let mut apps = HashSet::new();
        for key in changed {
            let old = self.reports.remove(&key);
            let new = store.get(&ObjectRef::new(&key.1).within(&key.0));
            let empty = BTreeMap::new();
            let old_apps = old.as_ref().map_or(&empty, |r| &r.spec.apps);
            let new_apps = new.as_ref().map_or(&empty, |r| &r.spec.apps);
            for (app, states) in old_apps {
                if new_apps.get(app) != Some(states) {
                    apps.insert(app.clone());
                }
                if !new_apps.contains_key(app) {
                    if let Some(set) = self.app_reports.get_mut(app) {
                        set.remove(&key);
                        if set.is_empty() {
                            self.app_reports.remove(app);
                        }
                    }
                }
            }
            for app in new_apps.keys() {
                if !old_apps.contains_key(app) {
                    apps.insert(app.clone());
                    self.app_reports.entry(app.clone()).or_default().insert(key.clone());
                }
            }
            if let Some(r) = new {
                self.reports.insert(key, r);
            }
        }
        apps
    }

    /// The probe states of `app` (`namespace/app`) by endpoint IP, from every
    /// report that holds some; `None` when no node reports on it.
    pub fn probes_of(&self, app: &str) -> Option<HashMap<IpAddr, EndpointState>> {
        let keys = self.app_reports.get(app)?;
        let mut states = HashMap::new();
        for r in keys.iter().filter_map(|k| self.reports.get(k)) {
            for (ip, state) in r.spec.apps.get(app).into_iter().flatten() {
                if let Ok(ip) = ip.parse() {
                    states.insert(ip, *state);
                }
            }
        }
        Some(states)
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
