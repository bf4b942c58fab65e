//! `failover-agent preflight`, as a user runs it after installing the agent: the
//! binary against a real agent, and against the servers a misconfigured load
//! balancer puts in its place (a redirect, another backend's 200), on loopback
//! under the hostname `localhost`.

use crate::support::{pod_and_agent, TestAgent};
use failover_agent::cli::demo::pod::Mode;
use failover_agent::cli::demo::pod::Pod;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_failover-agent");

/// What one run printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The report line of `app` at `addr`, which must exist.
    fn line(&self, app: &str, addr: SocketAddr) -> &str {
        self.stdout
            .lines()
            .find(|l| {
                l.split_whitespace().nth(1) == Some(app) && l.split_whitespace().nth(2) == Some(&addr.to_string())
            })
            .unwrap_or_else(|| panic!("no line for {app} at {addr}:\n{}", self.stdout))
    }
}

/// Runs `failover-agent preflight <args>` (off the runtime, so in-process servers keep serving).
async fn preflight(args: &[&str]) -> Run {
    preflight_in(None, args).await
}

/// [`preflight`] with the kube context of `kubeconfig`, and none of the agent
/// variables from this shell, so only the flags and the cluster count.
async fn preflight_in(kubeconfig: Option<&std::path::Path>, args: &[&str]) -> Run {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let kubeconfig = kubeconfig.map(|k| k.to_owned());
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(BIN);
        cmd.arg("preflight").args(&args).env("RUST_LOG", "error");
        if let Some(k) = kubeconfig {
            cmd.env("KUBECONFIG", k);
        }
        for var in [
            "PUBLIC_HOSTNAME",
            "PUBLIC_PORT",
            "PUBLIC_PROTOCOL",
            "MATCH_VERDICT",
            "CLUSTER_ID",
            "AWS_REGION",
        ] {
            cmd.env_remove(var);
        }
        cmd.output().unwrap()
    })
    .await
    .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `--public-hostname localhost --public-port <port> --app <app>`, plus `extra`.
async fn preflight_at(port: u16, app: &str, extra: &[&str]) -> Run {
    let port = port.to_string();
    let mut args = vec!["--public-hostname", "localhost", "--public-port", &port, "--app", app];
    args.extend_from_slice(extra);
    preflight(&args).await
}

/// A server that answers every request with `response`, as a misrouted listener
/// would, and keeps each request head it got.
async fn fixed_server(response: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                seen.lock().unwrap().push(String::from_utf8_lossy(&head).into_owned());
                let _ = s.write_all(response.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (addr, heads)
}

async fn agent_with_app1() -> (Pod, TestAgent) {
    pod_and_agent(&["app1"], "{ riseCount: 1, fallCount: 1 }").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_against_the_agent_and_names_an_unknown_app() {
    let (_pod, agent) = agent_with_app1().await;
    let run = preflight_at(agent.health.port(), "app1", &[]).await;
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let line = run.line("app1", agent.health);
    assert!(
        line.starts_with("ok ") && line.ends_with("  200 HEALTHY app1"),
        "{line}"
    );
    assert!(run.stdout.contains("Preflight: 1 ok, 0 failed"), "{}", run.stdout);

    // An app the agent does not know: the agent answers, so it is named as such.
    let port = agent.health.port().to_string();
    let args = [
        "--public-hostname",
        "localhost",
        "--public-port",
        &port,
        "--app",
        "app1",
        "--app",
        "nope",
    ];
    let run = preflight(&args).await;
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.line("app1", agent.health).starts_with("ok "), "{}", run.stdout);
    let line = run.line("nope", agent.health);
    assert!(
        line.starts_with("FAIL") && line.contains("unknown app: the agent answers but does not know nope"),
        "{line}"
    );
    assert!(run.stdout.contains("Preflight: 1 ok, 1 failed"), "{}", run.stdout);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_a_redirect_and_sends_route53s_request() {
    let (addr, heads) = fixed_server(
        "HTTP/1.1 301 Moved Permanently\r\nLocation: https://localhost/health/app1\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    let run = preflight_at(addr.port(), "app1", &[]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let line = run.line("app1", addr);
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(
        line.contains("redirect (301 to https://localhost/health/app1)"),
        "{line}"
    );
    assert!(
        line.contains("never fail over") && line.contains("ingress.protocol=HTTPS"),
        "{line}"
    );
    // Route 53's request: GET the path, Host is `name:port` off 80/443.
    let head = heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(head.starts_with("get /health/app1 http/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nhost: localhost:{}\r\n", addr.port())),
        "{head}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_another_backend_with_or_without_string_matching() {
    let (addr, _) =
        fixed_server("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 20\r\n\r\n<html>welcome</html>")
            .await;
    for extra in [&[][..], &["--match-verdict", "true"][..]] {
        let run = preflight_at(addr.port(), "app1", extra).await;
        assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
        let line = run.line("app1", addr);
        assert!(line.contains(r#"not the agent: 200 "<html>welcome</html>""#), "{line}");
        assert!(
            line.contains("another backend answers host localhost and path /health/app1"),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_the_verdict_passes_an_unhealthy_agent() {
    let (pod, agent) = agent_with_app1().await;
    pod.set_mode(Mode::Failing);
    assert!(agent.wait_for("app1", 503).await);
    let run = preflight_at(agent.health.port(), "app1", &["--match-verdict", "true"]).await;
    assert_eq!(run.code, 0, "a 503 is the check working: {}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("HTTP_STR_MATCH") && run.stdout.contains(r#"body contains "HEALTHY app1""#));
    let line = run.line("app1", agent.health);
    assert!(
        line.starts_with("ok ") && line.contains("ok (unhealthy now: "),
        "{line}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_search_string_the_agent_never_sends_fails() {
    let (_pod, agent) = agent_with_app1().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    let yaml = format!(
        "region: eu-west-1\nclusterId: prod-eu\npublicHostname: health.example.com\npublicPort: {port}
apps:
  - name: app1
    endpoints: [\"http://127.0.0.1:1/\"]
    route53:
      hostedZoneId: Z1
      recordName: app1.example.com
      routing: {{ failover: {{ role: PRIMARY }} }}
      aliasTarget: {{ dnsName: alb.example.com, hostedZoneId: Z2 }}
      healthCheck: {{ searchString: OK }}
",
        port = agent.health.port()
    );
    std::fs::write(&path, yaml).unwrap();
    // --public-hostname stands in for the config's (a config needs a dotted name).
    let run = preflight(&["--config", path.to_str().unwrap(), "--public-hostname", "localhost"]).await;
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let line = run.line("app1", agent.health);
    assert!(
        line.contains(r#"search string "OK" is not in the agent's answer "HEALTHY app1""#),
        "{line}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_are_usage_errors_with_one_line() {
    for (args, says) in [
        (
            &[][..],
            "name the apps: --config FILE, --cluster, or --public-hostname HOST --app NAME",
        ),
        (&["--app", "app1"][..], "--app needs --public-hostname HOST"),
        (
            &["--config", "x.yaml", "--cluster"][..],
            "--config and --cluster: choose one",
        ),
        (
            &["--cluster", "--app", "app1"][..],
            "--app goes with --public-hostname alone",
        ),
        (
            &["--public-hostname", "http://x/", "--app", "app1"][..],
            "give the bare hostname",
        ),
        (&["--public-hostname", "x", "--app", "App_1"][..], "not an app name"),
    ] {
        let run = preflight(args).await;
        assert_eq!(run.code, 64, "{args:?}: {}{}", run.stdout, run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_checks_the_apphealth_objects_with_route53() {
    use crate::cluster::{app_health, Emulator};
    use serde_json::json;
    let (_pod, agent) = agent_with_app1().await;
    let emu = Emulator::start();
    let ah = "/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths";
    let route53 = json!({ "hostedZoneId": "Z1", "recordName": "app1.example.com", "routing": { "latency": {} } });
    // app1 is served by the agent; app2's block is invalid (Route 53 has no 15 s interval);
    // app3 has no route53 block, so Route 53 never checks it.
    let mut app1 = app_health("team", "app1", None, &["app1"], 1);
    app1["spec"]["route53"] = route53.clone();
    let mut app2 = app_health("team", "app2", None, &["app2"], 1);
    app2["spec"]["route53"] = route53;
    app2["spec"]["route53"]["healthCheck"] = json!({ "intervalSeconds": 15 });
    for obj in [app1, app2, app_health("team", "app3", None, &["app3"], 1)] {
        emu.create(ah, obj).await;
    }
    let kc = emu.kubeconfig();
    let port = agent.health.port().to_string();
    // A fully qualified name: the agent's own rule wants a dot.
    let args = ["--cluster", "--public-hostname", "localhost.", "--public-port", &port];
    let run = preflight_in(Some(kc.path()), &args).await;
    let stdout = &run.stdout;
    assert_eq!(run.code, 1, "{stdout}{}", run.stderr);
    assert!(
        stdout.starts_with("# preflight: 2 AppHealth object(s) with route53"),
        "{stdout}"
    );
    let ok = format!("ok    app1  127.0.0.1:{port}  200 HEALTHY app1");
    assert!(stdout.lines().any(|l| l == ok), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("FAIL  app2  -") && l.contains("intervalSeconds: 15")),
        "{stdout}"
    );
    assert!(!stdout.contains("app3"), "{stdout}");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_mode_takes_the_listener_and_policy_from_the_agent_daemonset() {
    use crate::cluster::{app_health, Emulator};
    use serde_json::json;
    let (_pod, agent) = agent_with_app1().await;
    let emu = Emulator::start();
    let mut app1 = app_health("team", "app1", None, &["app1"], 1);
    app1["spec"]["route53"] =
        json!({ "hostedZoneId": "Z1", "recordName": "app1.example.com", "routing": { "latency": {} } });
    emu.create("/apis/failover-agent.io/v1alpha1/namespaces/team/apphealths", app1)
        .await;
    // A tenant outside the operator's policy: the agent makes no check for it.
    let mut other = app_health("other", "app2", None, &["app2"], 1);
    other["spec"]["route53"] =
        json!({ "hostedZoneId": "Z1", "recordName": "app2.example.com", "routing": { "latency": {} } });
    emu.create("/apis/failover-agent.io/v1alpha1/namespaces/other/apphealths", other)
        .await;
    emu.create(
        "/api/v1/namespaces/failover-agent/configmaps",
        json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "failover-agent-settings", "namespace": "failover-agent" },
                "data": { "settings.yaml": "route53Policy:\n  zones:\n    - { id: Z1, names: [\"*.example.com\"], namespaces: [team] }\n" } }),
    )
    .await;
    // The agent DaemonSet as the chart renders it: the listener lives in its env,
    // the policy in the settings file it mounts from the ConfigMap.
    let port = agent.health.port().to_string();
    let env = json!([
        { "name": "NODE_NAME", "valueFrom": { "fieldRef": { "fieldPath": "spec.nodeName" } } },
        { "name": "CLUSTER_ID", "value": "prod-eu" },
        { "name": "PUBLIC_HOSTNAME", "value": "localhost." },
        { "name": "PUBLIC_PROTOCOL", "value": "HTTP" },
        { "name": "PUBLIC_PORT", "value": port },
        { "name": "MATCH_VERDICT", "value": "true" },
    ]);
    emu.create(
        "/apis/apps/v1/namespaces/failover-agent/daemonsets",
        json!({ "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": { "name": "failover-agent", "namespace": "failover-agent" },
                "spec": { "selector": { "matchLabels": { "a": "b" } }, "template": { "metadata": { "labels": { "a": "b" } },
                  "spec": {
                    "containers": [{ "name": "agent", "image": "failover-agent:0.1.0", "env": env,
                      "args": ["run", "--settings", "/etc/failover-agent/settings.yaml"],
                      "volumeMounts": [{ "name": "settings", "mountPath": "/etc/failover-agent", "readOnly": true }] }],
                    "volumes": [{ "name": "settings", "configMap": { "name": "failover-agent-settings" } }] } } } }),
    )
    .await;
    let kc = emu.kubeconfig();
    let run = preflight_in(Some(kc.path()), &["--cluster"]).await;
    let stdout = &run.stdout;
    assert_eq!(run.code, 1, "{stdout}{}", run.stderr);
    assert!(
        stdout.lines().any(|l| l.starts_with("FAIL  app2  -")
            && l.contains("route53Policy does not allow it")
            && l.contains("namespace other may not use zone Z1")),
        "{stdout}"
    );
    assert!(
        stdout.contains("of cluster prod-eu (settings: flags, then DaemonSet failover-agent/failover-agent and its settings file; CLUSTER_ID, PUBLIC_HOSTNAME, PUBLIC_PROTOCOL, PUBLIC_PORT, MATCH_VERDICT from the DaemonSet)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("# app1: HTTP_STR_MATCH localhost:{port}/health/app1")),
        "the DaemonSet's port and verdict matching: {stdout}"
    );
    assert!(
        stdout.contains(&format!("ok    app1  127.0.0.1:{port}  200 HEALTHY app1")),
        "{stdout}"
    );
    agent.stop().await;
}
