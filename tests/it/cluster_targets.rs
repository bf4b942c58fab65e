//! Probe targets that cannot be aimed: in-cluster, an agent probes only Pods of the
//! app's own namespace in EndpointSlices of the EndpointSlice controller, and never
//! loopback unless the operator allows it. Every other endpoint still counts for
//! readiness. Loopback servers count the requests they get: a refused one gets none.

use crate::cluster::{agent_with, app_health, slice, Emulator};
use crate::support::{get, wait_until};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP server on `ip` that answers `200` to everything and counts requests.
pub(crate) struct Counter {
    pub(crate) addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Counter {
    pub(crate) async fn start(ip: [u8; 4], port: u16) -> Counter {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((ip, port)))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let h = h.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    if matches!(s.read(&mut buf).await, Ok(n) if n > 0) {
                        h.fetch_add(1, Ordering::Relaxed);
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                            .await;
                    }
                });
            }
        });
        Counter { addr, hits }
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
}

pub(crate) fn condition(status: &Value, type_: &str) -> Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_made_foreign_and_loopback_endpoints_are_never_probed_but_count_for_readiness() {
    let emu = Emulator::start();
    // One counting "pod" per app, all on one port, each on its own loopback address.
    let control = Counter::start([127, 0, 0, 31], 0).await;
    let port = control.addr.port();
    let hand_made = Counter::start([127, 0, 0, 32], port).await;
    let foreign = Counter::start([127, 0, 0, 33], port).await;
    let ah = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";
    let es = "/apis/discovery.k8s.io/v1/namespaces/team/endpointslices";
    for app in ["control", "handmade", "foreign"] {
        emu.create(ah, app_health("team", app, None, &[app], 1)).await;
    }
    // control: as the EndpointSlice controller writes it.
    emu.create(
        es,
        slice("team", "control-x", "control", port, &[("127.0.0.31", "node-a", true)]),
    )
    .await;
    // handmade: a selector-less Service's slice, written by the tenant (no managed-by label).
    let mut hm = slice(
        "team",
        "handmade-x",
        "handmade",
        port,
        &[("127.0.0.32", "node-a", true)],
    );
    hm["metadata"]["labels"] = json!({ "kubernetes.io/service-name": "handmade" });
    emu.create(es, hm.clone()).await;
    // foreign: labelled as the controller's, but the Pod it names is another tenant's.
    let mut fo = slice("team", "foreign-x", "foreign", port, &[("127.0.0.33", "node-a", true)]);
    fo["endpoints"][0]["targetRef"]["namespace"] = "victim".into();
    emu.create(es, fo).await;
    let status = |app: &'static str| {
        let emu = &emu;
        async move { emu.get(&format!("{ah}/{app}")).await["status"].clone() }
    };
    let kc = emu.kubeconfig();

    // 1. Without probeTargets.allowLoopback, loopback is never probed, even a Pod's.
    let no_loopback = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(no_loopback.path(), "probeTargets: { allowLoopback: false }\n").unwrap();
    let settings = ("FAILOVER_AGENT_SETTINGS", no_loopback.path().display().to_string());
    let a = agent_with(kc.path(), "node-a", &[settings]);
    let folded = wait_until(Duration::from_secs(30), || async {
        let mut all = true;
        for app in ["control", "handmade", "foreign"] {
            let st = status(app).await;
            all &= st["verdict"] == "healthy"
                && st["reason"].as_str().is_some_and(|r| r.contains("1 never probed"))
                && condition(&st, "ProbesRefused")["status"] == "True";
        }
        all
    })
    .await;
    assert!(folded.is_some(), "never folded: {}", status("control").await);
    let msg = condition(&status("control").await, "ProbesRefused")["message"].clone();
    assert!(
        msg.as_str().unwrap().starts_with("1 a loopback address: never probed"),
        "{msg}"
    );
    assert_eq!(get(a.health, "/health/control").await.0, 200, "judged on readiness");
    // Ten probe intervals: nothing arrives anywhere.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        (control.hits(), hand_made.hits(), foreign.hits()),
        (0, 0, 0),
        "a loopback address was probed without allowLoopback"
    );
    drop(a);

    // 2. With allowLoopback, the controller's Pod is probed; the others never are.
    let a = agent_with(kc.path(), "node-a", &[]);
    let probed = wait_until(Duration::from_secs(30), || async {
        control.hits() >= 4 && status("control").await["probedEndpoints"] == 1
    })
    .await;
    assert!(probed.is_some(), "control never probed: {}", status("control").await);
    // Every job starts within one interval (0.5 s): control had 4, the others had time for 3.
    assert_eq!(hand_made.hits(), 0, "the hand-made slice's endpoint was probed");
    assert_eq!(foreign.hits(), 0, "another namespace's Pod was probed");
    let st = status("handmade").await;
    assert_eq!(
        condition(&st, "ProbesRefused")["message"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("1 not in an EndpointSlice of the EndpointSlice controller"),
        "{st}"
    );
    let st = status("foreign").await;
    assert!(
        condition(&st, "ProbesRefused")["message"]
            .as_str()
            .unwrap()
            .starts_with("1 a Pod of another namespace (targetRef)"),
        "{st}"
    );
    let report = emu
        .get("/apis/failover-agent.io/v1alpha1/namespaces/failover-agent/probereports/node-a")
        .await;
    assert_eq!(
        report["spec"]["apps"]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["team/control".to_string()]),
        "{report}"
    );

    // Readiness still counts: the hand-made endpoint not ready fails its app.
    hm["endpoints"][0]["conditions"]["ready"] = false.into();
    emu.merge(&format!("{es}/handmade-x"), json!({ "endpoints": hm["endpoints"] }))
        .await;
    let failed = wait_until(Duration::from_secs(15), || async {
        get(a.health, "/health/handmade").await.0 == 503
    })
    .await;
    assert!(failed.is_some(), "a not-ready hand-made endpoint did not fail its app");
    assert_eq!(hand_made.hits(), 0);
    assert_eq!(foreign.hits(), 0);
}
