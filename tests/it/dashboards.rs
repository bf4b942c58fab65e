//! Every dashboard and alert expression parses (promtool), names only metrics a
//! running agent really exports, and every alert fires when it should and not
//! otherwise (promtool's rule unit tests).

use crate::moto::Moto;
use crate::support::{get, require_tool, wait_until, AgentProcess};
use serde_json::json;
use std::process::Command;
use std::time::Duration;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the checker runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_and_alerts_parse_use_only_exported_metrics_and_fire_when_they_should() {
    let promtool = require_tool("promtool");
    // An agent whose every family has samples: probes, verdicts, ALB targets, Route 53.
    let mut moto = Moto::start();
    let alb = moto.cmd(json!({"cmd": "create_alb", "targets": ["10.0.1.10"], "zone": "example.com"}));
    let pod = failover_agent::cli::demo::pod::Pod::start("127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.yaml");
    std::fs::write(
        &cfg,
        format!(
            "region: eu-west-1\nclusterId: prod-eu\npublicHostname: health.eu-west-1.example.com\naws: {{ targetHealthIntervalSeconds: 1, checkStatusIntervalSeconds: 5 }}\napps:\n  - name: app1\n    endpoints: [\"{}\"]\n    probe: {{ intervalSeconds: 0.2, timeoutSeconds: 0.1 }}\n    targetGroupArns: [\"{}\"]\n    route53: {{ hostedZoneId: {}, recordName: app1.example.com, routing: {{ latency: {{}} }}, aliasTarget: {{ dnsName: {}, hostedZoneId: {} }} }}\n",
            pod.url(),
            alb["tg_arn"].as_str().unwrap(),
            alb["zone_id"].as_str().unwrap(),
            alb["alb_dns"].as_str().unwrap(),
            alb["alb_zone_id"].as_str().unwrap()
        ),
    )
    .unwrap();
    let agent = AgentProcess::start(&["--config".as_ref(), cfg.as_os_str()], &moto.env(), "error");
    let (health, admin) = (agent.health, agent.admin);
    let complete = wait_until(Duration::from_secs(30), || async {
        let _ = get(health, "/health/app1").await;
        let m = get(admin, "/metrics").await.1;
        // probes_total's counters appear with their first outcome.
        m.contains("failover_agent_route53_healthy{")
            && m.contains("failover_agent_app_targets{")
            && m.contains("failover_agent_probes_total{")
            && m.contains("failover_agent_dns_share{")
            && m.contains("failover_agent_route53_health_check_limit ")
    })
    .await;
    let metrics = get(admin, "/metrics").await.1;
    drop(agent);
    assert!(
        complete.is_some(),
        "the agent never exported the AWS families:\n{metrics}"
    );
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, metrics).unwrap();

    let text = run(Command::new(require_tool("python3"))
        .args([
            "dashboards/check.py",
            "--rules",
            "deploy/prometheus/alerts.yaml",
            "--metrics",
        ])
        .arg(&file)
        .arg("--promtool")
        .arg(&promtool));
    assert!(
        text.contains("dashboards: 2 files") && text.contains("all parse, all metrics exported"),
        "{text}"
    );
    let text = run(Command::new(&promtool).args(["test", "rules", "deploy/prometheus/alerts_test.yaml"]));
    assert!(text.contains("SUCCESS"), "{text}");
}
