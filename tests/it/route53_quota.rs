//! The health-check quota preflight against moto (whose launcher models
//! `GetAccountLimit` and `TooManyHealthChecks`, `tests/aws/quota.py`): `route53 plan`
//! refuses apps whose checks do not fit, the leader creates what fits, holds the
//! newest apps whole with the reason, keeps reconciling running apps, and creates
//! the held apps once the quota is raised.

use crate::moto::Moto;
use crate::route53::{fixture, Fixture};
use crate::support::{wait_until, AgentProcess};
use aws_sdk_route53::types::{HealthCheckConfig, HealthCheckType, RrType};
use serde_json::json;
use std::time::Duration;

/// How a problem of an app held by the quota starts.
const HELD: &str = "health check quota: 2 of ";

/// A static config with one Route 53 app per `(name, failureThreshold)`.
fn config(f: &Fixture, file: &str, apps: &[(&str, u32)]) -> std::path::PathBuf {
    let mut y = String::from(
        "region: eu-west-1\nclusterId: prod-eu\npublicHostname: health.eu-west-1.example.com\naws: { reconcileIntervalSeconds: 10, dnsViewIntervalSeconds: 0 }\napps:\n",
    );
    for (name, threshold) in apps {
        y += &format!(
            "  - name: {name}\n    endpoints: [\"http://127.0.0.1:1/\"]\n    route53:\n      hostedZoneId: {}\n      recordName: {name}.example.com\n      routing: {{ latency: {{ region: eu-west-1 }} }}\n      aliasTarget: {{ dnsName: {}, hostedZoneId: {} }}\n      healthCheck: {{ intervalSeconds: 10, failureThreshold: {threshold} }}\n",
            f.zone, f.alb_dns, f.alb_zone
        );
    }
    let path = f.dir.path().join(file);
    std::fs::write(&path, y).unwrap();
    path
}

/// A hand-made check: it counts against the account's quota, and is never ours.
async fn hand_made_check(moto: &Moto) {
    let cfg = HealthCheckConfig::builder()
        .r#type(HealthCheckType::Http)
        .fully_qualified_domain_name("other.example.com")
        .port(80)
        .resource_path("/")
        .build()
        .unwrap();
    moto.route53()
        .create_health_check()
        .caller_reference("hand-made-quota")
        .health_check_config(cfg)
        .send()
        .await
        .unwrap();
}

async fn record_names(f: &Fixture) -> Vec<String> {
    let mut names: Vec<String> = f
        .records()
        .await
        .iter()
        .filter(|r| *r.r#type() == RrType::A)
        .map(|r| r.name().trim_end_matches(".example.com.").to_owned())
        .collect();
    names.sort();
    names
}

async fn threshold_of(f: &Fixture, app: &str) -> Option<i32> {
    let checks = f.checks().await;
    let c = checks
        .iter()
        .find(|c| c.health_check_config().and_then(|h| h.resource_path()) == Some(&format!("/health/{app}")))?;
    c.health_check_config()?.failure_threshold()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_that_do_not_fit_the_quota_are_refused_held_whole_and_follow_when_it_is_raised() {
    let mut f = fixture();
    // The account: limit 3, one hand-made check and the running app's: 2 used.
    f.moto.cmd(json!({"cmd": "health_check_limit", "value": 3}));
    hand_made_check(&f.moto).await;
    let before = config(&f, "before.yaml", &[("running", 3)]);
    let (code, out) = f.cli("apply", &before);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Quota: account uses 1 of 3 MAX_HEALTH_CHECKS_BY_OWNER"),
        "{out}"
    );
    assert!(out.contains("Cost change: +$1.50 a month"), "{out}");

    // Three new apps, room for one: plan refuses the two newest and says so.
    let after = config(
        &f,
        "after.yaml",
        &[("running", 5), ("new1", 3), ("new2", 3), ("new3", 3)],
    );
    let (code, out) = f.cli("plan", &after);
    assert_eq!(code, 1, "{out}");
    let why = "health check quota: 2 of 3 app(s) needing a new check do not fit (account uses 2 of 3 MAX_HEALTH_CHECKS_BY_OWNER); ask AWS to raise the quota";
    assert!(out.contains(&format!("Refused: {why}.")), "{out}");
    for app in ["new2", "new3"] {
        let line = out
            .lines()
            .find(|l| l.starts_with("! error") && l.contains(&format!("/{app} ")));
        assert!(line.is_some_and(|l| l.contains(why)), "{app}: {out}");
    }
    assert!(
        out.contains("this plan creates 1: 2 of 3 app(s) needing a new check do not fit."),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("+ health check") && l.contains("/new1 ")),
        "{out}"
    );
    assert!(
        !out.lines()
            .any(|l| l.starts_with('+') && (l.contains("/new2 ") || l.contains("/new3 "))),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("~ health check") && l.contains("/running ")),
        "{out}"
    );
    assert!(
        out.contains("Cost: 1 check(s) created (fast interval, $1.50 each): +$1.50 a month"),
        "{out}"
    );

    // The leader (a static agent) creates new1 whole, holds new2 and new3 with the
    // reason (its figures change once new1 exists: "2 of 2 ... uses 3 of 3"), and
    // still updates the running app.
    let agent = AgentProcess::start(&["--config".as_ref(), after.as_os_str()], &f.moto.env(), "warn");
    let held = |app: &'static str| {
        let agent = &agent;
        async move {
            let v = agent.app(app).await;
            v["route53"]["problems"]
                .as_array()
                .is_some_and(|p| p.iter().any(|m| m.as_str().is_some_and(|m| m.starts_with(HELD))))
                && v["route53"]["healthCheckId"].is_null()
        }
    };
    let synced = |app: &'static str| {
        let agent = &agent;
        async move {
            let v = agent.app(app).await;
            v["route53"]["healthCheckId"].is_string()
                && v["route53"]["problems"].as_array().is_some_and(|p| p.is_empty())
        }
    };
    let first = wait_until(Duration::from_secs(60), || async {
        synced("new1").await && held("new2").await && held("new3").await
    })
    .await;
    assert!(
        first.is_some(),
        "new1 synced, new2 and new3 held: {}",
        agent.app("new2").await
    );
    assert_eq!(record_names(&f).await, ["new1", "running"]);
    assert_eq!(f.checks().await.len(), 3);
    assert_eq!(
        threshold_of(&f, "running").await,
        Some(5),
        "the running app is still reconciled"
    );
    assert!(synced("running").await);
    let gauges = wait_until(Duration::from_secs(30), || async {
        agent.metric("failover_agent_route53_health_check_limit ").await == Some(3.0)
            && agent
                .metric("failover_agent_route53_health_checks{owner=\"account\"}")
                .await
                == Some(3.0)
    })
    .await;
    assert!(gauges.is_some(), "the quota gauges: 3 of 3");

    // AWS raises the quota: the held apps follow, whole.
    f.moto.cmd(json!({"cmd": "health_check_limit", "value": 10}));
    let rest = wait_until(Duration::from_secs(60), || async {
        synced("new2").await && synced("new3").await
    })
    .await;
    assert!(rest.is_some(), "new2 and new3 follow: {}", agent.app("new3").await);
    assert_eq!(record_names(&f).await, ["new1", "new2", "new3", "running"]);
    assert_eq!(f.checks().await.len(), 5);
    let ours = wait_until(Duration::from_secs(30), || async {
        agent.metric("failover_agent_route53_health_checks{owner=\"us\"}").await == Some(4.0)
    })
    .await;
    assert!(ours.is_some());
    assert_eq!(
        agent.metric("failover_agent_route53_health_check_limit ").await,
        Some(10.0)
    );
}

/// In-cluster: the leader holds the newest `AppHealth` objects whose checks do not
/// fit, with the reason in their `Route53Synced` condition, and creates them once
/// the quota is raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_the_newest_apps_that_do_not_fit_say_why_in_route53_synced() {
    use crate::cluster::{agent_with, Emulator};
    use crate::cluster_r53::{synced, wants};
    let mut moto = Moto::start();
    let alb = moto.cmd(json!({"cmd": "create_alb", "targets": ["10.0.1.10"], "zone": "example.com"}));
    let zone = alb["zone_id"].as_str().unwrap().to_owned();
    moto.cmd(json!({"cmd": "health_check_limit", "value": 2}));
    let emu = Emulator::start();
    // Oldest first (creation times have one-second resolution).
    for (i, name) in ["old1", "old2", "new1", "new2"].into_iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let record = format!("{name}.example.com");
        let path = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";
        emu.create(path, wants("team", name, None, &zone, &record, &alb)).await;
    }
    let settings = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        settings.path(),
        format!("probeTargets: {{ allowLoopback: true }}\naws: {{ reconcileIntervalSeconds: 10, dnsViewIntervalSeconds: 0 }}\nroute53Policy:\n  zones:\n    - {{ id: {zone}, names: [\"*.example.com\"], namespaces: [team] }}\n"),
    )
    .unwrap();
    let mut env = moto.env();
    env.push(("CLUSTER_ID", "prod-eu".into()));
    env.push(("PUBLIC_HOSTNAME", "health.eu-west-1.example.com".into()));
    env.push(("FAILOVER_AGENT_SETTINGS", settings.path().display().to_string()));
    let kc = emu.kubeconfig();
    let agent = agent_with(kc.path(), "node-a", &env);

    let state = |name: &'static str| {
        let emu = &emu;
        async move { synced(emu, "team", name).await }
    };
    let held = wait_until(Duration::from_secs(60), || async {
        state("old1").await.0 == "True"
            && state("old2").await.0 == "True"
            && state("new1").await.2.contains("health check quota: 2 of ")
            && state("new2").await.2.contains("health check quota: 2 of ")
    })
    .await;
    assert!(
        held.is_some(),
        "old1 and old2 synced, new1 and new2 held: {:?}",
        state("new1").await
    );
    let (st, reason, msg) = state("new2").await;
    assert_eq!((st.as_str(), reason.as_str()), ("False", "Error"), "{msg}");
    assert!(
        msg.contains("MAX_HEALTH_CHECKS_BY_OWNER); ask AWS to raise the quota"),
        "{msg}"
    );
    assert_eq!(
        moto.route53()
            .list_health_checks()
            .send()
            .await
            .unwrap()
            .health_checks()
            .len(),
        2
    );
    let gauge = wait_until(Duration::from_secs(30), || async {
        agent.metric("failover_agent_route53_health_check_limit ").await == Some(2.0)
    })
    .await;
    assert!(gauge.is_some(), "the leader exports the quota");

    moto.cmd(json!({"cmd": "health_check_limit", "value": 200}));
    let all = wait_until(Duration::from_secs(60), || async {
        state("new1").await.0 == "True" && state("new2").await.0 == "True"
    })
    .await;
    assert!(all.is_some(), "new1 and new2 follow: {:?}", state("new2").await);
}
