//! Tests of `cluster/serving/served.rs`.

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
