//! No leaked series: an app that leaves the served set (deleted, lost its key,
//! lost a Conflict) takes every one of its metric series with it, AWS ones included.
//!
//! Two levels: the in-cluster replica's own path ([`resolve`] then [`Served::publish`],
//! what each replica runs on every cache change) in-process, 1,000 apps a round
//! in under a second (`/metrics` is [`Metrics::encode`]); and a real agent process
//! (the leader: only it exports per-app series) against the Kubernetes emulator,
//! 1,000 AppHealths created then deleted, twice. RSS figures are printed
//! (`--nocapture`), never asserted.

use failover_agent::cluster::kube::view::ServedApp;
use failover_agent::cluster::serving::resolve::resolve;
use failover_agent::cluster::serving::served::Served;
use failover_agent::telemetry::Metrics;
use failover_agent::verdict::store::Apps;
use std::collections::BTreeSet;
use std::sync::Arc;

/// An `AppHealth` as the leader left it (verdict, ALB counts and Route 53's view),
/// as a replica's lean serving view reads it.
fn ah(ns: &str, name: &str, created: &str) -> Arc<ServedApp> {
    Arc::new(
        serde_json::from_value(serde_json::json!({
            "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
            "metadata": { "name": name, "namespace": ns, "creationTimestamp": created },
            "spec": { "services": ["s"], "route53": {
                "hostedZoneId": "Z1", "recordName": format!("{name}.example.com"), "routing": { "latency": {} } } },
            "status": {
                "verdict": "unhealthy", "reason": "0/2 endpoints up",
                "totalEndpoints": 2, "healthyEndpoints": 0,
                "healthyTargets": 0, "totalTargets": 2, "route53Healthy": false,
            },
        }))
        .unwrap(),
    )
}

/// Lines of `/metrics` that are per-app series (a sample with an `app` label).
fn app_series(m: &Metrics) -> Vec<String> {
    String::from_utf8(m.encode())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("app=\""))
        .map(str::to_owned)
        .collect()
}

/// The `(namespace, app)` pairs that have series, read from the text of a scrape
/// (the leader's per-app series are written straight into it, not gathered).
fn apps_with_series(m: &Metrics) -> BTreeSet<(String, String)> {
    let label = |line: &str, n: &str| {
        let start = line.find(&format!("{n}=\""))? + n.len() + 2;
        Some(line[start..start + line[start..].find('"')?].to_owned())
    };
    app_series(m)
        .iter()
        .filter_map(|l| Some((label(l, "namespace")?, label(l, "app")?)))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    v.iter().map(|(n, a)| (n.to_string(), a.to_string())).collect()
}

/// Hands the allocator's free heap back to the kernel (glibc keeps freed memory
/// for reuse, so RSS alone cannot tell freed from leaked). Returns RSS after.
fn rss_after_trim_kib() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only releases free heap pages.
        unsafe { malloc_trim(0) };
    }
    rss_kib()
}

/// Resident set size of this test process, from `/proc/self/statm` (Linux).
fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

#[test]
fn apps_that_leave_take_their_series_with_them() {
    let m = Metrics::new("test-1").unwrap();
    let apps = Arc::new(Apps::default());
    m.export_verdicts(apps.clone());
    // The leader's view: a follower exports no per-app series at all.
    m.leader.set(1);
    let keep = [
        ah("team-a", "keep1", "2026-01-01T00:00:00Z"),
        ah("team-b", "keep2", "2026-01-01T00:00:00Z"),
    ];
    let served = std::cell::RefCell::new(Served::default());
    let serve = |objs: Vec<Arc<ServedApp>>| served.borrow_mut().publish(&apps, &resolve(objs), &m);

    serve(keep.to_vec());
    let live = pairs(&[("team-a", "keep1"), ("team-b", "keep2")]);
    assert_eq!(apps_with_series(&m), live);
    let per_app = app_series(&m).len() / 2;
    let (start_series, start_rss) = (app_series(&m).len(), rss_kib());

    const N: usize = 1000;
    let mut peak = (0, None);
    for round in 1..=3 {
        let churn: Vec<_> = (0..N)
            .map(|i| ah(&format!("ns{}", i % 10), &format!("churn{i}"), "2026-01-02T00:00:00Z"))
            .collect();
        serve(keep.iter().cloned().chain(churn).collect());
        assert_eq!(apps_with_series(&m).len(), N + 2);
        let with = app_series(&m).len();
        assert_eq!(with, (N + 2) * per_app);
        let with_rss = rss_kib();
        m.leader.set(0);
        assert!(app_series(&m).is_empty(), "a follower exports no per-app series");
        m.leader.set(1);
        // The series are rendered from the store at each scrape: nothing written
        // late (the leader's Route 53 watcher, say) can keep a gone app's series.
        serve(keep.to_vec());
        assert_eq!(
            apps_with_series(&m),
            live,
            "round {round}: only the live apps' series are left"
        );
        let after = app_series(&m).len();
        assert_eq!(after, start_series);
        peak = (with, with_rss);
        let after_rss = rss_kib();
        eprintln!(
            "series round {round}: per-app series {per_app}; before {start_series} series, RSS {start_rss:?} KiB; \
             with {} apps {with} series, RSS {with_rss:?} KiB; after deleting them {after} series, \
             RSS {after_rss:?} KiB ({:?} KiB once the allocator returns its free heap)",
            N + 2,
            rss_after_trim_kib()
        );
    }
    assert_eq!(per_app, 11, "8 verdict series, the ALB's 2 and Route 53's 1");
    assert_eq!(peak.0, 11 * (N + 2), "each app had its full set of series");

    // A Conflict: the older object wins the key; when it goes, the other object is
    // served under its own namespace and the winner's series go.
    let winner = ah("team-a", "shop", "2026-01-01T00:00:00Z");
    let loser = ah("team-c", "shop", "2026-02-01T00:00:00Z");
    serve(vec![winner.clone(), loser.clone()]);
    assert_eq!(apps_with_series(&m), pairs(&[("team-a", "shop")]));
    serve(vec![loser.clone()]);
    assert_eq!(apps_with_series(&m), pairs(&[("team-c", "shop")]));
    let text = String::from_utf8(m.encode()).unwrap();
    assert!(!text.contains("namespace=\"team-a\""), "{text}");
    assert!(text.contains("failover_agent_app_healthy{app=\"shop\",namespace=\"team-c\"} 0"));
    assert!(text.contains("failover_agent_app_targets{app=\"shop\",namespace=\"team-c\",state=\"total\"} 2"));
    assert!(text.contains("failover_agent_route53_healthy{app=\"shop\",namespace=\"team-c\"} 0"));

    // A deleting object (finalizer still on) is no longer served: its series go at once.
    let mut deleting = (*loser).clone();
    deleting.metadata.deletion_timestamp = winner.metadata.creation_timestamp.clone();
    serve(vec![Arc::new(deleting)]);
    assert!(apps_with_series(&m).is_empty());
    assert!(app_series(&m).is_empty());
}

/// `(namespace, app)` of every per-app sample in a `/metrics` text.
fn apps_in_text(text: &str) -> BTreeSet<(String, String)> {
    let label = |line: &str, name: &str| {
        let start = line.find(&format!("{name}=\""))? + name.len() + 2;
        let len = line[start..].find('"')?;
        Some(line[start..start + len].to_owned())
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| Some((label(l, "namespace")?, label(l, "app")?)))
        .collect()
}

/// The agent's own `process_resident_memory_bytes`, in KiB.
fn agent_rss_kib(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("process_resident_memory_bytes "))?;
    let bytes: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(bytes as u64 / 1024)
}

/// The real replica against the Kubernetes emulator: AppHealths created, deleted,
/// re-keyed and a Conflict winner deleted; `/metrics` ends with only the live apps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_drops_the_series_of_apps_that_go() {
    use crate::cluster::{app_health, Emulator};
    use crate::support::{get, wait_until, AgentProcess};
    use serde_json::{json, Value};
    use std::time::Duration;

    const N: usize = 1000;
    let emu = Emulator::start();
    let ah = |ns: &str| format!("/apis/failover-agent.io/v1alpha1/namespaces/{ns}/apphealths");
    let kc = emu.kubeconfig();
    // A thousand apps in one namespace: five times the default limit.
    let settings = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(settings.path(), "limits: { appsPerNamespace: 2000 }\n").unwrap();
    let env = [
        ("FAILOVER_AGENT_SETTINGS", settings.path().display().to_string()),
        ("KUBECONFIG", kc.path().display().to_string()),
        ("NODE_NAME", "node-a".to_string()),
        ("POD_NAME", "agent-node-a".to_string()),
        ("POD_NAMESPACE", "failover-agent".to_string()),
        ("AWS_REGION", "eu-west-1".to_string()),
    ];
    // `error`: a thousand apps going unhealthy is a thousand warnings.
    let a = AgentProcess::start(&[], &env, "error");
    let long = Duration::from_secs(60);
    let metrics = || async { get(a.admin, "/metrics").await.1 };
    assert!(
        wait_until(long, || async { get(a.health, "/readyz").await.0 == 200 })
            .await
            .is_some(),
        "agent never ready"
    );
    let start_rss = agent_rss_kib(&metrics().await);
    let per_app_lines = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with('#') && l.contains("app=\""))
            .count()
    };
    let delete = |path: String| {
        let emu = &emu;
        async move {
            let (code, body) = emu.send("DELETE", &path, "application/json", &Value::Null).await;
            assert!((200..300).contains(&code), "DELETE {path}: {code} {body}");
        }
    };

    // Three apps stay; a Conflict loser waits for the key `shop`.
    emu.create(&ah("a-team"), app_health("a-team", "shop", None, &["shop"], 1))
        .await;
    emu.create(&ah("b-team"), app_health("b-team", "shop", None, &["shop"], 1))
        .await;
    emu.create(&ah("team"), app_health("team", "keep", None, &["keep"], 1))
        .await;
    emu.create(&ah("team"), app_health("team", "rekeyed", None, &["rekeyed"], 1))
        .await;
    let base = pairs(&[("a-team", "shop"), ("team", "keep"), ("team", "rekeyed")]);
    let mut report = Vec::new();
    // Two rounds of 1,000 apps, new names each round (the worst case for a leak).
    for round in 1..=2 {
        for i in 0..N {
            let name = format!("app{round}-{i}");
            emu.create(&ah("team"), app_health("team", &name, None, &["s"], 1))
                .await;
        }
        let last = format!(
            "failover_agent_app_healthy{{app=\"app{round}-{}\",namespace=\"team\"}} 0",
            N - 1
        );
        let all = wait_until(long, || async {
            let t = metrics().await;
            apps_in_text(&t).len() == N + 3 && t.contains(&last)
        })
        .await;
        let text = metrics().await;
        assert!(all.is_some(), "never served all apps: {}", apps_in_text(&text).len());
        assert!(
            !apps_in_text(&text).contains(&("b-team".into(), "shop".into())),
            "the Conflict loser is not served"
        );
        let (with, with_rss) = (per_app_lines(&text), agent_rss_kib(&text));
        for i in 0..N {
            delete(format!("{}/app{round}-{i}", ah("team"))).await;
        }
        let converged = wait_until(long, || async { apps_in_text(&metrics().await) == base }).await;
        let text = metrics().await;
        assert!(converged.is_some(), "round {round} left: {:?}", apps_in_text(&text));
        report.push(format!(
            "round {round}: with {} apps {with} per-app series, RSS {with_rss:?} KiB; \
             after deleting {N}: {} series, RSS {:?} KiB",
            N + 3,
            per_app_lines(&text),
            agent_rss_kib(&text)
        ));
    }

    // The Conflict winner goes (the loser is served under its own namespace) and an
    // object changes its key (the old key's series go).
    delete(format!("{}/shop", ah("a-team"))).await;
    emu.merge(
        &format!("{}/rekeyed", ah("team")),
        json!({ "spec": { "app": "renamed" } }),
    )
    .await;
    let live = pairs(&[("team", "keep"), ("b-team", "shop"), ("team", "renamed")]);
    let converged = wait_until(long, || async { apps_in_text(&metrics().await) == live }).await;
    assert!(converged.is_some(), "left: {:?}", apps_in_text(&metrics().await));
    // Settle a moment: nothing (no late leader write) brings a gone app back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let text = metrics().await;
    assert_eq!(apps_in_text(&text), live);
    eprintln!(
        "series (agent process, in-cluster): at start RSS {start_rss:?} KiB; {}",
        report.join("; ")
    );
}
