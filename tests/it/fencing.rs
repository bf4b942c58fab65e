//! Leader fencing: no write passes a closed fence.
//!
//! - In the cluster (two agent processes against the emulator, one behind a proxy
//!   that stalls its traffic): the stalled leader steps down before anyone can take
//!   over, and none of its writes lands after the new leader's first one.
//! - Route 53 (against moto): an apply whose fence closes part-way sends nothing
//!   more, and the next leader converges from what Route 53 then holds.

use crate::cluster::{agent_with, app_health, kubeconfig_at, slice, Emulator};
use crate::route53::fixture;
use crate::stall::{holder, leading, StallProxy, LEASE};
use crate::support::{get, wait_until};
use failover_agent::aws::{Budget, Caller};
use failover_agent::cli::demo::pod::Pod;
use failover_agent::fence::{Always, Fence, Lost};
use failover_agent::publish::route53::apply;
use failover_agent::publish::route53::plan_holding;
use failover_agent::publish::route53::read;
use failover_agent::publish::route53::Desired;
use failover_agent::telemetry::Metrics;
use serde_json::Value;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const APPS: &str = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";

/// The agents' connections to the API server come from these addresses.
const FROM_A: [u8; 4] = [127, 0, 0, 66];
const FROM_B: [u8; 4] = [127, 0, 0, 67];

/// A write only the leader makes: the Lease, `AppHealth` status or finalizers, Events,
/// ProbeAssignments.
/// (ProbeReports are every node's own.)
fn leader_write(w: &Value) -> bool {
    let path = w["path"].as_str().unwrap_or("");
    path.contains("/leases/")
        || path.contains("/apphealths/")
        || path.contains("/events")
        || path.contains("/probeassignments")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_leader_steps_down_in_time_and_none_of_its_writes_lands_after_the_new_leaders_first() {
    let emu = Emulator::start();
    let pa = Pod::start_at("127.0.0.2:0".parse().unwrap()).await.unwrap();
    let port = pa.addr.port();
    let _pb = Pod::start_at(SocketAddr::from(([127, 0, 0, 3], port))).await.unwrap();
    emu.create(APPS, app_health("team", "app1", None, &["app1"], 2)).await;
    let eps = |b_ready: bool| {
        slice(
            "team",
            "app1-x",
            "app1",
            port,
            &[("127.0.0.2", "node-a", true), ("127.0.0.3", "node-b", b_ready)],
        )
    };
    emu.create("/apis/discovery.k8s.io/v1/namespaces/team/endpointslices", eps(true))
        .await;

    // Each agent reaches the API server through its own proxy, so the emulator's
    // write log says whose each write was; only A's is ever stalled.
    let proxy_a = StallProxy::start(emu.addr, IpAddr::from(FROM_A)).await;
    let proxy_b = StallProxy::start(emu.addr, IpAddr::from(FROM_B)).await;
    let (kc_a, kc_b) = (kubeconfig_at(proxy_a.addr), kubeconfig_at(proxy_b.addr));
    let a = agent_with(kc_a.path(), "node-a", &[]);
    let led = wait_until(Duration::from_secs(30), || async {
        holder(&emu).await == "agent-node-a"
            && leading(&a).await == Some(true)
            && emu.get(&format!("{APPS}/app1")).await["status"]["verdict"] == "healthy"
    })
    .await;
    assert!(led.is_some(), "A never led and judged app1: {}", emu.get(LEASE).await);
    let b = agent_with(kc_b.path(), "node-b", &[]);
    assert!(
        wait_until(Duration::from_secs(30), || async {
            get(b.health, "/health/app1").await.0 == 200
        })
        .await
        .is_some(),
        "B never served app1"
    );
    assert_eq!(leading(&b).await, Some(false));

    // A's path to the API server stalls. At once the world changes (node B's endpoint
    // is no longer ready): A sees it through its watches and tries to write app1's
    // new status, but that write is held.
    proxy_a.stall();
    let stalled = Instant::now();
    emu.merge(
        "/apis/discovery.k8s.io/v1/namespaces/team/endpointslices/app1-x",
        serde_json::json!({ "endpoints": eps(false)["endpoints"] }),
    )
    .await;

    // A steps down on its own clock before B may take over.
    let (mut a_down, mut b_up) = (None, None);
    while (a_down.is_none() || b_up.is_none()) && stalled.elapsed() < Duration::from_secs(40) {
        if a_down.is_none() && leading(&a).await == Some(false) {
            a_down = Some(stalled.elapsed());
        }
        if b_up.is_none() && holder(&emu).await == "agent-node-b" {
            b_up = Some(stalled.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        a_down.is_some() && b_up.is_some(),
        "A stepped down after {a_down:?}, B took over after {b_up:?}"
    );
    let (a_down, b_up) = (a_down.unwrap_or_default(), b_up.unwrap_or_default());
    eprintln!("after the stall: A stepped down at {a_down:?}, B took the Lease at {b_up:?}");
    assert!(a_down < b_up, "A still led when B took over ({a_down:?} vs {b_up:?})");

    // B writes app1's verdict; only then does A's held traffic flow again.
    assert!(
        wait_until(Duration::from_secs(20), || async {
            emu.get(&format!("{APPS}/app1")).await["status"]["verdict"] == "unhealthy"
        })
        .await
        .is_some(),
        "the new leader never wrote app1's verdict"
    );
    proxy_a.release();
    let from_a = IpAddr::from(FROM_A).to_string();
    let writes = || async {
        emu.get("/_emulator/writes").await["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let late = wait_until(Duration::from_secs(15), || async {
        writes().await.iter().any(|w| {
            w["peer"] == from_a.as_str() && w["method"] == "PATCH" && w["path"] == format!("{APPS}/app1/status")
        })
    })
    .await;
    assert!(late.is_some(), "A's held status write never reached the API server");
    // Give anything else A held or still wants to send time to land.
    tokio::time::sleep(Duration::from_secs(5)).await;

    let log = writes().await;
    let from_b = IpAddr::from(FROM_B).to_string();
    let ok = |w: &Value| w["status"].as_u64().is_some_and(|s| (200..300).contains(&s));
    let b_first = log
        .iter()
        .find(|w| w["peer"] == from_b.as_str() && leader_write(w) && ok(w))
        .expect("B's takeover is in the log");
    assert_eq!(
        b_first["path"], LEASE,
        "B's first leader write is its takeover of the Lease"
    );
    let seq = |w: &Value| w["seq"].as_u64().unwrap_or(0);
    let a_after: Vec<&Value> = log
        .iter()
        .filter(|w| w["peer"] == from_a.as_str() && leader_write(w) && seq(w) > seq(b_first))
        .collect();
    let landed: Vec<&&Value> = a_after.iter().filter(|w| ok(w)).collect();
    assert!(
        landed.is_empty(),
        "old leader's writes landed after the new leader's first: {landed:?}"
    );
    assert!(
        a_after.iter().any(|w| w["method"] == "PATCH" && w["status"] == 409),
        "A's late status write arrived and was refused (409): {a_after:?}"
    );

    // A follows now, and serves B's verdict.
    assert_eq!(leading(&a).await, Some(false));
    assert_eq!(leading(&b).await, Some(true));
    assert!(
        wait_until(Duration::from_secs(10), || async {
            get(a.health, "/health/app1").await.0 == 503
        })
        .await
        .is_some(),
        "A does not serve the new leader's verdict"
    );
    drop(proxy_b);
}

/// A fence that lets `n` writes through, then closes for good.
struct Countdown(AtomicUsize);

impl Fence for Countdown {
    fn check(&self) -> Result<(), Lost> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(drop)
            .map_err(|_| Lost("the test closed the fence".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route53_apply_sends_nothing_once_its_fence_closes_and_the_next_leader_converges() {
    let mut f = fixture();
    let mut y =
        String::from("region: eu-west-1\nclusterId: prod-eu\npublicHostname: health.eu-west-1.example.com\napps:\n");
    for name in ["app1", "app2"] {
        y += &format!(
            "  - name: {name}\n    endpoints: [\"http://127.0.0.1:1/\"]\n    route53:\n      hostedZoneId: {}\n      recordName: {name}.example.com\n      routing: {{ latency: {{ region: eu-west-1 }} }}\n      aliasTarget: {{ dnsName: {}, hostedZoneId: {} }}\n",
            f.zone, f.alb_dns, f.alb_zone
        );
    }
    let cfg = failover_agent::spec::parse(&y).unwrap();
    let owner = cfg.aws.owner.clone().unwrap();
    let desired = Desired {
        apps: failover_agent::run::standalone::route53_desired(&cfg),
        hold: Default::default(),
    };
    let r53 = f.moto.route53();
    let caller = Caller::new(Budget::default(), Metrics::new("eu-west-1").unwrap().aws);
    let plan = |actual| plan_holding(&owner, &desired.apps, &desired.hold, &actual);

    // A fence closed from the start: not one write.
    f.moto.cmd(serde_json::json!({"cmd": "stats_reset"}));
    let p = plan(read(&r53, &caller, &desired.apps).await.unwrap());
    assert!(!p.is_empty());
    let out = apply(&r53, &caller, &p, &Countdown(AtomicUsize::new(0))).await;
    assert!(
        out.lost.is_some() && out.applied.is_empty() && out.failed.is_empty(),
        "{out:?}"
    );
    let stats = f.moto.stats();
    for op in ["CreateHealthCheck", "ChangeTagsForResource", "ChangeResourceRecordSets"] {
        assert_eq!(
            stats[op].as_u64().unwrap_or(0),
            0,
            "{op} sent through a closed fence: {stats}"
        );
    }

    // Three writes allowed: app1's check is made and tagged, app2's made; then the
    // fence closes, so app2's tag and both records are never sent.
    let out = apply(&r53, &caller, &p, &Countdown(AtomicUsize::new(3))).await;
    assert!(out.lost.is_some() && !out.is_complete(), "{out:?}");
    assert_eq!(out.applied.len(), 2, "{:?}", out.applied);
    assert!(
        out.failed.is_empty(),
        "a fenced step is not a failure: {:?}",
        out.failed
    );
    assert_eq!(f.checks().await.len(), 2);
    assert!(f.records().await.is_empty(), "a record change passed the closed fence");
    assert_eq!(f.moto.count("ChangeTagsForResource"), 1);

    // The next leader plans from what Route 53 holds: it adopts the untagged check
    // (its CallerReference is ours) and makes the records; nothing is duplicated.
    let p = plan(read(&r53, &caller, &desired.apps).await.unwrap());
    let out = apply(&r53, &caller, &p, &Always).await;
    assert!(out.is_complete(), "{out:?}");
    assert_eq!(f.checks().await.len(), 2, "no second check for app2");
    assert_eq!(f.records().await.len(), 2);
    let p = plan(read(&r53, &caller, &desired.apps).await.unwrap());
    assert!(p.is_empty(), "converged:\n{p}");
}
