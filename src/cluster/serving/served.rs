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
mod tests {
    use super::*;
    use crate::cluster::serving::resolve::resolve;

    fn view(ns: &str, name: &str, verdict: Option<&str>) -> Arc<ServedApp> {
        let status = verdict.map(|v| serde_json::json!({ "verdict": v, "reason": format!("{v} because") }));
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "metadata": { "name": name, "namespace": ns, "creationTimestamp": "2026-01-01T00:00:00Z" },
                "spec": { "services": [name] },
                "status": status,
            }))
            .unwrap(),
        )
    }

    fn answer(apps: &Apps, key: &str) -> Option<(bool, String)> {
        let a = apps.get(key)?.public();
        Some((a.healthy, String::from_utf8_lossy(&a.body).into_owned()))
    }

    #[test]
    fn only_changed_views_are_published_and_the_set_follows_the_objects() {
        let (apps, metrics) = (Apps::default(), Metrics::new("eu-west-1").unwrap());
        let mut served = Served::default();
        let (web, api) = (view("shop", "web", Some("healthy")), view("shop", "api", None));
        served.publish(&apps, &resolve([web.clone(), api.clone()]), &metrics);
        assert_eq!(answer(&apps, "web").map(|a| a.0), Some(true));
        let awaiting = answer(&apps, "api").unwrap();
        assert!(awaiting.0, "an app not judged yet is served healthy: {awaiting:?}");
        let web_app = apps.get("web").unwrap();

        // The leader judged api; web's view is the same object, so web is left as is.
        let api2 = view("shop", "api", Some("unhealthy"));
        served.publish(&apps, &resolve([web.clone(), api2.clone()]), &metrics);
        assert_eq!(answer(&apps, "api").map(|a| a.0), Some(false));
        assert!(Arc::ptr_eq(&web_app, &apps.get("web").unwrap()), "web keeps its App");

        // web's object is gone and api moved to another namespace: a new App.
        let moved = view("other", "api", Some("healthy"));
        served.publish(&apps, &resolve([moved]), &metrics);
        assert_eq!(apps.len(), 1);
        assert!(apps.get("web").is_none());
        let app = apps.get("api").unwrap();
        assert_eq!(
            (app.key.namespace.as_str(), answer(&apps, "api").map(|a| a.0)),
            ("other", Some(true))
        );
    }

    /// A creation time later than [`view`]'s.
    fn web_app_created() -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time> {
        serde_json::from_value(serde_json::json!("2026-06-01T00:00:00Z")).ok()
    }

    #[test]
    fn a_sync_over_status_changes_publishes_only_them_and_anything_else_resolves_again() {
        use kube::runtime::reflector;
        use kube::runtime::watcher::Event;
        let (apps, metrics) = (Apps::default(), Metrics::new("eu-west-1").unwrap());
        let (store, mut w) = reflector::store::<ServedApp>();
        let dirty = crate::cluster::kube::dirty::Dirty::default();
        let mut apply = |ev: Event<ServedApp>| {
            w.apply_watcher_event(&ev);
            dirty.note(&ev);
        };
        let with_uid = |v: Arc<ServedApp>| {
            let mut v = (*v).clone();
            v.metadata.uid = Some(format!("uid-{}", v.metadata.name.clone().unwrap_or_default()));
            v
        };
        apply(Event::Init);
        apply(Event::InitApply(with_uid(view("shop", "web", Some("healthy")))));
        apply(Event::InitApply(with_uid(view("shop", "api", Some("healthy")))));
        apply(Event::InitDone);
        let mut served = Served::default();
        served.sync(&apps, &store, dirty.take(), &metrics);
        assert_eq!(apps.len(), 2);
        let web_app = apps.get("web").unwrap();

        // The leader fails api: only api is published again, web keeps its App.
        apply(Event::Apply(with_uid(view("shop", "api", Some("unhealthy")))));
        served.sync(&apps, &store, dirty.take(), &metrics);
        assert_eq!(answer(&apps, "api").map(|a| a.0), Some(false));
        assert!(Arc::ptr_eq(&web_app, &apps.get("web").unwrap()));

        // A new object: the Conflict rule runs over every app and serves it.
        apply(Event::Apply(with_uid(view("shop", "cart", None))));
        served.sync(&apps, &store, dirty.take(), &metrics);
        assert_eq!(
            answer(&apps, "cart").map(|a| a.0),
            Some(true),
            "awaiting its first verdict"
        );

        // A newer object claims web's key from another namespace: it loses the Conflict,
        // and its status changing does not move web.
        let mut loser = with_uid(view("other", "web", Some("unhealthy")));
        loser.metadata.creation_timestamp = web_app_created();
        loser.metadata.uid = Some("uid-other-web".into());
        apply(Event::Apply(loser.clone()));
        served.sync(&apps, &store, dirty.take(), &metrics);
        apply(Event::Apply(loser));
        served.sync(&apps, &store, dirty.take(), &metrics);
        assert_eq!(
            apps.get("web").map(|a| a.key.namespace.clone()).as_deref(),
            Some("shop")
        );
        assert_eq!(answer(&apps, "web").map(|a| a.0), Some(true));

        // api's object goes: it is no longer served.
        apply(Event::Delete(with_uid(view("shop", "api", None))));
        served.sync(&apps, &store, dirty.take(), &metrics);
        assert!(apps.get("api").is_none());
        assert_eq!(apps.len(), 2);
    }

    #[test]
    fn replicas_read_the_typed_fields_and_an_older_leaders_status_reads_as_before() {
        let (apps, metrics) = (Apps::default(), Metrics::new("eu-west-1").unwrap());
        let with = |status: serde_json::Value| -> Arc<ServedApp> {
            Arc::new(
                serde_json::from_value(serde_json::json!({
                    "metadata": { "name": "web", "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z" },
                    "spec": { "services": ["web"], "route53": { "hostedZoneId": "Z1" } },
                    "status": status,
                }))
                .unwrap(),
            )
        };
        let mut served = Served::default();
        let typed = with(serde_json::json!({ "verdict": "healthy", "reason": "ok",
            "totalEndpoints": 4, "healthyEndpoints": 2, "unknownEndpoints": 1,
            "healthyTargets": 1, "totalTargets": 2, "targetsStale": true,
            "healthCheckId": "hc", "route53Healthy": true, "route53Problems": ["denied"],
            // A message no replica reads: it cannot change what is served.
            "conditions": [{ "type": "Stale", "status": "False", "reason": "Fresh", "message": "", "lastTransitionTime": "t" }] }));
        served.publish(&apps, &resolve([typed]), &metrics);
        let v = apps.get("web").unwrap().view(tokio::time::Instant::now());
        assert_eq!(
            (v.counts.total, v.counts.up, v.counts.down, v.counts.unknown),
            (4, 2, 1, 1)
        );
        assert_eq!(v.targets.map(|t| (t.healthy, t.total, t.stale)), Some((1, 2, true)));
        let r = v.route53.unwrap();
        assert_eq!(
            (r.health_check_id.as_deref(), r.route53_healthy, r.problems),
            (Some("hc"), Some(true), vec!["denied".to_string()])
        );
        assert!(
            v.policy.is_none() && v.probe.is_none(),
            "judged by the leader: no policy made up"
        );

        // An older leader's status: no unknownEndpoints, no targetsStale, no route53Problems.
        let old = with(serde_json::json!({ "verdict": "healthy", "reason": "ok",
            "totalEndpoints": 4, "healthyEndpoints": 2, "healthyTargets": 1, "totalTargets": 2 }));
        served.publish(&apps, &resolve([old]), &metrics);
        let v = apps.get("web").unwrap().view(tokio::time::Instant::now());
        assert_eq!((v.counts.down, v.counts.unknown), (2, 0));
        assert_eq!(v.targets.map(|t| t.stale), Some(false));
        assert!(v.route53.unwrap().problems.is_empty());
    }
}
