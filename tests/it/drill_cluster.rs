//! `failover-agent drill --cluster` against kmock's Kubernetes emulator: it patches
//! the AppHealth's `spec.override` and puts back exactly what was there.
//!
//! The stand-in here is the cluster's leader (and Route 53 behind it): the test
//! writes `AppHealth.status` as a leader would, from `spec.override`, with a
//! failover set of eu-west-1 (here, PRIMARY) and eu-central-1. The real leader's
//! status writing is tested elsewhere (tests/it/cluster_r53.rs); this is the drill's
//! Kubernetes path: the read, the merge patches, the restore and the report.

use crate::cluster::{app_health, Emulator};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const APPS: &str = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";

/// The status a leader writes for app1 when its override is `mode`.
fn status(mode: Option<&str>) -> Value {
    let failed = mode == Some("fail");
    let west = if failed { "unhealthy" } else { "healthy" };
    let region = |id: &str, role: &str, health: &str, here: bool| {
        json!({ "setIdentifier": id, "policy": format!("failover {role}"), "route53": health,
                "healthCheckId": format!("hc-{id}"), "target": "alb", "here": here })
    };
    json!({ "status": {
        "verdict": west,
        "route53Healthy": !failed,
        "dns": {
            "answer": if failed { "-> eu-central-1" } else { "-> eu-west-1" },
            "shares": { "eu-west-1": if failed { 0.0 } else { 1.0 }, "eu-central-1": if failed { 1.0 } else { 0.0 } },
            "regions": [region("eu-west-1", "PRIMARY", west, true), region("eu-central-1", "SECONDARY", "healthy", false)],
        },
    }})
}

/// Plays the leader until `until()`: every 0.3 s, status from the current spec.override.
async fn leader(e: &Emulator, until: impl Fn() -> bool) {
    while !until() {
        let obj = e.get(&format!("{APPS}/app1")).await;
        let mode = obj["spec"]["override"].as_str().map(str::to_owned);
        e.merge(&format!("{APPS}/app1/status"), status(mode.as_deref())).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_drill_patches_spec_override_and_removes_it_again() {
    let e = Emulator::start();
    let kc = e.kubeconfig();
    e.create(APPS, app_health("team", "app1", None, &["web"], 1)).await;
    e.merge(&format!("{APPS}/app1/status"), status(None)).await;
    assert!(e.get(&format!("{APPS}/app1")).await["spec"].get("override").is_none());

    let mut child = Command::new(env!("CARGO_BIN_EXE_failover-agent"))
        .args([
            "drill",
            "app1",
            "--for",
            "3s",
            "--cluster",
            "-n",
            "team",
            "--output",
            "json",
        ])
        .env("KUBECONFIG", kc.path())
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    let watch = async {
        while child.try_wait().unwrap().is_none() {
            assert!(t.elapsed() < Duration::from_secs(60), "the drill ran for over a minute");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    tokio::join!(watch, leader(&e, || done.load(std::sync::atomic::Ordering::SeqCst)));
    let out = child.wait_with_output().unwrap();
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    println!("{report:#}");
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["result"], "PASS");
    assert_eq!(report["setIdentifier"], "eu-west-1");
    assert_eq!(report["overrideBefore"], "spec.override absent");
    for figure in [
        "verdictUnhealthySeconds",
        "route53UnhealthySeconds",
        "dnsLeftSeconds",
        "verdictHealthySeconds",
        "route53HealthySeconds",
        "dnsBackSeconds",
    ] {
        assert!(report[figure].is_f64(), "{figure}: {report:#}");
    }
    // Absent before, absent after: the merge patch removed the key again.
    assert!(e.get(&format!("{APPS}/app1")).await["spec"].get("override").is_none());
}
