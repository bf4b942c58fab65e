//! Every dashboard expression parses (promtool) and names only metrics a running
//! agent really exports.

use crate::support::{pod_and_agent, request};
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboards_parse_and_use_only_exported_metrics() {
    // Every family gets samples: probes, verdicts, answers, connections.
    let (_pod, a) = pod_and_agent(&["app1"], "{ riseCount: 1 }").await;
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
