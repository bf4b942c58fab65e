//! Metrics that do not multiply with the node count, with two real replicas
//! against the emulator:
//!
//! - the per-app verdict series come from the leader only: after a leader change
//!   (the leader's path to the API server stalls, so it steps down alive and
//!   another replica takes over) they appear on exactly one replica, and never on
//!   two at once; the new leader's transition counters start at 0;
//! - each replica exports probe series only for the apps with endpoints on its own
//!   node, and drops an app's when its endpoint moves to another node;
//! - the series formula of the README, measured: a replica exports
//!   `c + k × apps (leader only) + p × apps probed on its node` series; the test
//!   prints c, k and p (`--nocapture`).

use crate::cluster::{agent_with, app_health, kubeconfig_at, slice, Agent, Emulator};
use crate::stall::{holder, leading, StallProxy, LEASE};
use crate::support::{get, wait_until};
use failover_agent::cli::demo::pod::Pod;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

const APPS: &str = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";
const SLICES: &str = "/apis/discovery.k8s.io/v1/namespaces/team/endpointslices";
/// How many apps: 0..6 on node-a, 6..10 on node-b, 10..12 on both.
const N: usize = 12;

/// The per-app verdict families (the leader's); the others with an `app` label are probe series.
const VERDICT_FAMILIES: [&str; 6] = [
    "failover_agent_app_healthy",
    "failover_agent_app_transitions_total",
    "failover_agent_app_endpoints",
    "failover_agent_app_override",
    "failover_agent_app_targets",
    "failover_agent_route53_healthy",
];

fn nodes_of(i: usize) -> &'static [&'static str] {
    match i {
        0..6 => &["node-a"],
        6..10 => &["node-b"],
        _ => &["node-a", "node-b"],
    }
}

fn apps_on(node: &str) -> BTreeSet<String> {
    (0..N)
        .filter(|i| nodes_of(*i).contains(&node))
        .map(|i| format!("app{i}"))
        .collect()
}

fn label(line: &str, name: &str) -> Option<String> {
    let start = line.find(&format!("{name}=\""))? + name.len() + 2;
    let len = line[start..].find('"')?;
    Some(line[start..start + len].to_owned())
}

/// One replica's `/metrics`, sorted into the three kinds of series.
#[derive(Debug, Default)]
struct Series {
    /// Per-app verdict samples.
    verdict: Vec<String>,
    /// Probe samples (histogram buckets, sum and count, outcomes).
    probe: Vec<String>,
    /// Everything without an `app` label.
    other: usize,
}

impl Series {
    async fn of(agent: &Agent) -> Series {
        let text = get(agent.admin, "/metrics").await.1;
        let mut s = Series::default();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let family = line.split(['{', ' ']).next().unwrap_or("");
            if label(line, "app").is_none() {
                s.other += 1;
            } else if VERDICT_FAMILIES.contains(&family) {
                s.verdict.push(line.to_owned());
            } else {
                s.probe.push(line.to_owned());
            }
        }
        s
    }

    fn apps(lines: &[String]) -> BTreeSet<String> {
        lines.iter().filter_map(|l| label(l, "app")).collect()
    }

    fn verdict_apps(&self) -> BTreeSet<String> {
        Series::apps(&self.verdict)
    }

    fn probe_apps(&self) -> BTreeSet<String> {
        Series::apps(&self.probe)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_app_series_come_from_the_leader_alone_and_probe_series_from_each_node_for_its_own_apps() {
    let emu = Emulator::start();
    let pa = Pod::start_at("127.0.0.2:0".parse().unwrap()).await.unwrap();
    let port = pa.addr.port();
    let _pb = Pod::start_at(SocketAddr::from(([127, 0, 0, 3], port))).await.unwrap();
    let ip = |node: &str| if node == "node-a" { "127.0.0.2" } else { "127.0.0.3" };
    for i in 0..N {
        let name = format!("app{i}");
        emu.create(APPS, app_health("team", &name, None, &[&name], 1)).await;
        let eps: Vec<(&str, &str, bool)> = nodes_of(i).iter().map(|n| (ip(n), *n, true)).collect();
        emu.create(SLICES, slice("team", &format!("{name}-x"), &name, port, &eps))
            .await;
    }

    // A reaches the API server through a proxy that can stall; B directly.
    let proxy_a = StallProxy::start(emu.addr, IpAddr::from([127, 0, 0, 68])).await;
    let kc_a = kubeconfig_at(proxy_a.addr);
    let kc_b = emu.kubeconfig();
    let a = agent_with(kc_a.path(), "node-a", &[]);
    let long = Duration::from_secs(40);
    let judged = wait_until(long, || async {
        holder(&emu).await == "agent-node-a"
            && emu.get(&format!("{APPS}/app{}", N - 1)).await["status"]["verdict"] == "healthy"
    })
    .await;
    assert!(
        judged.is_some(),
        "A never led and judged the apps: {}",
        emu.get(LEASE).await
    );
    let b = agent_with(kc_b.path(), "node-b", &[]);
    let all: BTreeSet<String> = (0..N).map(|i| format!("app{i}")).collect();
    // Both replicas serve every app and probe their own node's.
    let settled = wait_until(long, || async {
        let (sa, sb) = (Series::of(&a).await, Series::of(&b).await);
        get(b.health, &format!("/health/app{}", N - 1)).await.0 == 200
            && sa.verdict_apps() == all
            && sa.probe_apps() == apps_on("node-a")
            && sb.probe_apps() == apps_on("node-b")
    })
    .await;
    let (sa, sb) = (Series::of(&a).await, Series::of(&b).await);
    assert!(settled.is_some(), "A: {sa:?}\nB: {sb:?}");
    assert_eq!(leading(&b).await, Some(false));
    assert!(
        sb.verdict.is_empty(),
        "a follower exports no per-app verdict series: {:?}",
        sb.verdict
    );

    // The formula: c per replica, k per app (the leader's), p per app probed on a node.
    let k = sa.verdict.len() as f64 / N as f64;
    let p_a = sa.probe.len() as f64 / apps_on("node-a").len() as f64;
    let p_b = sb.probe.len() as f64 / apps_on("node-b").len() as f64;
    assert_eq!(sa.verdict.len() % N, 0, "every app has the same verdict series");
    for p in [p_a, p_b] {
        assert!(
            (9.0..=15.0).contains(&p),
            "a histogram of 9 series per probed app, and a counter per outcome seen so far (at most 6): {p}"
        );
    }
    eprintln!(
        "series with {N} apps: leader {} = c {} + k {k} × {N} apps + p {p_a} × {} apps probed on its node; \
         follower {} = c {} + p {p_b} × {} apps probed on its node",
        sa.other + sa.verdict.len() + sa.probe.len(),
        sa.other,
        apps_on("node-a").len(),
        sb.other + sb.probe.len(),
        sb.other,
        apps_on("node-b").len(),
    );
    assert_eq!(
        sa.other, sb.other,
        "leader and follower have the same per-replica series"
    );

    // A's path to the API server stalls: it steps down alive, B takes over. At every
    // sample at most one replica exports the per-app series.
    proxy_a.stall();
    let stalled = Instant::now();
    let mut both_at_once = Vec::new();
    let (mut a_dropped, mut b_exports) = (None, None);
    while (a_dropped.is_none() || b_exports.is_none()) && stalled.elapsed() < Duration::from_secs(60) {
        let (sa, sb) = (Series::of(&a).await, Series::of(&b).await);
        if !sa.verdict.is_empty() && !sb.verdict.is_empty() {
            both_at_once.push(stalled.elapsed());
        }
        if a_dropped.is_none() && sa.verdict.is_empty() {
            a_dropped = Some(stalled.elapsed());
        }
        if b_exports.is_none() && sb.verdict_apps() == all {
            b_exports = Some(stalled.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("after the stall: A dropped its per-app series at {a_dropped:?}, B exported them at {b_exports:?}");
    assert!(
        a_dropped.is_some() && b_exports.is_some(),
        "A dropped at {a_dropped:?}, B exported at {b_exports:?}"
    );
    assert!(
        both_at_once.is_empty(),
        "both replicas exported per-app series at {both_at_once:?}"
    );
    assert_eq!(holder(&emu).await, "agent-node-b");
    let (sa, sb) = (Series::of(&a).await, Series::of(&b).await);
    assert!(sa.verdict.is_empty(), "{:?}", sa.verdict);
    assert_eq!(sb.verdict.len(), N * k as usize, "the new leader exports them all");
    // Its transition counters start at 0 (no verdict changed in its term).
    let transitions: Vec<&String> = sb
        .verdict
        .iter()
        .filter(|l| l.starts_with("failover_agent_app_transitions_total{"))
        .collect();
    assert_eq!(transitions.len(), 2 * N);
    assert!(transitions.iter().all(|l| l.ends_with(" 0")), "{transitions:#?}");
    // A still probes its node's apps: its probe series stay.
    assert_eq!(sa.probe_apps(), apps_on("node-a"));

    // Released, A stays a follower: still none.
    proxy_a.release();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(leading(&a).await, Some(false));
    assert!(Series::of(&a).await.verdict.is_empty());
    assert_eq!(Series::of(&b).await.verdict_apps(), all);

    // app0's endpoint moves from node-a to node-b: its probe series follow it.
    emu.merge(
        &format!("{SLICES}/app0-x"),
        serde_json::json!({ "endpoints": slice("team", "app0-x", "app0", port, &[("127.0.0.3", "node-b", true)])["endpoints"] }),
    )
    .await;
    let moved = wait_until(long, || async {
        let (sa, sb) = (Series::of(&a).await, Series::of(&b).await);
        !sa.probe_apps().contains("app0") && sb.probe_apps().contains("app0")
    })
    .await;
    let (sa, sb) = (Series::of(&a).await, Series::of(&b).await);
    assert!(
        moved.is_some(),
        "A probes {:?}, B {:?}",
        sa.probe_apps(),
        sb.probe_apps()
    );
    assert!(sa.verdict.is_empty());
    assert_eq!(sb.verdict_apps(), all);
}
