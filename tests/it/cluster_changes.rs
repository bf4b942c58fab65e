//! Passes over changes in the emulator: after the first pass, an EndpointSlice
//! change and a probe report change are each folded by a pass over the changes
//! alone (`failover_agent_fold_pass_duration_seconds{kind="changes"}`), with the
//! verdict a full pass would give, and the apps they do not feed are not written.

use crate::cluster::{agent_with, app_health, slice, Emulator};
use crate::cluster_targets::condition;
use crate::support::{get, wait_until, AgentProcess};
use failover_agent::cli::demo::pod::Mode;
use failover_agent::cli::demo::pod::Pod;
use std::net::SocketAddr;
use std::time::Duration;

const AH: &str = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";
const ES: &str = "/apis/discovery.k8s.io/v1/namespaces/team/endpointslices";

async fn changes_passes(a: &AgentProcess) -> f64 {
    let line = "failover_agent_fold_pass_duration_seconds_count{kind=\"changes\"}";
    a.metric(line).await.unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_or_probe_change_folds_only_its_app_in_a_pass_over_changes() {
    let emu = Emulator::start();
    // One pod per app, all on node-a, where the agent runs: it probes them all.
    let first = Pod::start_at("127.0.0.61:0".parse().unwrap()).await.unwrap();
    let port = first.addr.port();
    let mut pods = vec![first];
    for ip in [62, 63] {
        pods.push(Pod::start_at(SocketAddr::from(([127, 0, 0, ip], port))).await.unwrap());
    }
    let apps = ["a", "b", "c"];
    let eps = |i: usize, ready: bool| {
        slice(
            "team",
            &format!("{}-x", apps[i]),
            apps[i],
            port,
            &[(&*format!("127.0.0.{}", 61 + i), "node-a", ready)],
        )
    };
    for (i, app) in apps.iter().enumerate() {
        emu.create(AH, app_health("team", app, None, &[app], 1)).await;
        emu.create(ES, eps(i, true)).await;
    }
    let kc = emu.kubeconfig();
    let a = agent_with(kc.path(), "node-a", &[]);
    let status = |app: &'static str| {
        let emu = &emu;
        async move { emu.get(&format!("{AH}/{app}")).await["status"].clone() }
    };
    let all_probed = wait_until(Duration::from_secs(30), || async {
        for app in apps {
            // Settled: its one endpoint passed its probes (past the start-up grace).
            let st = status(app).await;
            let fresh = condition(&st, "Stale")["reason"] == "Fresh";
            let passing = st["reason"].as_str().unwrap_or_default().contains("1 passing probes");
            if !passing || !fresh || get(a.health, &format!("/health/{app}")).await.0 != 200 {
                return false;
            }
        }
        true
    })
    .await;
    assert!(
        all_probed.is_some(),
        "apps never probed and served: {}",
        status("a").await
    );
    let rv_a = emu.get(&format!("{AH}/a")).await["metadata"]["resourceVersion"].clone();

    // b's only endpoint turns not ready in its EndpointSlice.
    let before = changes_passes(&a).await;
    emu.merge(&format!("{ES}/b-x"), eps(1, false)).await;
    let down = wait_until(Duration::from_secs(10), || async {
        get(a.health, "/health/b").await.0 == 503
    })
    .await;
    assert!(down.is_some(), "b was not failed by its slice: {}", status("b").await);
    assert!(status("b").await["reason"]
        .as_str()
        .unwrap_or_default()
        .contains("need 1"));
    let after_slice = changes_passes(&a).await;
    assert!(
        after_slice > before,
        "no pass over changes folded the slice change ({before} -> {after_slice})"
    );

    // c's pod fails its probes: the node's report changes, and c alone is folded.
    pods[2].set_mode(Mode::Failing);
    let failed = wait_until(Duration::from_secs(15), || async {
        get(a.health, "/health/c").await.0 == 503
    })
    .await;
    assert!(
        failed.is_some(),
        "c was not failed by its probes: {}",
        status("c").await
    );
    assert!(
        changes_passes(&a).await > after_slice,
        "no pass over changes folded the probe report change"
    );
    // a's inputs never changed: its status was never written again.
    assert_eq!(get(a.health, "/health/a").await.0, 200);
    let rv_now = emu.get(&format!("{AH}/a")).await["metadata"]["resourceVersion"].clone();
    assert_eq!(
        rv_now,
        rv_a,
        "a was rewritten though nothing of it changed: {}",
        status("a").await
    );

    // Both come back.
    emu.merge(&format!("{ES}/b-x"), eps(1, true)).await;
    pods[2].set_mode(Mode::Healthy);
    let back = wait_until(Duration::from_secs(15), || async {
        get(a.health, "/health/b").await.0 == 200 && get(a.health, "/health/c").await.0 == 200
    })
    .await;
    assert!(back.is_some(), "b {} / c {}", status("b").await, status("c").await);
}
