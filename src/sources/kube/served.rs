//! Serving on every replica: the leader's verdicts, read from the lean view of
//! every `AppHealth`, published to the apps this replica answers `/health/<app>` for.
//!
//! Runs on every watch event of any `AppHealth`, on every replica, so it does work
//! only for what changed: an app whose view is the same object as last time (the
//! watch cache replaces only the objects that changed) is not published again,
//! and the set of served apps is swapped only when an app came or went.

use super::resolve::Resolution;
use super::view::ServedApp;
use crate::model::{AppKey, Health, OverrideMode};
use crate::policy::{Counts, Decision};
use crate::state::{App, Apps};
use crate::telemetry::Metrics;
use std::collections::HashMap;
use std::sync::Arc;

/// The reason served for an app the leader has not judged yet.
pub const AWAITING: &str = "awaiting the first verdict from the leader";

/// What this replica last published: the view each served app was published from.
#[derive(Debug, Default)]
pub struct Served {
    last: HashMap<String, Arc<ServedApp>>,
}

impl Served {
    /// Serves every app the Conflict rule lets through (computed here, from the lean
    /// view: it needs only keys and creation times) with the verdict in its status,
    /// except an app the leader holds by its namespace's limits (`Held` True in its
    /// status) that has no verdict. A held app with a verdict (the one it had when it
    /// was held, which the leader keeps) is served with it: held apps are not probed,
    /// but an app that was served is never dropped to a 404 (a failover) by a limit.
    /// Limits themselves need the EndpointSlices, which only the leader watches.
    pub fn publish(&mut self, apps: &Apps, resolution: &Resolution<ServedApp>, metrics: &Metrics) {
        let has_verdict = |ah: &ServedApp| ah.status.as_ref().is_some_and(|s| s.verdict.is_some());
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

/// Publishes the leader's verdict and AWS results for one app.
fn publish_one(app: &App, ah: &ServedApp) {
    if let Some((decision, counts, ovr)) = verdict_of(ah) {
        app.publish(decision, counts, ovr);
    }
    // Every replica keeps the leader's AWS results, as it serves its verdicts.
    if let Some(s) = &ah.status {
        let alb = match (s.healthy_targets, s.total_targets) {
            (Some(healthy), Some(total)) => Some(crate::policy::TargetCounts {
                healthy,
                total,
                stale: ah
                    .condition("Stale")
                    .is_some_and(|c| c.message.contains(super::writer::ALB_STALE)),
            }),
            _ => None,
        };
        let route53 = ah.spec.route53.then(|| crate::state::Route53View {
            health_check_id: s.health_check_id.clone(),
            route53_healthy: s.route53_healthy,
            problems: s
                .conditions
                .iter()
                .filter(|c| c.type_ == "Route53Synced" && c.status == "False")
                .map(|c| c.message.clone())
                .collect(),
        });
        app.publish_aws(alb, route53);
    }
}

/// The verdict the leader wrote, if any.
fn verdict_of(ah: &ServedApp) -> Option<(Decision, Counts, OverrideMode)> {
    let s = ah.status.as_ref()?;
    let health = s.verdict?;
    let total = s.total_endpoints.unwrap_or(0) as usize;
    let up = s.healthy_endpoints.unwrap_or(0) as usize;
    let counts = Counts {
        total,
        up,
        down: total.saturating_sub(up),
        unknown: 0,
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
    use crate::sources::kube::resolve::resolve;

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
}
