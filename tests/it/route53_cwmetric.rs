//! `route53.healthCheck.type: CLOUDWATCH_METRIC` against moto and the launcher's
//! alarm clock (tests/aws/cloudwatch_alarms.py): the agent publishes the app's
//! verdict, its alarm follows, the check follows the alarm, and the failover
//! record's answer moves; `plan` shows the alarm and the check, and GC collects both.

use crate::dns_view::{answered, until};
use crate::route53::{fixture, Fixture};
use crate::support::AgentProcess;
use failover_agent::cli::demo::pod::{Mode, Pod};
use serde_json::{json, Value};
use std::time::Duration;

/// A static agent config of `region` owning app1's failover record with `role`,
/// probed at `endpoint`, with the route53 `healthCheck` block `check` (YAML).
fn config(f: &Fixture, region: &str, role: &str, endpoint: &str, check: &str) -> String {
    format!(
        r#"region: {region}
clusterId: prod-{region}
publicHostname: health.{region}.example.com
aws: {{ dnsViewIntervalSeconds: 1, checkStatusIntervalSeconds: 5, reconcileIntervalSeconds: 10 }}
apps:
  - name: app1
    endpoints: ["{endpoint}"]
    probe: {{ intervalSeconds: 0.2, timeoutSeconds: 0.1 }}
    policy: {{ riseCount: 1, fallCount: 1 }}
    route53:
      hostedZoneId: {zone}
      recordName: app1.example.com
      routing: {{ failover: {{ role: {role} }} }}
      aliasTarget: {{ dnsName: {dns}, hostedZoneId: {alb_zone} }}
      healthCheck: {check}
"#,
        zone = f.zone,
        dns = f.alb_dns,
        alb_zone = f.alb_zone,
    )
}

fn agent(f: &Fixture, region: &str, yaml: &str) -> AgentProcess {
    let path = f.dir.path().join(format!("{region}.yaml"));
    std::fs::write(&path, yaml).unwrap();
    AgentProcess::start(&["--config".as_ref(), path.as_os_str()], &f.moto.env(), "warn")
}

/// The launcher's alarm states, `region/name` -> state.
fn alarms(f: &mut Fixture) -> serde_json::Map<String, Value> {
    f.moto
        .cmd(json!({"cmd": "alarms"}))
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// Waits until the launcher says alarm `key` is in state `want`.
async fn alarm_state(f: &mut Fixture, key: &str, want: &str) {
    for _ in 0..900 {
        if alarms(f).get(key).and_then(Value::as_str) == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("alarm {key} never became {want}: {:?}", alarms(f));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unhealthy_app_fires_its_alarm_flips_its_check_and_moves_the_answer_and_back() {
    let mut f = fixture();
    let pod = Pod::start("127.0.0.1".parse().unwrap()).await.unwrap();
    let metric = "{ type: CLOUDWATCH_METRIC, evaluationPeriods: 2 }";
    let west = agent(&f, "eu-west-1", &config(&f, "eu-west-1", "PRIMARY", &pod.url(), metric));
    let central = agent(
        &f,
        "eu-central-1",
        &config(&f, "eu-central-1", "SECONDARY", "http://127.0.0.1:1/", "{}"),
    );
    until(
        "both records are in the view and healthy as Route 53 sees them",
        async || {
            let v = west.app("app1").await;
            v["dns"]["regions"]
                .as_array()
                .is_some_and(|r| r.len() == 2 && r.iter().all(|r| r["route53"] == "healthy"))
        },
    )
    .await;
    until("answers go to the primary", async || {
        answered(&west).await.as_deref() == Some("eu-west-1")
    })
    .await;
    // The primary's check is a CLOUDWATCH_METRIC check on the agent's alarm, in its Region.
    let checks = f.checks().await;
    let metric_checks: Vec<_> = checks
        .iter()
        .filter_map(|c| c.health_check_config())
        .filter(|c| c.r#type().as_str() == "CLOUDWATCH_METRIC")
        .collect();
    assert_eq!(metric_checks.len(), 1, "{checks:?}");
    let alarm = metric_checks[0].alarm_identifier().expect("an AlarmIdentifier");
    assert_eq!(alarm.region().as_str(), "eu-west-1");
    assert!(alarm.name().starts_with("failover-agent-"), "{}", alarm.name());
    assert_eq!(
        metric_checks[0].insufficient_data_health_status().map(|s| s.as_str()),
        Some("LastKnownStatus")
    );
    let key = format!("eu-west-1/{}", alarm.name());
    alarm_state(&mut f, &key, "OK").await;

    // The app turns unhealthy: its metric follows, the alarm fires, the check flips,
    // and both Regions see the answer move to the secondary.
    pod.set_mode(Mode::Failing);
    alarm_state(&mut f, &key, "ALARM").await;
    for a in [&west, &central] {
        until("answers go to eu-central-1", async || {
            answered(a).await.as_deref() == Some("eu-central-1")
        })
        .await;
    }
    assert!(f.moto.count("PutMetricData") > 0);

    // And back.
    pod.set_mode(Mode::Healthy);
    alarm_state(&mut f, &key, "OK").await;
    for a in [&west, &central] {
        until("answers go back to eu-west-1", async || {
            answered(a).await.as_deref() == Some("eu-west-1")
        })
        .await;
    }
}

/// Runs `route53 <verb>` with `yaml` as the config.
fn cli(f: &Fixture, verb: &str, yaml: &str) -> (i32, String) {
    let path = f.dir.path().join("cli.yaml");
    std::fs::write(&path, yaml).unwrap();
    f.cli(verb, &path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_the_alarm_and_the_check_apply_converges_and_gc_collects_both() {
    let mut f = fixture();
    let http = config(&f, "eu-west-1", "PRIMARY", "http://127.0.0.1:1/", "{}");
    let (code, out) = cli(&f, "apply", &http);
    assert_eq!(code, 0, "{out}");
    let metric = config(
        &f,
        "eu-west-1",
        "PRIMARY",
        "http://127.0.0.1:1/",
        "{ type: CLOUDWATCH_METRIC, insufficientDataHealthStatus: Healthy }",
    );
    // HTTP -> CLOUDWATCH_METRIC: a new check on a new alarm, the record re-pointed, the old check deleted.
    let (code, out) = cli(&f, "plan", &metric);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("+ alarm         static/app1"), "{out}");
    assert!(
        out.contains("on FailoverAgent/AppHealthy {Cluster=prod-eu-west-1, App=static/app1} < 1 for 2 x 60s"),
        "{out}"
    );
    assert!(
        out.contains("+ health check  static/app1          CLOUDWATCH_METRIC on alarm failover-agent-"),
        "{out}"
    );
    assert!(out.contains("insufficient data: Healthy"), "{out}");
    assert!(out.contains("~ record"), "{out}");
    assert!(out.contains("- health check"), "{out}");
    assert!(out.contains("Plan: 2 to create, 1 to change, 1 to delete"), "{out}");
    let (code, out) = cli(&f, "apply", &metric);
    assert_eq!(code, 0, "{out}");
    assert_eq!(alarms(&mut f).len(), 1);
    let checks = f.checks().await;
    assert_eq!(checks.len(), 1);
    let check_id = checks[0].id().to_owned();
    let records = f.records().await;
    assert_eq!(records[0].health_check_id(), Some(check_id.as_str()));
    let (_, out) = cli(&f, "plan", &metric);
    assert!(out.contains("Plan: 0 to create, 0 to change, 0 to delete"), "{out}");

    // The app is gone: its record, its check and its alarm go, in that order.
    let gone = "region: eu-west-1\nclusterId: prod-eu-west-1\npublicHostname: health.eu-west-1.example.com\napps:\n  - name: other\n    endpoints: [\"http://127.0.0.1:1/\"]\n";
    let (code, out) = cli(&f, "apply", gone);
    assert_eq!(code, 0, "{out}");
    let deletes: Vec<&str> = out.lines().filter(|l| l.starts_with('-')).collect();
    assert_eq!(deletes.len(), 3, "{out}");
    assert!(
        deletes[0].starts_with("- record") && deletes[1].starts_with("- health check"),
        "{out}"
    );
    assert!(deletes[2].starts_with("- alarm"), "{out}");
    assert!(alarms(&mut f).is_empty());
    assert!(f.checks().await.is_empty());
    assert!(f.records().await.is_empty());
}

#[test]
fn http_keys_with_a_metric_check_exit_64_naming_the_key() {
    let f = fixture();
    let bad = config(
        &f,
        "eu-west-1",
        "PRIMARY",
        "http://127.0.0.1:1/",
        "{ type: CLOUDWATCH_METRIC, searchString: ok }",
    );
    let (code, out) = cli(&f, "plan", &bad);
    assert_eq!(code, 64, "{out}");
    assert!(
        out.contains("apps[0].route53.healthCheck.searchString: a CLOUDWATCH_METRIC check calls no endpoint"),
        "{out}"
    );
}

/// Route 53's checkers that report success for check `id`.
async fn succeeding(f: &Fixture, id: &str) -> usize {
    let out = f
        .moto
        .route53()
        .get_health_check_status()
        .health_check_id(id)
        .send()
        .await
        .unwrap();
    out.health_check_observations()
        .iter()
        .filter(|o| {
            o.status_report()
                .and_then(|r| r.status())
                .is_some_and(|s| s.starts_with("Success"))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_agent_leaves_the_check_at_its_last_known_status() {
    let mut f = fixture();
    let pod = Pod::start("127.0.0.1".parse().unwrap()).await.unwrap();
    pod.set_mode(Mode::Failing);
    let metric = "{ type: CLOUDWATCH_METRIC, evaluationPeriods: 1 }";
    let west = agent(&f, "eu-west-1", &config(&f, "eu-west-1", "PRIMARY", &pod.url(), metric));
    until("the check exists", async || !f.checks().await.is_empty()).await;
    let id = f.checks().await[0].id().to_owned();
    let key = alarms(&mut f).keys().next().cloned().expect("an alarm");
    alarm_state(&mut f, &key, "ALARM").await;
    until("the check is unhealthy", async || succeeding(&f, &id).await == 0).await;
    // The agent stops publishing: its metric goes stale, the alarm has too little
    // data, and the check keeps its last known status (LastKnownStatus, the default).
    f.moto.cmd(json!({"cmd": "alarms", "stale": 2}));
    drop(west);
    alarm_state(&mut f, &key, "INSUFFICIENT_DATA").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(succeeding(&f, &id).await, 0, "the check stays unhealthy, as last known");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_cluster_the_leader_publishes_the_folded_verdict_and_collects_the_alarm_with_the_apphealth() {
    use crate::cluster::{agent_with, app_health, slice, Emulator};
    let mut f = fixture();
    let emu = Emulator::start();
    let pod = Pod::start_at("127.0.0.2:0".parse().unwrap()).await.unwrap();
    let ah = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";
    let mut o = app_health("team", "app1", None, &["app1"], 1);
    o["spec"]["route53"] = json!({
        "hostedZoneId": f.zone, "recordName": "app1.example.com", "routing": { "failover": { "role": "PRIMARY" } },
        "aliasTarget": { "dnsName": f.alb_dns, "hostedZoneId": f.alb_zone },
        "healthCheck": { "type": "CLOUDWATCH_METRIC", "evaluationPeriods": 1 },
    });
    emu.create(ah, o).await;
    let eps = [("127.0.0.2", "node-a", true)];
    emu.create(
        "/apis/discovery.k8s.io/v1/namespaces/team/endpointslices",
        slice("team", "app1-x", "app1", pod.addr.port(), &eps),
    )
    .await;
    let settings = f.dir.path().join("settings.yaml");
    let policy = format!(
        "route53Policy:\n  zones:\n    - {{ id: {}, names: [\"*.example.com\"], namespaces: [team] }}\n",
        f.zone
    );
    std::fs::write(
        &settings,
        format!("probeTargets: {{ allowLoopback: true }}\naws: {{ reconcileIntervalSeconds: 10 }}\n{policy}"),
    )
    .unwrap();
    let mut env = f.moto.env();
    env.push(("CLUSTER_ID", "prod-eu".into()));
    env.push(("PUBLIC_HOSTNAME", "health.eu-west-1.example.com".into()));
    env.push(("FAILOVER_AGENT_SETTINGS", settings.display().to_string()));
    let kc = emu.kubeconfig();
    let _agent = agent_with(kc.path(), "node-a", &env);

    // The alarm is the app's (namespace/name in its App dimension, hence in its name).
    let mut key = String::new();
    for _ in 0..600 {
        if let Some(k) = alarms(&mut f).keys().find(|k| k.ends_with("-team-app1")) {
            key = k.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        key.starts_with("eu-west-1/failover-agent-"),
        "no alarm for team/app1: {:?}",
        alarms(&mut f)
    );
    alarm_state(&mut f, &key, "OK").await;
    pod.set_mode(Mode::Failing);
    alarm_state(&mut f, &key, "ALARM").await;
    pod.set_mode(Mode::Healthy);
    alarm_state(&mut f, &key, "OK").await;

    // Deleting the AppHealth lets its record, check and alarm go.
    emu.send("DELETE", &format!("{ah}/app1"), "application/json", &Value::Null)
        .await;
    for _ in 0..900 {
        if alarms(&mut f).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(alarms(&mut f).is_empty(), "the alarm is collected with its AppHealth");
    assert!(f.checks().await.is_empty());
}
