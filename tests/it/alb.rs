//! A running static agent against moto: the ALB signal turns an app 503, an AWS
//! outage or throttling never flips a verdict, and Route 53's own view is exported.

use crate::moto::Moto;
use crate::support::{get, wait_until, AgentProcess};
use serde_json::json;
use std::time::Duration;

struct Agent(AgentProcess);

impl std::ops::Deref for Agent {
    type Target = AgentProcess;
    fn deref(&self) -> &AgentProcess {
        &self.0
    }
}

impl Agent {
    async fn code(&self, app: &str) -> (u16, String) {
        get(self.health, &format!("/health/{app}")).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alb_targets_turn_the_app_503_and_aws_trouble_never_flips_it() {
    let mut moto = Moto::start();
    let alb = moto.cmd(json!({"cmd": "create_alb", "targets": ["10.0.1.10", "10.0.1.11"], "zone": "example.com"}));
    let tg = alb["tg_arn"].as_str().unwrap().to_owned();
    let pod = failover_agent::cli::demo::pod::Pod::start("127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"region: eu-west-1
clusterId: prod-eu
publicHostname: health.eu-west-1.example.com
aws: {{ targetHealthIntervalSeconds: 1, checkStatusIntervalSeconds: 5 }}
apps:
  - name: app1
    endpoints: ["{url}"]
    probe: {{ intervalSeconds: 0.2, timeoutSeconds: 0.1 }}
    targetGroupArns: ["{tg}"]
    route53:
      hostedZoneId: {zone}
      recordName: app1.example.com
      routing: {{ failover: {{ role: PRIMARY }} }}
      aliasTarget: {{ dnsName: {dns}, hostedZoneId: {alb_zone} }}
  - name: app2
    endpoints: ["{url}"]
    probe: {{ intervalSeconds: 0.2, timeoutSeconds: 0.1 }}
"#,
            url = pod.url(),
            zone = alb["zone_id"].as_str().unwrap(),
            dns = alb["alb_dns"].as_str().unwrap(),
            alb_zone = alb["alb_zone_id"].as_str().unwrap(),
        ),
    )
    .unwrap();
    let agent = Agent(AgentProcess::start(
        &["--config".as_ref(), cfg.as_os_str()],
        &moto.env(),
        "warn",
    ));
    let long = Duration::from_secs(15);
    let both_ok = || async { agent.code("app1").await.0 == 200 && agent.code("app2").await.0 == 200 };
    assert!(wait_until(long, both_ok).await.is_some(), "both apps healthy at start");
    assert!(
        wait_until(long, || async { agent.app("app1").await["targets"]["total"] == 2 })
            .await
            .is_some()
    );

    // The ALB sees no healthy target although the pod passes its probes.
    moto.cmd(
        json!({"cmd": "target_health", "arn": tg, "targets": {"10.0.1.10": "unhealthy", "10.0.1.11": "unhealthy"}}),
    );
    assert!(
        wait_until(long, || async { agent.code("app1").await.0 == 503 })
            .await
            .is_some(),
        "app1 fails over on the ALB's view"
    );
    let (_, body) = agent.code("app1").await;
    assert!(
        body.contains("endpoints healthy but ALB healthy targets 0/2, need 1"),
        "{body}"
    );
    assert_eq!(agent.code("app2").await.0, 200, "app2 has no ALB signal and stays up");
    let (_, page) = get(agent.admin, "/").await;
    assert!(
        page.contains("<th>ALB targets healthy/total</th>") && page.contains("<td>0/2</td>"),
        "status page shows the ALB view"
    );
    assert_eq!(
        agent
            .metric("failover_agent_app_targets{app=\"app1\",namespace=\"static\",state=\"healthy\"}")
            .await,
        Some(0.0)
    );
    moto.cmd(json!({"cmd": "target_health", "arn": tg, "targets": {}}));
    assert!(
        wait_until(long, || async { agent.code("app1").await.0 == 200 })
            .await
            .is_some(),
        "app1 recovers"
    );

    // Throttling: counted, retried, and the verdict holds.
    moto.cmd(json!({"cmd": "throttle", "action": "DescribeTargetHealth", "count": 3}));
    let throttles = "failover_agent_aws_throttles_total{api=\"DescribeTargetHealth\"}";
    assert!(
        wait_until(long, || async { agent.metric(throttles).await >= Some(3.0) })
            .await
            .is_some()
    );
    assert_eq!(agent.code("app1").await.0, 200);

    // An AWS outage: the ALB signal goes stale, the verdict is kept, even when the
    // (invisible) targets go bad meanwhile.
    moto.cmd(json!({"cmd": "outage", "on": true}));
    moto.cmd(
        json!({"cmd": "target_health", "arn": tg, "targets": {"10.0.1.10": "unhealthy", "10.0.1.11": "unhealthy"}}),
    );
    let stale = "failover_agent_source_stale{source=\"aws_elbv2\"}";
    assert!(
        wait_until(long, || async { agent.metric(stale).await == Some(1.0) })
            .await
            .is_some(),
        "ALB data marked stale"
    );
    assert_eq!(agent.app("app1").await["targets"]["stale"], true);
    for _ in 0..10 {
        assert_eq!(agent.code("app1").await.0, 200, "an outage never flips the verdict");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        agent
            .metric("failover_agent_aws_errors_total{api=\"DescribeTargetHealth\"}")
            .await
            >= Some(1.0)
    );
    // AWS is back: the real state shows.
    moto.cmd(json!({"cmd": "outage", "on": false}));
    assert!(wait_until(long, || async { agent.code("app1").await.0 == 503 })
        .await
        .is_some());
    assert!(wait_until(long, || async { agent.metric(stale).await == Some(0.0) })
        .await
        .is_some());

    // Route 53's own view of app1's check, next to the agent's.
    let id = wait_until(long, || async {
        agent.app("app1").await["route53"]["healthCheckId"].is_string()
    })
    .await;
    assert!(
        id.is_some(),
        "the running agent made app1's check: {}",
        agent.app("app1").await
    );
    let hc = agent.app("app1").await["route53"]["healthCheckId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r53 = "failover_agent_route53_healthy{app=\"app1\",namespace=\"static\"}";
    assert!(wait_until(long, || async { agent.metric(r53).await == Some(1.0) })
        .await
        .is_some());
    moto.cmd(json!({"cmd": "check_status", "id": hc, "status": "Failure"}));
    assert!(
        wait_until(Duration::from_secs(20), || async {
            agent.metric(r53).await == Some(0.0)
        })
        .await
        .is_some(),
        "Route 53 says unhealthy"
    );
    assert_eq!(agent.app("app1").await["route53"]["route53Healthy"], false);
}
