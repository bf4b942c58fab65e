//! Every Region's view and the DNS answer, against moto: two static agents, one per
//! Region, own the PRIMARY and SECONDARY records of app1; each reads the other's
//! check through Route 53's CloudWatch metric and serves where answers go.

use crate::route53::{fixture, Fixture};
use crate::support::{wait_until, AgentProcess};
use failover_agent::aws::{Budget, Caller};
use failover_agent::publish::route53::metric_status;
use failover_agent::telemetry::Metrics;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The config of a static agent of `region` that reads Route 53 fast (`listen`: its
/// listener keys, if any) and owns app1's failover record with `role`, app1 probed
/// at `endpoint` with `probe` (YAML, `{}` for the defaults).
pub(crate) fn two_region_config(
    f: &Fixture,
    region: &str,
    listen: &str,
    role: &str,
    endpoint: &str,
    probe: &str,
) -> String {
    format!(
        r#"region: {region}
clusterId: prod-{region}
publicHostname: health.{region}.example.com
{listen}aws: {{ dnsViewIntervalSeconds: 1, checkStatusIntervalSeconds: 5, reconcileIntervalSeconds: 10 }}
apps:
  - name: app1
    endpoints: ["{endpoint}"]
    probe: {probe}
    route53:
      hostedZoneId: {zone}
      recordName: app1.example.com
      routing: {{ failover: {{ role: {role} }} }}
      aliasTarget: {{ dnsName: {dns}, hostedZoneId: {alb_zone} }}
"#,
        zone = f.zone,
        dns = f.alb_dns,
        alb_zone = f.alb_zone,
    )
}

/// A static agent of `region` owning app1's failover record with `role`.
fn agent(f: &Fixture, region: &str, role: &str) -> AgentProcess {
    let y = two_region_config(f, region, "", role, "http://127.0.0.1:1/", "{}");
    let path = f.dir.path().join(format!("{region}.yaml"));
    std::fs::write(&path, y).unwrap();
    AgentProcess::start(&["--config".as_ref(), path.as_os_str()], &f.moto.env(), "warn")
}

/// Where `agent` says app1's answers all go, if to one record.
pub(crate) async fn answered(agent: &AgentProcess) -> Option<String> {
    let dns = &agent.app("app1").await["dns"];
    let shares = dns["shares"].as_object()?;
    shares
        .iter()
        .find(|(_, s)| s.as_f64() == Some(1.0))
        .map(|(id, _)| id.clone())
}

/// Waits (up to 90 s) until `f` holds, else fails naming `what`.
pub(crate) async fn until(what: &str, f: impl AsyncFn() -> bool) {
    assert!(
        wait_until(Duration::from_secs(90), || f()).await.is_some(),
        "timed out waiting until {what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_region_sees_both_records_and_where_failover_answers_go() {
    let mut f = fixture();
    let west = agent(&f, "eu-west-1", "PRIMARY");
    let central = agent(&f, "eu-central-1", "SECONDARY");
    // Each agent sees both records once its reconcile has read the other's.
    for a in [&west, &central] {
        until("both records are in the view", async || {
            a.app("app1").await["dns"]["regions"].as_array().map(Vec::len) == Some(2)
        })
        .await;
    }
    let view = west.app("app1").await;
    let regions = view["dns"]["regions"].as_array().unwrap().clone();
    let row = |id: &str| regions.iter().find(|r| r["setIdentifier"] == id).unwrap().clone();
    assert_eq!(row("eu-west-1")["policy"], "failover PRIMARY");
    assert_eq!(row("eu-west-1")["here"], true);
    assert_eq!(row("eu-central-1")["policy"], "failover SECONDARY");
    assert_eq!(row("eu-central-1")["here"], false);
    until("both checks are healthy as Route 53 sees them", async || {
        let v = west.app("app1").await;
        v["dns"]["regions"]
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["route53"] == "healthy"))
    })
    .await;
    assert_eq!(answered(&west).await.as_deref(), Some("eu-west-1"));
    assert_eq!(answered(&central).await.as_deref(), Some("eu-west-1"));

    // Route 53's checkers fail the primary: both Regions see answers move to the secondary.
    let primary_check = row("eu-west-1")["healthCheckId"].as_str().unwrap().to_owned();
    let secondary_check = row("eu-central-1")["healthCheckId"].as_str().unwrap().to_owned();
    f.moto
        .cmd(json!({"cmd": "check_status", "id": primary_check, "status": "Failure"}));
    for a in [&west, &central] {
        until("answers go to eu-central-1", async || {
            answered(a).await.as_deref() == Some("eu-central-1")
        })
        .await;
    }
    let dns = central.app("app1").await["dns"].clone();
    assert_eq!(
        dns["answer"],
        "-> eu-central-1 (primary eu-west-1 unhealthy, secondary eu-central-1 healthy)"
    );
    assert!(dns["since"].is_string(), "{dns}");
    println!("{}", serde_json::to_string_pretty(&dns).unwrap());
    let share =
        |id: &str| format!("failover_agent_dns_share{{app=\"app1\",namespace=\"static\",set_identifier=\"{id}\"}}");
    assert_eq!(central.metric(&share("eu-central-1")).await, Some(1.0));
    assert_eq!(central.metric(&share("eu-west-1")).await, Some(0.0));

    // Both unhealthy: Route 53 answers the primary.
    f.moto
        .cmd(json!({"cmd": "check_status", "id": secondary_check, "status": "Failure"}));
    until("answers go back to the primary", async || {
        answered(&central).await.as_deref() == Some("eu-west-1")
    })
    .await;
    let answer = central.app("app1").await["dns"]["answer"].clone();
    assert!(
        answer
            .as_str()
            .is_some_and(|a| a.contains("primary and secondary unhealthy")),
        "{answer}"
    );
    // The reads are CloudWatch's, never the per-check API for the other Region's check.
    assert!(f.moto.count("GetMetricData") > 0);
}

/// Reads the statuses of `n` checks made in moto; returns the calls and the time it took.
async fn read_many(f: &mut Fixture, n: usize) -> (u64, Duration, Vec<Option<bool>>) {
    let r53 = f.moto.route53();
    let mut ids = BTreeSet::new();
    for i in 0..n {
        let hc = r53
            .create_health_check()
            .caller_reference(format!("bulk-{i}"))
            .health_check_config(
                aws_sdk_route53::types::HealthCheckConfig::builder()
                    .r#type(aws_sdk_route53::types::HealthCheckType::Http)
                    .fully_qualified_domain_name(format!("h{i}.example.com"))
                    .port(80)
                    .resource_path("/")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        ids.insert(hc.health_check().unwrap().id().to_owned());
    }
    let failing = ids.iter().next().unwrap().clone();
    f.moto
        .cmd(json!({"cmd": "check_status", "id": failing, "status": "Failure"}));
    f.moto.cmd(json!({"cmd": "stats_reset"}));
    failover_agent::tls::install_crypto_provider();
    let cw = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::Config::builder()
            .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudwatch::config::Region::new("us-east-1"))
            .endpoint_url(&f.moto.url)
            .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .build(),
    );
    let caller = Caller::new(Budget::default(), Metrics::new("eu-west-1").unwrap().aws);
    let t = Instant::now();
    let statuses = metric_status::read(&cw, &caller, &ids).await.unwrap();
    let took = t.elapsed();
    let calls = f.moto.count("GetMetricData");
    (calls, took, statuses.into_values().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_get_metric_data_call_reads_500_checks() {
    let mut f = fixture();
    // 200 apps × 3 Regions: the checks of every record of every set.
    let (calls, took, statuses) = read_many(&mut f, 600).await;
    println!("600 checks' statuses: {calls} GetMetricData calls in {took:?}");
    assert_eq!(calls, 2, "600 checks, 500 per call");
    assert_eq!(statuses.len(), 600);
    assert_eq!(statuses.iter().filter(|s| **s == Some(false)).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == Some(true)).count(), 599);
}
