//! Every dashboard expression parses (promtool) and names only metrics a running
//! agent really exports.

use crate::support::{config, request, wait_until, TestAgent};
use failover_agent::demo::pod::Pod;
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_parse_and_use_only_exported_metrics() {
    let pod = Pod::start("127.0.0.1".parse().unwrap()).await.unwrap();
    let a = TestAgent::start(&config(
        &[("app1", vec![pod.url()])],
        "{ intervalSeconds: 0.2, timeoutSeconds: 0.1 }",
        "{ riseCount: 1 }",
    ))
    .await;
    // Give every family at least one sample (histogram, outcomes, answers, connections).
    assert!(wait_until(Duration::from_secs(5), || async {
        a.health("app1").await.0 == 200
    })
    .await
    .is_some());
    let metrics = request(a.admin, "GET", "/metrics").await.1;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), metrics).unwrap();
    let out = Command::new("python3")
        .args(["dashboards/check.py", "--metrics"])
        .arg(file.path())
        .output()
        .expect("python3 runs dashboards/check.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "dashboard check failed:\n{text}");
    assert!(text.contains("all parse, all metrics exported"), "{text}");
}
