//! Serving on every replica: the leader's verdicts, read from the lean view of
//! every `AppHealth`, published to the apps this replica answers `/health/<app>` for.
//!
//! Runs on every watch event of any `AppHealth`, on every replica, so it does work
//! only for what changed ([`Served::sync`]): when the objects the watch named are
//! served apps whose key, identity and served-ness are as they were (the leader
//! wrote their status), only those are published again. Anything else (an object
//! came, went, changed its key, or a relist) re-runs the Conflict rule over every
//! app ([`Served::publish`]), which still publishes only the apps whose view is a
//! new object, and swaps the set of served apps only when an app came or went.

use super::resolve::{app_key, resolve, Resolution};
use crate::cluster::kube::dirty::Changed;
use crate::cluster::kube::view::ServedApp;
use crate::model::Counts;
use crate::model::{AppKey, Health, OverrideMode};
use crate::telemetry::Metrics;
use crate::verdict::policy::Decision;
use crate::verdict::store::App;
use crate::verdict::store::Apps;
use kube::runtime::reflector::{ObjectRef, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// The reason served for an app the leader has not judged yet.
pub const AWAITING: &str = "awaiting the first verdict from the leader";

/// What this replica last published: the view each served app was published from.
#[derive(Debug, Default)]
pub struct Served {
    last: HashMap<String, Arc<ServedApp>>,
    /// True once a [`Served::publish`] ran.
    loaded: bool,
}

/// True when `ah` has a verdict from the leader.
fn has_verdict(ah: &ServedApp) -> bool {
    ah.status.as_ref().is_some_and(|s| s.verdict.is_some())
}

impl Served {
    /// Brings the served apps in line with `store`, given what `changed` since the
    /// last sync: publishes only the changed objects when they are served apps
    /// whose status alone changed, and runs [`Served::publish`] over every app
    /// otherwise.
    pub fn sync(&mut self, apps: &Apps, store: &Store<ServedApp>, changed: Changed, metrics: &Metrics) {
        if self.loaded && !changed.all && self.statuses(apps, store, &changed) {
            return;
        }
        self.publish(apps, &resolve(store.state()), metrics);
    }

    /// Publishes the objects of `changed` if each is a served app that keeps its
    /// key, identity and served-ness (only then can nothing else have moved);
    /// false, having published nothing, otherwise.
    fn statuses(&mut self, apps: &Apps, store: &Store<ServedApp>, changed: &Changed) -> bool {
        let mut todo = Vec::with_capacity(changed.objects.len());
        for (ns, name) in &changed.objects {
            // Gone from the cache: deleted, which only the full rule handles.
            let Some(view) = store.get(&ObjectRef::new(name).within(ns)) else {
                return false;
            };
            let key = app_key(view.as_ref());
            // The app of this key must have been published from this very object (same
            // uid, so the same namespace and name), and still be served the same way.
            let Some(prev) = self.last.get(&key) else { return false };
            let same = view.metadata.uid.is_some()
                && view.metadata.uid == prev.metadata.uid
                && view.metadata.deletion_timestamp.is_none()
                && (!view.is_held() || has_verdict(&view));
            let app = apps.get(&key).filter(|a| a.is_remote() && a.key.namespace == *ns);
            match app {
                Some(app) if same => todo.push((key, app, view)),
                _ => return false,
            }
        }
        for (key, app, view) in todo {
            if self.last.get(&key).is_some_and(|v| !Arc::ptr_eq(v, &view)) {
                publish_one(&app, &view);
                self.last.insert(key, view);
            }
        }
        true
    }

    /// Serves every app the Conflict rule lets through (computed here, from the lean
    /// view: it needs only keys and creation times) with the verdict in its status,
    /// except an app the leader holds by its namespace's limits (`Held` True in its
    /// status) that has no verdict. A held app with a verdict (the one it had when it
    /// was held, which the leader keeps) is served with it: held apps are not probed,
    /// but an app that was served is never dropped to a 404 (a failover) by a limit.
    /// Limits themselves need the EndpointSlices, which only the leader watches.
    pub fn publish(&mut self, apps: &Apps, resolution: &Resolution<ServedApp>, metrics: &Metrics) {
        self.loaded = true;
        let served = resolution
            .served
            .iter()
            .filter(|(_, ah)| !ah.is_held() || has_verdict(ah));
        let mut now: Vec<(&String, Arc<App>)> = Vec::with_capacity(resolution.served.len());
        let mut came = false;
        for (key, ah) in served {
            let ns = ah.metadata.namespace.as_deref().unwrap_or_default();
            let existing = apps
                .get(key)
                .filter(|a| a.is_remote() && a.key.namespace == ns && a.key.name == *key);
            let unchanged = existing.is_some() && self.last.get(key).is_some_and(|v| Arc::ptr_eq(v, ah));
            let app = match existing {
                Some(a) => a,
                None => {
                    came = true;
                    let app_key = AppKey {
                        namespace: ns.to_owned(),
                        name: key.clone(),
                    };
                    let awaiting = Decision {
                        health: Health::Healthy,
                        reason: AWAITING.into(),
                    };
                    Arc::new(App::remote(app_key, awaiting, metrics.for_remote_app()))
                }
            };
            if !unchanged {
                publish_one(&app, ah);
                self.last.insert(key.clone(), ah.clone());
            }
            now.push((key, app));
        }
        // Apps no longer served (deleted, lost their key, or lost a Conflict) lose their series.
        if came || now.len() != apps.len() {
            let next: HashMap<String, Arc<App>> = now.into_iter().map(|(k, a)| (k.clone(), a)).collect();
            self.last.retain(|k, _| next.contains_key(k));
            apps.replace(next);
        }
    }
}

/// Publishes the leader's verdict and AWS results for one app, from the typed
/// fields of its status.
fn publish_one(app: &App, ah: &ServedApp) {
    if let Some((decision, counts, ovr)) = verdict_of(ah) {
        app.publish(decision, counts, ovr);
    }
    // Every replica keeps the leader's AWS results, as it serves its verdicts.
    if let Some(s) = &ah.status {
        let alb = match (s.healthy_targets, s.total_targets) {
            (Some(healthy), Some(total)) => Some(crate::model::TargetCounts {
                healthy,
                total,
                stale: s.targets_stale.unwrap_or(false),
            }),
            _ => None,
        };
        let route53 = ah.spec.route53.then(|| crate::verdict::store::Route53View {
            health_check_id: s.health_check_id.clone(),
            route53_healthy: s.route53_healthy,
            problems: s.route53_problems.clone(),
            dns: s.dns.clone(),
        });
        app.publish_aws(alb, route53);
    }
}

/// The verdict the leader wrote, if any, with its endpoint counts (an older
/// leader wrote no `unknownEndpoints`: none then).
fn verdict_of(ah: &ServedApp) -> Option<(Decision, Counts, OverrideMode)> {
    let s = ah.status.as_ref()?;
    let health = s.verdict?;
    let total = s.total_endpoints.unwrap_or(0) as usize;
    let up = s.healthy_endpoints.unwrap_or(0) as usize;
    let unknown = s.unknown_endpoints.unwrap_or(0) as usize;
    let counts = Counts {
        total,
        up,
        down: total.saturating_sub(up).saturating_sub(unknown),
        unknown,
    };
    Some((
        Decision {
            health,
            reason: s.reason.clone().unwrap_or_default(),
        },
        counts,
        ah.spec.override_mode,
    ))
}

#[cfg(test)]
#[path = "served_tests.rs"]
mod tests;
