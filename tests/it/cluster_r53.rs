//! Blast radius in-cluster, against kmock's emulator and moto: what one tenant
//! writes can only ever touch its own app's DNS. Two namespaces claim one record
//! (the older keeps it), a namespace outside the operator's policy gets nothing, a
//! newer object patched onto an older app key deletes nothing, and an app in a zone
//! Route 53 will not show does not stop anyone else.

use crate::cluster::{agent_with, app_health, Emulator};
use crate::moto::Moto;
use crate::support::wait_until;
use serde_json::{json, Value};
use std::time::Duration;

const AH: &str = "/apis/failover-agent.io/v1alpha1/namespaces";

/// An AppHealth `ns/name` (app key `app`) that wants `record` in `zone`.
pub(crate) fn wants(ns: &str, name: &str, app: Option<&str>, zone: &str, record: &str, alb: &Value) -> Value {
    let mut o = app_health(ns, name, app, &[name], 1);
    o["spec"]["route53"] = json!({
        "hostedZoneId": zone, "recordName": record, "routing": { "weighted": { "weight": 10 } },
        "aliasTarget": { "dnsName": alb["alb_dns"], "hostedZoneId": alb["alb_zone_id"] },
    });
    o
}

/// The `Route53Synced` condition of `ns/name`: (status, reason, message).
pub(crate) async fn synced(emu: &Emulator, ns: &str, name: &str) -> (String, String, String) {
    let o = emu.get(&format!("{AH}/{ns}/apphealths/{name}")).await;
    let c = o["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Route53Synced").cloned())
        .unwrap_or(Value::Null);
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
    (s("status"), s("reason"), s("message"))
}

/// `(record name, health check ID)` of every A record in `zone`, and the app tag
/// of every check.
async fn route53_state(moto: &Moto, zone: &str) -> (Vec<(String, String)>, Vec<String>) {
    let r53 = moto.route53();
    let recs = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .send()
        .await
        .unwrap();
    let records = recs
        .resource_record_sets()
        .iter()
        .filter(|r| r.r#type().as_str() == "A")
        .map(|r| (r.name().to_owned(), r.health_check_id().unwrap_or_default().to_owned()))
        .collect();
    let mut apps = Vec::new();
    for c in r53.list_health_checks().send().await.unwrap().health_checks() {
        let tags = r53
            .list_tags_for_resource()
            .resource_type(aws_sdk_route53::types::TagResourceType::Healthcheck)
            .resource_id(c.id())
            .send()
            .await
            .unwrap();
        let tags = tags.resource_tag_set().map(|t| t.tags().to_vec()).unwrap_or_default();
        apps.extend(
            tags.iter()
                .filter(|t| t.key() == Some("failover-agent.io/app"))
                .filter_map(|t| t.value().map(str::to_owned)),
        );
    }
    (records, apps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_cannot_move_another_tenants_dns_and_one_bad_zone_freezes_only_itself() {
    let mut moto = Moto::start();
    let alb = moto.cmd(json!({"cmd": "create_alb", "targets": ["10.0.1.10"], "zone": "example.com"}));
    let zone = alb["zone_id"].as_str().unwrap().to_owned();
    let emu = Emulator::start();
    let create = |ns: &str, obj: Value| {
        let path = format!("{AH}/{ns}/apphealths");
        let emu = &emu;
        async move { emu.create(&path, obj).await }
    };
    // Older objects first (creation times have one-second resolution).
    create("team-a", wants("team-a", "shop", None, &zone, "shop.example.com", &alb)).await;
    create(
        "team-a",
        wants("team-a", "old", Some("oldkey"), &zone, "old.example.com", &alb),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Team B names team A's record, with the same set identifier (the Region).
    create(
        "team-b",
        wants("team-b", "shop2", None, &zone, "shop.example.com", &alb),
    )
    .await;
    create(
        "team-b",
        wants("team-b", "new", Some("newkey"), &zone, "new.example.com", &alb),
    )
    .await;
    // A namespace the operator never allowed, and a zone Route 53 will not show.
    create("outsider", wants("outsider", "x", None, &zone, "x.example.com", &alb)).await;
    create(
        "team-a",
        wants("team-a", "lost", None, "ZNOSUCHZONE00000", "lost.example.com", &alb),
    )
    .await;
    create("team-a", wants("team-a", "fine", None, &zone, "fine.example.com", &alb)).await;

    let settings = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        settings.path(),
        format!(
            "probeTargets: {{ allowLoopback: true }}\naws: {{ reconcileIntervalSeconds: 10, dnsViewIntervalSeconds: 1 }}\nroute53Policy:\n  zones:\n    - {{ id: {zone}, names: [\"*.example.com\"], namespaces: [team-a, team-b] }}\n    - {{ id: ZNOSUCHZONE00000, names: [\"*.example.com\"], namespaces: [team-a] }}\n"
        ),
    )
    .unwrap();
    let mut env = moto.env();
    env.push(("CLUSTER_ID", "prod-eu".into()));
    env.push(("PUBLIC_HOSTNAME", "health.eu-west-1.example.com".into()));
    env.push(("FAILOVER_AGENT_SETTINGS", settings.path().display().to_string()));
    let kc = emu.kubeconfig();
    let agent = agent_with(kc.path(), "node-a", &env);

    let long = Duration::from_secs(40);
    let all_synced = wait_until(long, || async {
        let mut ok = true;
        for (ns, name) in [
            ("team-a", "shop"),
            ("team-a", "old"),
            ("team-b", "new"),
            ("team-a", "fine"),
        ] {
            ok &= synced(&emu, ns, name).await.0 == "True";
        }
        ok
    })
    .await;
    assert!(all_synced.is_some(), "team-a/fine and the others never synced");

    // The older claim keeps the record; the newer is held and told who has it.
    let (st, reason, msg) = synced(&emu, "team-b", "shop2").await;
    assert_eq!((st.as_str(), reason.as_str()), ("False", "RecordClaimed"), "{msg}");
    assert!(msg.contains("claimed by the older AppHealth team-a/shop"), "{msg}");
    // Outside the policy: refused, and the condition names the rule it missed.
    let (st, reason, msg) = synced(&emu, "outsider", "x").await;
    assert_eq!((st.as_str(), reason.as_str()), ("False", "NotAllowed"), "{msg}");
    assert!(msg.contains("namespace outsider may not use zone"), "{msg}");
    // The unreadable zone: held with AWS's error; team-a/fine was created regardless.
    let lost = wait_until(long, || async {
        synced(&emu, "team-a", "lost").await.2.contains("cannot be read")
    })
    .await;
    let (st, _, msg) = synced(&emu, "team-a", "lost").await;
    assert!(lost.is_some() && st == "False", "{msg}");

    // Team B patches its newer object onto team A's older app key: it loses the key
    // and is held, and nothing it made before is collected.
    emu.merge(
        &format!("{AH}/team-b/apphealths/new"),
        json!({ "spec": { "app": "oldkey" } }),
    )
    .await;
    let lost_key = wait_until(long, || async {
        let o = emu.get(&format!("{AH}/team-b/apphealths/new")).await;
        o["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Conflict" && c["status"] == "True"))
    })
    .await;
    assert!(lost_key.is_some(), "team-b/new never lost the app key");
    let (before, _) = route53_state(&moto, &zone).await;
    // Three more reconciles (the unreadable zone keeps each one incomplete, so the
    // error counter counts them).
    let errors = "failover_agent_route53_reconcile_errors_total";
    let start = agent.metric(errors).await.unwrap_or(0.0);
    let three = wait_until(Duration::from_secs(60), || async {
        agent.metric(errors).await.unwrap_or(0.0) >= start + 3.0
    })
    .await;
    assert!(three.is_some(), "fewer than three reconciles in 60 s");
    // Reconciles with nothing to change still report each app's check: it stays Synced.
    let (st, reason, msg) = synced(&emu, "team-a", "fine").await;
    assert_eq!((st.as_str(), reason.as_str()), ("True", "Synced"), "{msg}");

    let (records, apps) = route53_state(&moto, &zone).await;
    assert_eq!(records, before, "no record changed in three reconciles");
    let names: Vec<&str> = records.iter().map(|(n, _)| n.as_str()).collect();
    for want in [
        "shop.example.com.",
        "old.example.com.",
        "new.example.com.",
        "fine.example.com.",
    ] {
        assert!(names.contains(&want), "{want} is gone: {names:?}");
    }
    assert!(
        !names.contains(&"x.example.com."),
        "outside the policy, nothing is made"
    );
    let shop_check = emu.get(&format!("{AH}/team-a/apphealths/shop")).await["status"]["healthCheckId"].clone();
    let shop = records.iter().find(|(n, _)| n == "shop.example.com.").unwrap();
    assert_eq!(
        Some(shop.1.as_str()),
        shop_check.as_str(),
        "shop.example.com is team A's"
    );
    // The leader writes where DNS answers go into the status, and replicas serve it.
    let dns = wait_until(long, || async {
        let o = emu.get(&format!("{AH}/team-a/apphealths/shop")).await;
        o["status"]["dns"]["regions"][0]["route53"] == "healthy"
    })
    .await;
    let status = emu.get(&format!("{AH}/team-a/apphealths/shop")).await["status"].clone();
    assert!(dns.is_some(), "no DNS view in the status: {status}");
    let view = &status["dns"];
    let region = view["regions"][0].clone();
    assert_eq!(
        (region["here"].clone(), region["policy"].clone()),
        (json!(true), json!("weight 10"))
    );
    assert_eq!(region["healthCheckId"], shop_check);
    let here = region["setIdentifier"].as_str().unwrap();
    assert_eq!(view["shares"][here], 1.0, "{view}");
    let served = agent.app("shop").await;
    assert_eq!(served["dns"]["answer"], view["answer"], "{served}");
    assert!(agent
        .metric(&format!(
            "failover_agent_dns_share{{app=\"shop\",namespace=\"team-a\",set_identifier=\"{here}\"}}"
        ))
        .await
        .is_some());
    for held in ["team-b/shop2", "outsider/x", "team-a/lost"] {
        assert!(!apps.iter().any(|a| a == held), "{held} got a health check: {apps:?}");
    }
    assert!(
        apps.iter().any(|a| a == "team-b/newkey"),
        "team-b/new's old check is kept: {apps:?}"
    );
}
