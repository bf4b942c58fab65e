//! In-cluster mode end to end: two real agent processes (nodes A and B) against
//! kmock's Kubernetes emulator, probing pods that are loopback HTTP servers on
//! distinct 127.0.0.x addresses named in EndpointSlices with their nodeName.

use crate::support::{get, ready_port, require_python_modules, require_tool, wait_until, AgentProcess};
use failover_agent::cli::demo::pod::Mode;
use failover_agent::cli::demo::pod::Pod;
use serde_json::{json, Value};
use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The emulator process; killed on drop.
pub(crate) struct Emulator {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl Emulator {
    pub(crate) fn start() -> Emulator {
        let python = require_python_modules(&["kmock", "aiohttp", "jsonpatch", "jsonpointer"]);
        let mut child = Command::new(python)
            .args(["tests/k8s/emulator.py", "--port", "0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/k8s/emulator.py");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let port = ready_port(&mut child, &mut stdout, "tests/k8s/emulator.py", true);
        Emulator {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    pub(crate) fn kubeconfig(&self) -> tempfile::NamedTempFile {
        kubeconfig_at(self.addr)
    }

    pub(crate) async fn send(&self, method: &str, path: &str, ctype: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        let req = format!("{method} {path} HTTP/1.1\r\nHost: e\r\nConnection: close\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        let mut s = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let (code, body) = (crate::support::status_of(&out), crate::support::body_of(&out));
        (code, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    pub(crate) async fn create(&self, path: &str, obj: Value) {
        let (code, body) = self.send("POST", path, "application/json", &obj).await;
        assert!((200..300).contains(&code), "create {path}: {code} {body}");
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        self.send("GET", path, "application/json", &Value::Null).await.1
    }

    pub(crate) async fn merge(&self, path: &str, patch: Value) {
        let (code, body) = self.send("PATCH", path, "application/merge-patch+json", &patch).await;
        assert!((200..300).contains(&code), "patch {path}: {code} {body}");
    }
}

/// A kubeconfig whose API server is `addr` (the emulator, or a proxy in front of it).
pub(crate) fn kubeconfig_at(addr: SocketAddr) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    write!(
        f,
        "apiVersion: v1\nkind: Config\nclusters: [{{name: e, cluster: {{server: \"http://{addr}\"}}}}]\nusers: [{{name: u, user: {{}}}}]\ncontexts: [{{name: c, context: {{cluster: e, user: u, namespace: default}}}}]\ncurrent-context: c\n",
    )
    .unwrap();
    f
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An agent process on one "node".
pub(crate) type Agent = AgentProcess;

fn agent(kubeconfig: &std::path::Path, node: &str) -> Agent {
    agent_with(kubeconfig, node, &[])
}

/// The operator settings the cluster tests run with unless they pass their own:
/// the emulator's "pods" listen on 127.0.0.x, so loopback must be probed.
pub(crate) const LOOPBACK_SETTINGS: &str = "probeTargets: { allowLoopback: true }\n";

/// An agent process on `node` with extra environment variables; without
/// `FAILOVER_AGENT_SETTINGS` among them, with [`LOOPBACK_SETTINGS`].
pub(crate) fn agent_with(kubeconfig: &std::path::Path, node: &str, env: &[(&str, String)]) -> Agent {
    let mut env = env.to_vec();
    if !env.iter().any(|(k, _)| *k == "FAILOVER_AGENT_SETTINGS") {
        // Written once per test process, so no agent ever reads a half-written file.
        static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
        let path = PATH.get_or_init(|| {
            let f = tempfile::NamedTempFile::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
            std::fs::write(f.path(), LOOPBACK_SETTINGS).unwrap();
            f.into_temp_path().keep().unwrap()
        });
        env.push(("FAILOVER_AGENT_SETTINGS", path.display().to_string()));
    }
    let node_env = [
        ("KUBECONFIG", kubeconfig.display().to_string()),
        ("NODE_NAME", node.to_string()),
        ("POD_NAME", format!("agent-{node}")),
        ("POD_NAMESPACE", "failover-agent".to_string()),
        ("POD_UID", format!("uid-{node}")),
        ("AWS_REGION", "eu-west-1".to_string()),
    ];
    let all: Vec<(&str, String)> = node_env.into_iter().chain(env).collect();
    AgentProcess::start(&[], &all, "warn,kube=error")
}

pub(crate) fn app_health(ns: &str, name: &str, app: Option<&str>, services: &[&str], min: u32) -> Value {
    let mut spec = json!({
        "services": services,
        "probe": { "path": "/healthz", "intervalSeconds": 0.5, "timeoutSeconds": 0.25 },
        "policy": { "minHealthyEndpoints": min, "fallCount": 2, "riseCount": 2 },
    });
    if let Some(a) = app {
        spec["app"] = a.into();
    }
    json!({ "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth", "metadata": { "name": name, "namespace": ns }, "spec": spec })
}

/// An EndpointSlice as the EndpointSlice controller writes it for a Service with a
/// selector: labelled as the controller's, each endpoint a Pod of `ns`.
pub(crate) fn slice(ns: &str, name: &str, service: &str, port: u16, eps: &[(&str, &str, bool)]) -> Value {
    let endpoints: Vec<Value> = eps
        .iter()
        .enumerate()
        .map(|(i, (ip, node, ready))| {
            json!({ "addresses": [ip], "nodeName": node, "conditions": { "ready": ready },
                    "targetRef": { "kind": "Pod", "namespace": ns, "name": format!("{service}-{i}") } })
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": { "name": name, "namespace": ns, "labels": {
            "kubernetes.io/service-name": service,
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" } },
        "addressType": "IPv4",
        "ports": [{ "name": "http", "port": port, "protocol": "TCP" }],
        "endpoints": endpoints,
    })
}

async fn both(agents: &[&Agent], app: &str, code: u16, limit: Duration) -> Option<Duration> {
    wait_until(limit, || async {
        for a in agents {
            if get(a.health, &format!("/health/{app}")).await.0 != code {
                return false;
            }
        }
        true
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_verdict_status_events_conflict_and_stale() {
    let emu = Emulator::start();
    // Pods: app1 on node-a (127.0.0.2) and node-b (127.0.0.3); app2 on node-a (127.0.0.4).
    let a1 = Pod::start_at("127.0.0.2:0".parse().unwrap()).await.unwrap();
    let port = a1.addr.port();
    let b1 = Pod::start_at(SocketAddr::from(([127, 0, 0, 3], port))).await.unwrap();
    let c2 = Pod::start_at(SocketAddr::from(([127, 0, 0, 4], port))).await.unwrap();
    let ah = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";
    let es = "/apis/discovery.k8s.io/v1/namespaces/team/endpointslices";
    emu.create(ah, app_health("team", "app1", None, &["app1"], 2)).await;
    emu.create(ah, app_health("team", "app2", None, &["app2"], 1)).await;
    let app1_eps = |a_ready: bool| {
        slice(
            "team",
            "app1-x",
            "app1",
            port,
            &[("127.0.0.2", "node-a", a_ready), ("127.0.0.3", "node-b", true)],
        )
    };
    emu.create(es, app1_eps(true)).await;
    emu.create(
        es,
        slice("team", "app2-x", "app2", port, &[("127.0.0.4", "node-a", true)]),
    )
    .await;

    let kc = emu.kubeconfig();
    let (a, b) = (agent(kc.path(), "node-a"), agent(kc.path(), "node-b"));
    let agents = [&a, &b];
    assert!(
        both(&agents, "app1", 200, Duration::from_secs(30)).await.is_some(),
        "replicas never served app1"
    );
    assert!(
        wait_until(Duration::from_secs(20), || async {
            emu.get(&format!("{ah}/app1")).await["status"]["probedEndpoints"] == 2
        })
        .await
        .is_some(),
        "the leader never folded both nodes' probe reports: {}",
        emu.get(&format!("{ah}/app1")).await["status"]
    );
    for ag in agents {
        assert_eq!(get(ag.health, "/readyz").await.0, 200);
    }
    // Each node's report is owned by its agent Pod, for garbage collection.
    let report = emu
        .get("/apis/failover-agent.io/v1alpha1/namespaces/failover-agent/probereports/node-b")
        .await;
    assert_eq!(
        report["metadata"]["ownerReferences"][0]["uid"], "uid-node-b",
        "{report}"
    );
    assert_eq!(report["spec"]["apps"]["team/app1"]["127.0.0.3"], "up", "{report}");
    // Start-up judged nothing down: the leader never folds from unsynced caches.
    let events = emu.get("/apis/events.k8s.io/v1/namespaces/team/events").await;
    let early: Vec<&Value> = events["items"]
        .as_array()
        .map(|v| v.iter().filter(|e| e["reason"] == "Unhealthy").collect())
        .unwrap_or_default();
    assert!(
        early.is_empty(),
        "an app was judged unhealthy during start-up: {early:?}"
    );

    // app2 must answer 200 on both replicas at every sample from here on.
    let stop = Arc::new(AtomicBool::new(false));
    let bad = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (stop, bad, addrs) = (stop.clone(), bad.clone(), [a.health, b.health]);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for h in addrs {
                    let r = get(h, "/health/app2").await;
                    if r.0 != 200 {
                        bad.lock().unwrap().push((h, r));
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    // A pod on node B dies: only B probes it, yet both replicas turn app1 503.
    b1.set_mode(Mode::Down);
    let took = both(&agents, "app1", 503, Duration::from_secs(15))
        .await
        .expect("app1 never 503 on both replicas");
    eprintln!("pod death on node B to 503 on both replicas: {took:?}");
    let (_, body) = get(a.health, "/health/app1").await;
    assert!(
        body.starts_with("UNHEALTHY app1: 1/2 endpoints healthy, need 2"),
        "{body}"
    );
    let st = &emu.get(&format!("{ah}/app1")).await["status"];
    assert_eq!(st["verdict"], "unhealthy", "{st}");
    let healthy_cond = st["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Healthy")
        .unwrap()
        .clone();
    assert_eq!(healthy_cond["status"], "False");
    let events = emu.get("/apis/events.k8s.io/v1/namespaces/team/events").await;
    let found = wait_until(Duration::from_secs(5), || async {
        let ev = emu.get("/apis/events.k8s.io/v1/namespaces/team/events").await;
        ev["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|e| e["reason"] == "Unhealthy" && e["regarding"]["name"] == "app1")
        })
    })
    .await;
    assert!(found.is_some(), "no Unhealthy event for app1: {events}");

    b1.set_mode(Mode::Healthy);
    assert!(
        both(&agents, "app1", 200, Duration::from_secs(15)).await.is_some(),
        "app1 never recovered"
    );

    // A not-ready endpoint turns the app 503, whatever its probes say.
    emu.merge(
        &format!("{es}/app1-x"),
        json!({ "endpoints": app1_eps(false)["endpoints"] }),
    )
    .await;
    assert!(
        both(&agents, "app1", 503, Duration::from_secs(15)).await.is_some(),
        "not-ready endpoint did not fail app1"
    );
    let (_, body) = get(b.health, "/health/app1").await;
    assert!(body.contains("(1 ready,"), "{body}");
    emu.merge(
        &format!("{es}/app1-x"),
        json!({ "endpoints": app1_eps(true)["endpoints"] }),
    )
    .await;
    assert!(both(&agents, "app1", 200, Duration::from_secs(15)).await.is_some());

    stop.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    assert!(
        bad.lock().unwrap().is_empty(),
        "app2 was not 200 at every sample: {:?}",
        bad.lock().unwrap()
    );

    // Conflict: a newer object claiming app1 is not served and says why.
    emu.create(
        "/apis/failover-agent.io/v1alpha1/namespaces/other/apphealths",
        app_health("other", "copycat", Some("app1"), &["x"], 1),
    )
    .await;
    let conflict = wait_until(Duration::from_secs(15), || async {
        let s = emu
            .get("/apis/failover-agent.io/v1alpha1/namespaces/other/apphealths/copycat")
            .await;
        s["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Conflict" && c["status"] == "True"))
    })
    .await;
    assert!(conflict.is_some(), "copycat never got a Conflict condition");
    let view: Value = serde_json::from_str(&get(a.admin, "/apps/app1").await.1).unwrap();
    assert_eq!(view["namespace"], "team", "the older claim keeps the key");

    // The leader stops: the other replica takes over and verdicts still move.
    let lease = emu
        .get("/apis/coordination.k8s.io/v1/namespaces/failover-agent/leases/failover-agent-leader")
        .await;
    let holder = lease["spec"]["holderIdentity"]
        .as_str()
        .expect("a leader holds the lease")
        .to_string();
    let (mut leader, survivor, survivor_pod) = if holder == "agent-node-a" {
        (a, b, &b1)
    } else {
        (b, a, &a1)
    };
    Command::new(require_tool("kill"))
        .args(["-TERM", &leader.child.id().to_string()])
        .status()
        .unwrap();
    let exited = tokio::task::spawn_blocking(move || leader.child.wait().map(|s| s.success()))
        .await
        .unwrap();
    assert!(matches!(exited, Ok(true)), "the leader did not stop cleanly on SIGTERM");
    assert_eq!(
        get(survivor.health, "/health/app1").await.0,
        200,
        "losing the leader changes no verdict"
    );
    survivor_pod.set_mode(Mode::Down);
    let took = both(&[&survivor], "app1", 503, Duration::from_secs(20))
        .await
        .expect("no verdict change after the leader left");
    eprintln!("leader stopped; a pod death was judged by the new leader after {took:?}");
    survivor_pod.set_mode(Mode::Healthy);
    assert!(both(&[&survivor], "app1", 200, Duration::from_secs(15)).await.is_some());

    // The API server goes away: the replica keeps its verdicts, marked stale.
    drop(emu);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(get(survivor.health, "/health/app1").await.0, 200);
    assert_eq!(get(survivor.health, "/health/app2").await.0, 200);
    let stale = wait_until(Duration::from_secs(15), || async {
        let v: Value = serde_json::from_str(&get(survivor.admin, "/apps/app1").await.1).unwrap_or(Value::Null);
        v["stale"] == true
    })
    .await;
    assert!(stale.is_some(), "verdicts were not marked stale");
    let metrics = get(survivor.admin, "/metrics").await.1;
    assert!(
        metrics.contains("failover_agent_source_stale{source=\"kubernetes\"} 1"),
        "{metrics}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        get(survivor.health, "/health/app1").await.0,
        200,
        "still serving after the API server left"
    );
    drop(c2);
}
