//! The leader's plan of every node's probes: which endpoints of which served app
//! each node's agent probes, with what settings. Kept across the folds of one term
//! and changed one app at a time, so a fold that recomputes a few apps touches only
//! their shares. Pure: the assigner turns it into `ProbeAssignment` objects.

use crate::cluster::kube::crd::ProbeScheme;
use crate::cluster::kube::slices::Endpoint;
use crate::cluster::kube::spec::AppSettings;
use crate::cluster::node::assignment::AssignedProbe;
use crate::cluster::node::assignment::Nodes;
use crate::cluster::node::assignment::Settings;
use crate::cluster::node::assignment::Share;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

/// Every node's shares, and the nodes each app has shares on.
///
/// A new plan's first [`Plan::take_changed`] returns the nodes, even none (so a
/// new leader deletes the assignments of a plan that is empty now). After that it
/// returns `None` until a [`Plan::set`], [`Plan::remove`] or [`Plan::retain`]
/// changes some node's shares: setting an app to what it already had changes nothing.
#[derive(Debug)]
pub struct Plan {
    nodes: Nodes,
    /// The nodes each app has shares on, and the last pass that set or kept it.
    apps: HashMap<Arc<str>, (Vec<String>, u64)>,
    changed: bool,
    pass: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            nodes: Nodes::new(),
            apps: HashMap::new(),
            changed: true,
            pass: 0,
        }
    }
}

impl Plan {
    /// Sets the shares of the app `app_ref` (`namespace/app`) with settings `set`
    /// to its probe-able endpoints, replacing what it had. Endpoints without a node,
    /// without a port, or that may not be probed ([`Endpoint::refused`]) are
    /// assigned to no one.
    pub fn set<'a>(&mut self, app_ref: &str, set: &AppSettings, endpoints: impl IntoIterator<Item = &'a Endpoint>) {
        let mut by_node: BTreeMap<&str, Vec<SocketAddr>> = BTreeMap::new();
        for ep in endpoints {
            let (Some(node), None) = (ep.node.as_deref(), ep.refused) else {
                continue;
            };
            if let Some(addr) = ep.probe_addr(set.port) {
                by_node.entry(node).or_default().push(addr);
            }
        }
        let settings = Arc::new(Settings {
            probe: AssignedProbe {
                scheme: set.scheme,
                path: matches!(set.scheme, ProbeScheme::Http | ProbeScheme::Https).then(|| set.path.clone()),
                interval_seconds: set.probe.interval.as_secs_f64(),
                timeout_seconds: set.probe.timeout.as_secs_f64(),
                expected_status: set.probe.expected_status.clone(),
                body_contains: set.probe.body_contains.clone(),
                grpc_service: set.probe.grpc_service.clone(),
                tls: set.probe.tls.as_ref().map(|t| crate::spec::ProbeTlsKeys {
                    verify: Some(t.verify),
                    ca_file: t.ca_file.as_ref().map(|f| f.to_string_lossy().into_owned()),
                    server_name: t.server_name.clone(),
                }),
            },
            rise_count: set.policy.rise_count,
            fall_count: set.policy.fall_count,
        });
        let shares = by_node.into_iter().map(|(node, mut endpoints)| {
            endpoints.sort_unstable();
            endpoints.dedup();
            let share = Share {
                settings: settings.clone(),
                endpoints,
            };
            (node, share)
        });
        self.replace(app_ref, shares.collect());
    }

    /// Removes every share of `app_ref`.
    pub fn remove(&mut self, app_ref: &str) {
        self.replace(app_ref, Vec::new());
    }

    /// Keeps the shares of `app_ref` as they are, in this pass.
    pub fn keep(&mut self, app_ref: &str) {
        if let Some((_, seen)) = self.apps.get_mut(app_ref) {
            *seen = self.pass;
        }
    }

    /// Ends a pass: removes the shares of every app it did not set or keep.
    pub fn sweep(&mut self) {
        let pass = self.pass;
        let gone: Vec<Arc<str>> = self
            .apps
            .iter()
            .filter(|(_, (_, seen))| *seen != pass)
            .map(|(a, _)| a.clone())
            .collect();
        for app in gone {
            self.remove(&app);
        }
        self.pass += 1;
    }

    /// Every node with something to probe, and what, if that changed since the last call.
    pub fn take_changed(&mut self) -> Option<Nodes> {
        std::mem::take(&mut self.changed).then(|| self.nodes.clone())
    }

    fn replace(&mut self, app_ref: &str, shares: Vec<(&str, Share)>) {
        let (app, old) = match self.apps.remove_entry(app_ref) {
            Some((app, (old, _))) => (app, old),
            None => (Arc::from(app_ref), Vec::new()),
        };
        for node in &old {
            if shares.iter().any(|(n, _)| n == node) {
                continue;
            }
            if let Some(on_node) = self.nodes.get_mut(node) {
                let on_node = Arc::make_mut(on_node);
                on_node.remove(app_ref);
                if on_node.is_empty() {
                    self.nodes.remove(node);
                }
            }
            self.changed = true;
        }
        let mut now = Vec::with_capacity(shares.len());
        for (node, share) in shares {
            now.push(node.to_owned());
            let on_node = self.nodes.entry(node.to_owned()).or_default();
            if on_node.get(app_ref) != Some(&share) {
                // Copies this node's shares only if the assigner still holds them.
                Arc::make_mut(on_node).insert(app.clone(), share);
                self.changed = true;
            }
        }
        if !now.is_empty() {
            self.apps.insert(app, (now, self.pass));
        }
    }
}

#[cfg(test)]
#[path = "probe_plan_tests.rs"]
mod tests;
