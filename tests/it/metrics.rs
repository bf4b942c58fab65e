//! `/metrics`: the contract's families are there, and promtool accepts the output.

use crate::support::{config, request, require_tool, wait_until, TestAgent};
use failover_agent::cli::demo::pod::Pod;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_the_contract_and_pass_promtool() {
    let pod = Pod::start("127.0.0.1".parse().unwrap()).await.unwrap();
    let a = TestAgent::start(&config(
        &[("app1", vec![pod.url()]), ("app2", vec!["tcp://127.0.0.1:9".into()])],
        "{ intervalSeconds: 0.2, timeoutSeconds: 0.1 }",
        "{ riseCount: 1, fallCount: 1 }",
    ))
    .await;
    a.health("nope").await;
    let wants = [
        "failover_agent_app_healthy{app=\"app1\",namespace=\"static\"} 1",
        "failover_agent_app_healthy{app=\"app2\",namespace=\"static\"} 0",
        "failover_agent_app_transitions_total{app=\"app2\",namespace=\"static\",to=\"unhealthy\"} 1",
        "failover_agent_probe_duration_seconds_bucket{app=\"app1\",namespace=\"static\",le=\"0.01\"}",
        "failover_agent_probes_total{app=\"app2\",namespace=\"static\",outcome=\"connect_error\"}",
        "failover_agent_app_endpoints{app=\"app1\",namespace=\"static\",state=\"up\"} 1",
        "failover_agent_health_requests_total{answer=\"unknown_app\"} 1",
        "failover_agent_build_info{region=\"test-1\"",
    ];
    let all_there = |t: &str| wants.iter().all(|w| t.contains(w));
    wait_until(Duration::from_secs(5), || async {
        all_there(&request(a.admin, "GET", "/metrics").await.1)
    })
    .await;
    let (code, text) = request(a.admin, "GET", "/metrics").await;
    assert_eq!(code, 200);
    for want in wants {
        assert!(text.contains(want), "missing {want}\n{text}");
    }
    assert!(!text.contains("127.0.0.1"), "no per-address labels");

    let mut child = Command::new(require_tool("promtool"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
