//! `policy.startupGraceSeconds` in the cluster: an endpoint whose probe state stays
//! `unknown` counts on readiness within its grace and as not healthy after it, as
//! in static mode.
//!
//! Two apps share one pod on node-a, both with `riseCount`/`fallCount` 100, so
//! their endpoint stays `unknown` for 50 s; a third app on the same pod rises at
//! once, which writes node-a's report with the other two's `unknown` states. One
//! slow app has a 1 s grace and fails after it; the other has the default grace
//! (100 × 0.5 s + 0.25 s) and stays healthy, awaiting samples.

use crate::cluster::{agent_with, slice, Emulator};
use crate::support::{get, wait_until};
use failover_agent::cli::demo::pod::Pod;
use serde_json::{json, Value};
use std::time::Duration;

const AH: &str = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";
const ES: &str = "/apis/discovery.k8s.io/v1/namespaces/team/endpointslices";

fn app(name: &str, policy: Value) -> Value {
    json!({ "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
            "metadata": { "name": name, "namespace": "team" },
            "spec": { "services": [name],
                      "probe": { "path": "/healthz", "intervalSeconds": 0.5, "timeoutSeconds": 0.25 },
                      "policy": policy } })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_endpoint_counts_within_its_grace_and_fails_after_it() {
    let emu = Emulator::start();
    let pod = Pod::start_at("127.0.0.71:0".parse().unwrap()).await.unwrap();
    let port = pod.addr.port();
    let slow = json!({ "minHealthyEndpoints": 1, "fallCount": 100, "riseCount": 100 });
    let mut short = slow.clone();
    short["startupGraceSeconds"] = json!(1);
    for (name, policy) in [
        (
            "quick",
            json!({ "minHealthyEndpoints": 1, "fallCount": 2, "riseCount": 2 }),
        ),
        ("short", short),
        ("default", slow),
    ] {
        emu.create(AH, app(name, policy)).await;
        emu.create(
            ES,
            slice(
                "team",
                &format!("{name}-x"),
                name,
                port,
                &[("127.0.0.71", "node-a", true)],
            ),
        )
        .await;
    }
    let kc = emu.kubeconfig();
    let a = agent_with(kc.path(), "node-a", &[]);
    let status = |name: &'static str| {
        let emu = &emu;
        async move { emu.get(&format!("{AH}/{name}")).await["status"].clone() }
    };
    let failed = wait_until(Duration::from_secs(30), || async {
        let st = status("short").await;
        st["unknownEndpoints"] == 1 && get(a.health, "/health/short").await.0 == 503
    })
    .await;
    assert!(
        failed.is_some(),
        "short's unknown endpoint never failed it after its 1 s grace: {}",
        status("short").await
    );
    let reason = status("short").await["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.starts_with("0/1 endpoints healthy, need 1"), "{reason}");

    // The same unknown endpoint, within the default grace: healthy, awaiting samples.
    let st = status("default").await;
    assert_eq!(st["unknownEndpoints"], 1, "{st}");
    assert!(
        st["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("1 awaiting samples (start-up grace)"),
        "{st}"
    );
    assert_eq!(get(a.health, "/health/default").await.0, 200);
    assert_eq!(get(a.health, "/health/quick").await.0, 200);
}
