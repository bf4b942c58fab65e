//! The operator's settings file for in-cluster mode (`run --settings`): a bad file
//! exits 64 naming the key; the chart's file is one the agent accepts; a good file's
//! listeners and Region are used, the flags and variables winning over it.

use crate::cluster::Emulator;
use crate::support::{free_addr, get, wait_until};
use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_failover-agent");

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

/// `failover-agent run <args>` with the downward-API variables set.
fn run(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("run")
        .args(args)
        .env_remove("FAILOVER_AGENT_CONFIG")
        .env_remove("FAILOVER_AGENT_SETTINGS")
        .envs([
            ("NODE_NAME", "n1"),
            ("POD_NAME", "agent-n1"),
            ("POD_NAMESPACE", "failover-agent"),
        ])
        .envs(env.iter().copied());
    c
}

fn path(f: &tempfile::NamedTempFile) -> &str {
    f.path().to_str().unwrap()
}

#[test]
fn a_bad_settings_file_exits_64_naming_the_key_and_the_fix() {
    let bad = file("probeConcurrency: 0\nroute53Policy:\n  zones:\n    - { id: \"Z 1\", names: [\"*.example.com\"], namespaces: [payments] }\n");
    let out = run(&["--settings", path(&bad)], &[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    for want in [
        "route53Policy.zones[0].id: `Z 1` is not a hosted zone ID",
        "probeConcurrency: 0 is out of range",
        &bad.path().display().to_string(),
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }

    // The same through FAILOVER_AGENT_SETTINGS; unknown keys and a missing file too.
    let typo = file("route53policy: {zones: []}\n");
    let out = run(&[], &[("FAILOVER_AGENT_SETTINGS", path(&typo))]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{err}");
    assert!(err.contains("unknown field `route53policy`"), "{err}");
    let out = run(&["--settings", "/nonexistent/settings.yaml"], &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/settings.yaml"));

    // A good file with a bad variable over it: the variable is named.
    let good = file("clusterId: c1\npublicHostname: health.example.com\n");
    let out = run(&["--settings", path(&good)], &[("PUBLIC_PORT", "eighty")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PUBLIC_PORT: `eighty` is not a port"));

    // Static mode has its own keys: --config and --settings together are a usage error.
    let out = run(
        &["--config", "deploy/examples/static.yaml", "--settings", path(&good)],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[test]
fn the_manifests_settings_file_is_one_the_agent_accepts_with_the_walkthroughs_policy() {
    let manifest = std::fs::read_to_string("deploy/manifests/failover-agent.yaml").unwrap();
    let settings = manifest
        .split("\n---\n")
        .filter_map(|d| serde_yaml::from_str::<serde_yaml::Value>(d).ok())
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "failover-agent-settings")
        .expect("the manifest has the settings ConfigMap");
    let text = settings["data"]["settings.yaml"].as_str().unwrap();
    let s = failover_agent::spec::parse_settings(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let c = s.in_cluster(|_| None).unwrap();
    let policy = c.aws.route53_policy.expect("in-cluster always has a policy");
    // The walkthrough's policy: namespaces app1 and app2 in the placeholder zone, nobody else.
    assert!(policy.check("app1", "Z0123456789EXAMPLE", "app1.example.com").is_ok());
    assert!(policy
        .check("payments", "Z0123456789EXAMPLE", "app1.example.com")
        .is_err());
    assert!(policy.check("app1", "Z0OTHERZONE", "app1.example.com").is_err());
    // The chart's public listener limits reach the agent.
    assert_eq!(
        (
            c.public_listener.max_connections_per_client,
            c.public_listener.max_connections
        ),
        (64, 4096)
    );
}

/// An agent process killed on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn build_info(admin: SocketAddr) -> Option<String> {
    let (_, text) = get(admin, "/metrics").await;
    text.lines()
        .find(|l| l.starts_with("failover_agent_build_info"))
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_files_listeners_and_region_are_used_and_flags_and_variables_win() {
    let emulator = Emulator::start();
    let kubeconfig = emulator.kubeconfig();
    let (health, admin) = (free_addr(), free_addr());
    let settings = file(&format!(
        "region: eu-central-1\nhealthListen: {health}\nadminListen: {admin}\nprobeConcurrency: 16\naws: {{ reconcileIntervalSeconds: 30 }}\n"
    ));
    let kube = kubeconfig.path().to_str().unwrap();
    let args = ["--settings", path(&settings)];
    let _a = Agent(
        run(&args, &[("KUBECONFIG", kube), ("RUST_LOG", "warn,kube=error")])
            .env_remove("AWS_REGION")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let up = wait_until(Duration::from_secs(20), || async move {
        get(health, "/healthz").await.0 == 200 && build_info(admin).await.is_some()
    })
    .await;
    assert!(
        up.is_some(),
        "the agent did not serve on the file's listeners {health} and {admin}"
    );
    let info = build_info(admin).await.unwrap();
    assert!(info.contains("region=\"eu-central-1\""), "the file's Region: {info}");

    // --admin-listen and AWS_REGION win over the file.
    let (health2, admin2) = (free_addr(), free_addr());
    let settings2 = file(&format!(
        "region: eu-central-1\nhealthListen: {health2}\nadminListen: 127.0.0.1:1\n"
    ));
    let admin2_flag = admin2.to_string();
    let args = ["--settings", path(&settings2), "--admin-listen", &admin2_flag];
    let _b = Agent(
        run(
            &args,
            &[
                ("KUBECONFIG", kube),
                ("RUST_LOG", "warn,kube=error"),
                ("AWS_REGION", "us-east-2"),
            ],
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let up = wait_until(Duration::from_secs(20), || async move {
        get(health2, "/healthz").await.0 == 200 && build_info(admin2).await.is_some()
    })
    .await;
    assert!(
        up.is_some(),
        "the agent did not serve on {health2} (file) and {admin2} (flag)"
    );
    let info = build_info(admin2).await.unwrap();
    assert!(info.contains("region=\"us-east-2\""), "AWS_REGION wins: {info}");
}
