//! Node-scoped inputs: only the leader watches EndpointSlices; it hands each node
//! the endpoints that node probes as a `ProbeAssignment` named after the node, and
//! each replica watches only its own (field selector), probes exactly what it says,
//! and serves the verdicts from the lean view of `AppHealth`.
//!
//! Two agent processes against the emulator, each through its own proxy from its
//! own loopback address, so the emulator's watch and write logs tell them apart;
//! the "pods" are loopback servers that count the requests they get.

use crate::cluster::{agent_with, app_health, kubeconfig_at, slice, Agent, Emulator};
use crate::cluster_targets::Counter;
use crate::stall::StallProxy;
use crate::support::{get, require_tool, wait_until};
use failover_agent::cli::demo::pod::Mode;
use failover_agent::cli::demo::pod::Pod;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

const APPS: &str = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";
const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/team/endpointslices";
const ASSIGNMENTS: &str = "/apis/failover-agent.io/v1alpha1/namespaces/failover-agent/probeassignments";
const REPORTS: &str = "/apis/failover-agent.io/v1alpha1/namespaces/failover-agent/probereports";

/// The agents' connections to the API server come from these addresses.
const FROM_A: [u8; 4] = [127, 0, 0, 70];
const FROM_B: [u8; 4] = [127, 0, 0, 71];

/// Every watch `from` opened, from the emulator's log.
async fn watches(emu: &Emulator, from: [u8; 4]) -> Vec<Value> {
    let peer = IpAddr::from(from).to_string();
    emu.get("/_emulator/watch-log").await["items"]
        .as_array()
        .map(|v| v.iter().filter(|w| w["peer"] == peer.as_str()).cloned().collect())
        .unwrap_or_default()
}

/// Watch events `from` received on resources other than `apphealths` (whose status
/// carries the verdicts every replica serves).
async fn events_besides_apps(emu: &Emulator, from: [u8; 4]) -> u64 {
    watches(emu, from)
        .await
        .iter()
        .filter(|w| !w["resource"].as_str().unwrap_or("").ends_with("/apphealths"))
        .map(|w| w["events"].as_u64().unwrap_or(0))
        .sum()
}

/// The endpoints node `node`'s assignment gives app `app` (`None`: no assignment or no such app).
async fn assigned(emu: &Emulator, node: &str, app: &str) -> Option<Vec<String>> {
    let a = emu.get(&format!("{ASSIGNMENTS}/{node}")).await;
    let eps = a["spec"]["apps"][format!("team/{app}")]["endpoints"]
        .as_array()?
        .clone();
    Some(eps.iter().filter_map(|e| e.as_str().map(str::to_string)).collect())
}

/// The probe states node `node`'s report gives app `app`.
async fn reported(emu: &Emulator, node: &str, app: &str) -> Value {
    emu.get(&format!("{REPORTS}/{node}")).await["spec"]["apps"][format!("team/{app}")].clone()
}

async fn all_serve(agents: &[&Agent], app: &str, code: u16, limit: Duration) -> bool {
    wait_until(limit, || async {
        for a in agents {
            if get(a.health, &format!("/health/{app}")).await.0 != code {
                return false;
            }
        }
        true
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_watches_only_its_own_assignment_and_probes_exactly_what_it_says() {
    let emu = Emulator::start();
    // web: one pod on node-a, one on node-b. lonely: one pod on node-c, which has no agent.
    // flaky: one pod on node-b that the test fails and heals.
    let on_a = Counter::start([127, 0, 0, 51], 0).await;
    let port = on_a.addr.port();
    let on_b = Counter::start([127, 0, 0, 52], port).await;
    let on_c = Counter::start([127, 0, 0, 53], port).await;
    let moving = Counter::start([127, 0, 0, 55], port).await;
    let flaky = Pod::start_at(SocketAddr::from(([127, 0, 0, 56], port))).await.unwrap();
    for (app, min) in [("web", 1), ("lonely", 1), ("flaky", 1)] {
        emu.create(APPS, app_health("team", app, None, &[app], min)).await;
    }
    let web = |eps: &[(&str, &str, bool)]| slice("team", "web-x", "web", port, eps);
    emu.create(
        SLICES,
        web(&[("127.0.0.51", "node-a", true), ("127.0.0.52", "node-b", true)]),
    )
    .await;
    emu.create(
        SLICES,
        slice("team", "lonely-x", "lonely", port, &[("127.0.0.53", "node-c", true)]),
    )
    .await;
    emu.create(
        SLICES,
        slice("team", "flaky-x", "flaky", port, &[("127.0.0.56", "node-b", true)]),
    )
    .await;

    let proxy_a = StallProxy::start(emu.addr, IpAddr::from(FROM_A)).await;
    let proxy_b = StallProxy::start(emu.addr, IpAddr::from(FROM_B)).await;
    let (kc_a, kc_b) = (kubeconfig_at(proxy_a.addr), kubeconfig_at(proxy_b.addr));
    let a = agent_with(kc_a.path(), "node-a", &[]);
    let led = wait_until(Duration::from_secs(30), || async {
        a.metric("failover_agent_leader ").await == Some(1.0)
            && emu.get(&format!("{APPS}/web")).await["status"]["verdict"] == "healthy"
    })
    .await;
    assert!(led.is_some(), "A never led and judged web");
    let b = agent_with(kc_b.path(), "node-b", &[]);
    let agents = [&a, &b];

    // The leader assigns each node its own endpoints, with the app's probe settings.
    let assigned_all = wait_until(Duration::from_secs(30), || async {
        assigned(&emu, "node-a", "web").await == Some(vec![format!("127.0.0.51:{port}")])
            && assigned(&emu, "node-b", "web").await == Some(vec![format!("127.0.0.52:{port}")])
            && assigned(&emu, "node-b", "flaky").await == Some(vec![format!("127.0.0.56:{port}")])
            && assigned(&emu, "node-c", "lonely").await == Some(vec![format!("127.0.0.53:{port}")])
    })
    .await;
    assert!(assigned_all.is_some(), "{}", emu.get(ASSIGNMENTS).await);
    let b_spec = emu.get(&format!("{ASSIGNMENTS}/node-b")).await["spec"].clone();
    assert_eq!(b_spec["node"], "node-b");
    assert_eq!(
        b_spec["apps"]["team/web"],
        json!({ "probe": { "scheme": "HTTP", "path": "/healthz", "intervalSeconds": 0.5, "timeoutSeconds": 0.25 },
                "riseCount": 2, "fallCount": 2, "endpoints": [format!("127.0.0.52:{port}")] }),
    );
    assert!(
        assigned(&emu, "node-a", "flaky").await.is_none(),
        "a node is assigned only its own endpoints"
    );

    // Each node probes exactly its assignment: B probes the pods on node-b, and the
    // pod on node-c (no agent) is probed by no one and judged on readiness alone.
    let probed = wait_until(Duration::from_secs(30), || async {
        let st = emu.get(&format!("{APPS}/web")).await["status"].clone();
        on_b.hits() >= 3 && on_a.hits() >= 3 && st["probedEndpoints"] == 2
    })
    .await;
    assert!(probed.is_some(), "{}", emu.get(&format!("{APPS}/web")).await["status"]);
    assert_eq!(reported(&emu, "node-b", "web").await, json!({ "127.0.0.52": "up" }));
    assert!(all_serve(&agents, "web", 200, Duration::from_secs(15)).await);
    assert!(all_serve(&agents, "lonely", 200, Duration::from_secs(15)).await);
    for ag in agents {
        let view = ag.app("lonely").await;
        assert!(
            view["reason"].as_str().is_some_and(|r| r.contains("1 unprobed")),
            "{view}"
        );
    }
    assert_eq!(on_c.hits(), 0, "the pod on a node without an agent was probed");

    // The follower never opened a watch on EndpointSlices (or ProbeReports); it
    // watches only its own assignment, by name, and the apps' lean view.
    let b_watches = watches(&emu, FROM_B).await;
    let resources: Vec<&str> = b_watches.iter().filter_map(|w| w["resource"].as_str()).collect();
    assert!(
        resources
            .iter()
            .all(|r| !r.ends_with("/endpointslices") && !r.ends_with("/probereports")),
        "{b_watches:?}"
    );
    let own: Vec<&Value> = b_watches
        .iter()
        .filter(|w| w["resource"].as_str().is_some_and(|r| r.ends_with("/probeassignments")))
        .collect();
    assert!(
        !own.is_empty()
            && own
                .iter()
                .all(|w| w["fieldSelector"] == "metadata.name=node-b" && w["namespace"] == "failover-agent"),
        "{b_watches:?}"
    );
    assert!(
        watches(&emu, FROM_A)
            .await
            .iter()
            .any(|w| w["resource"].as_str().is_some_and(|r| r.ends_with("/endpointslices"))),
        "the leader watches EndpointSlices (and the log sees it)"
    );

    // An endpoint change on another node sends the follower nothing.
    let before = events_besides_apps(&emu, FROM_B).await;
    emu.merge(
        &format!("{SLICES}/lonely-x"),
        json!({ "endpoints": slice("team", "lonely-x", "lonely", port, &[("127.0.0.53", "node-c", true), ("127.0.0.57", "node-c", true)])["endpoints"] }),
    )
    .await;
    let reassigned = wait_until(Duration::from_secs(15), || async {
        assigned(&emu, "node-c", "lonely").await.is_some_and(|e| e.len() == 2)
    })
    .await;
    assert!(reassigned.is_some(), "node-c's assignment did not follow its endpoints");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        events_besides_apps(&emu, FROM_B).await,
        before,
        "the follower got watch events for another node's endpoints"
    );

    // Verdicts agree on every replica: flaky's pod (probed by B alone) fails, then heals.
    flaky.set_mode(Mode::Down);
    assert!(
        all_serve(&agents, "flaky", 503, Duration::from_secs(15)).await,
        "flaky never 503 on both replicas"
    );
    flaky.set_mode(Mode::Healthy);
    assert!(
        all_serve(&agents, "flaky", 200, Duration::from_secs(15)).await,
        "flaky never recovered on both replicas"
    );

    // web's pod on node-b goes; a new one starts on node-a: B's share of web moves to A.
    emu.merge(
        &format!("{SLICES}/web-x"),
        json!({ "endpoints": web(&[("127.0.0.51", "node-a", true), ("127.0.0.55", "node-a", true)])["endpoints"] }),
    )
    .await;
    let moved = wait_until(Duration::from_secs(15), || async {
        assigned(&emu, "node-a", "web").await == Some(vec![format!("127.0.0.51:{port}"), format!("127.0.0.55:{port}")])
            && assigned(&emu, "node-b", "web").await.is_none()
            && reported(&emu, "node-b", "web").await.is_null()
            && moving.hits() >= 3
    })
    .await;
    assert!(
        moved.is_some(),
        "{} / {}",
        emu.get(ASSIGNMENTS).await,
        emu.get(&format!("{REPORTS}/node-b")).await
    );
    let b_hits = on_b.hits();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        on_b.hits() <= b_hits + 1,
        "B still probes an endpoint no longer assigned to it"
    );

    // The same endpoint moves from node-a to node-b (its nodeName changes), and
    // with it its probes: B reports it now, A no longer does.
    emu.merge(
        &format!("{SLICES}/web-x"),
        json!({ "endpoints": web(&[("127.0.0.51", "node-a", true), ("127.0.0.55", "node-b", true)])["endpoints"] }),
    )
    .await;
    let moved_back = wait_until(Duration::from_secs(15), || async {
        assigned(&emu, "node-b", "web").await == Some(vec![format!("127.0.0.55:{port}")])
            && assigned(&emu, "node-a", "web").await == Some(vec![format!("127.0.0.51:{port}")])
            && reported(&emu, "node-b", "web").await == json!({ "127.0.0.55": "up" })
            && reported(&emu, "node-a", "web").await == json!({ "127.0.0.51": "up" })
    })
    .await;
    assert!(
        moved_back.is_some(),
        "{} / {}",
        emu.get(ASSIGNMENTS).await,
        emu.get(REPORTS).await
    );

    // Node-b's endpoints all go: its assignment is deleted and B probes and reports nothing.
    for (svc, eps) in [("web", vec![("127.0.0.51", "node-a", true)]), ("flaky", vec![])] {
        emu.merge(
            &format!("{SLICES}/{svc}-x"),
            json!({ "endpoints": slice("team", &format!("{svc}-x"), svc, port, &eps)["endpoints"] }),
        )
        .await;
    }
    let gone = wait_until(Duration::from_secs(15), || async {
        emu.get(&format!("{ASSIGNMENTS}/node-b")).await["code"] == 404
            && emu.get(&format!("{REPORTS}/node-b")).await["spec"]["apps"] == json!({})
    })
    .await;
    assert!(gone.is_some(), "{}", emu.get(&format!("{REPORTS}/node-b")).await);
    let moving_hits = moving.hits();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(moving.hits() <= moving_hits + 1, "B probes without an assignment");

    // A new leader rewrites no assignment that is already right.
    let writes_before = emu.get("/_emulator/writes").await["items"]
        .as_array()
        .map_or(0, Vec::len);
    Command::new(require_tool("kill"))
        .args(["-TERM", &a.child.id().to_string()])
        .status()
        .unwrap();
    let took_over = wait_until(Duration::from_secs(30), || async {
        b.metric("failover_agent_leader ").await == Some(1.0)
    })
    .await;
    assert!(took_over.is_some(), "B never took over");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let log = emu.get("/_emulator/writes").await;
    let from_b = IpAddr::from(FROM_B).to_string();
    let rewritten: Vec<&Value> = log["items"]
        .as_array()
        .map(|v| v.iter().skip(writes_before).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|w| w["peer"] == from_b.as_str() && w["path"].as_str().is_some_and(|p| p.contains("/probeassignments")))
        .collect();
    assert!(
        rewritten.is_empty(),
        "the new leader rewrote assignments: {rewritten:?}"
    );
    assert_eq!(
        assigned(&emu, "node-a", "web").await,
        Some(vec![format!("127.0.0.51:{port}")]),
        "node-a's assignment stays while its agent is gone"
    );
    drop((proxy_a, proxy_b));
}
