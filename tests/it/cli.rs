//! The real binary: config checking, exit codes, flags over config, and SIGTERM.

use crate::support::{get, require_tool, wait_until};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_failover-agent");

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn check_config_accepts_the_example_and_exits_64_naming_the_field() {
    let ok = Command::new(BIN)
        .args(["check-config", "deploy/examples/static.yaml"])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("OK"));

    let bad = write_config("region: r\napps:\n  - name: a\n    endpoints: [\"http://127.0.0.1:1/\"]\n    probe: { intervalSeconds: 1, timeoutSeconds: 3 }\n");
    let out = Command::new(BIN).arg("check-config").arg(bad.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("apps[0].probe.timeoutSeconds") && err.contains("at most intervalSeconds"),
        "{err}"
    );

    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(bad.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "run refuses bad config with 64");
    let out = Command::new(BIN)
        .args(["run", "--config", "/nonexistent.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let out = Command::new(BIN)
        .args(["run", "--health-listen", "not-an-address"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "bad flags are usage errors too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_honours_listen_flags_over_config_and_stops_on_sigterm() {
    let (h, a) = (free_port(), free_port());
    let cfg = write_config("region: r\nhealthListen: 127.0.0.1:1\nadminListen: 127.0.0.1:2\napps:\n  - name: app1\n    endpoints: [\"tcp://127.0.0.1:9\"]\n");
    let mut child = Command::new(BIN)
        .args(["--log-format", "json", "run", "--config"])
        .arg(cfg.path())
        .args([
            "--health-listen",
            &format!("127.0.0.1:{h}"),
            "--admin-listen",
            &format!("127.0.0.1:{a}"),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let health = format!("127.0.0.1:{h}").parse().unwrap();
    let admin = format!("127.0.0.1:{a}").parse().unwrap();
    let up = wait_until(Duration::from_secs(10), || async move {
        tokio::net::TcpStream::connect(health).await.is_ok()
    })
    .await;
    assert!(up.is_some(), "agent did not listen on the --health-listen port");
    assert_eq!(get(health, "/health/app1").await.0, 200);
    assert_eq!(get(admin, "/readyz").await.0, 200);

    Command::new(require_tool("kill"))
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let s = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        (s, err)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "SIGTERM must be a clean exit: {status:?}");
    let log = status.1;
    assert!(
        log.lines().all(|l| l.starts_with('{')),
        "--log-format json logs JSON lines:\n{log}"
    );
    assert!(
        log.contains("shutting down gracefully") && log.contains("agent stopped"),
        "{log}"
    );
}
