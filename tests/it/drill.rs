//! `failover-agent drill` against two static agents and moto: eu-west-1 owns app1's
//! PRIMARY record, eu-central-1 its SECONDARY; each agent probes a real healthy pod
//! on loopback.
//!
//! The one stand-in: Route 53's checkers. moto has none, so [`Checkers`] plays
//! them: every 0.5 s it asks each agent's public `/health/app1`, as a checker would,
//! and sets that agent's check to `Success` or `Failure` through the launcher's
//! `check_status`. Everything else is real: the agents, their Route 53 objects in
//! moto, the DNS view they compute from CloudWatch, and the drill binary.

use crate::moto::Moto;
use crate::route53::{fixture, Fixture};
use crate::support::{free_addr, get, require_tool, AgentProcess};
use failover_agent::cli::demo::pod::Pod;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One Region: its agent (config file with both listeners) and the pod behind app1.
struct Region {
    agent: AgentProcess,
    config: PathBuf,
    _pod: Pod,
}

/// Starts `name`'s agent with `env` added (e.g. an admin token file).
async fn region(f: &Fixture, name: &str, role: &str, env: &[(&str, String)]) -> Region {
    let pod = Pod::start("127.0.0.1".parse().unwrap()).await.unwrap();
    let (health, admin) = (free_addr(), free_addr());
    let listen = format!("healthListen: \"{health}\"\nadminListen: \"{admin}\"\n");
    let probe = "{ intervalSeconds: 0.2, timeoutSeconds: 0.1 }";
    let y = crate::dns_view::two_region_config(f, name, &listen, role, &pod.url(), probe);
    let config = f.dir.path().join(format!("{name}.yaml"));
    std::fs::write(&config, y).unwrap();
    // The listeners come from the file: the drill finds the admin API there.
    let child = Command::new(env!("CARGO_BIN_EXE_failover-agent"))
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .envs(f.moto.env())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Region {
        agent: AgentProcess { child, health, admin },
        config,
        _pod: pod,
    }
}

/// Route 53's checkers, played by the test (moto has none): each agent's check
/// reports what its public `/health/app1` answers, unless pinned.
#[derive(Default)]
struct Checkers {
    /// The status last set per check ID.
    set: BTreeMap<String, &'static str>,
    /// Checks held at a status whatever the agent answers.
    pinned: BTreeMap<String, &'static str>,
}

impl Checkers {
    /// One round: every Region's check, as its checkers see it now.
    async fn round(&mut self, moto: &mut Moto, regions: &[&Region]) {
        for r in regions {
            let Some(id) = check_id(&r.agent).await else { continue };
            let status = match self.pinned.get(&id) {
                Some(s) => *s,
                None if get(r.agent.health, "/health/app1").await.0 == 200 => "Success",
                None => "Failure",
            };
            if self.set.get(&id) != Some(&status) {
                moto.cmd(json!({"cmd": "check_status", "id": id, "status": status}));
                self.set.insert(id, status);
            }
        }
    }

    /// Runs rounds every 0.5 s until `done` (at most 60 s).
    async fn until(&mut self, moto: &mut Moto, regions: &[&Region], what: &str, done: impl AsyncFn() -> bool) {
        let t = Instant::now();
        while !done().await {
            assert!(t.elapsed() < Duration::from_secs(60), "timed out waiting until {what}");
            self.round(moto, regions).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Runs the drill binary with `args` against `on`, playing the checkers while it runs.
    async fn drill(&mut self, moto: &mut Moto, regions: &[&Region], args: &[&str], on: &Region) -> Output {
        self.drill_with(moto, regions, args, on, &[], None).await
    }

    /// [`Checkers::drill`] with `env` added, and a SIGINT (Ctrl-C) after `interrupt`.
    async fn drill_with(
        &mut self,
        moto: &mut Moto,
        regions: &[&Region],
        args: &[&str],
        on: &Region,
        env: &[(&str, String)],
        interrupt: Option<Duration>,
    ) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_failover-agent"))
            .arg("drill")
            .args(args)
            .arg("--config")
            .arg(&on.config)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let t = Instant::now();
        let mut interrupt = interrupt;
        while child.try_wait().unwrap().is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "the drill ran for over 2 minutes"
            );
            if interrupt.is_some_and(|after| t.elapsed() >= after) {
                let pid = child.id().to_string();
                let kill = Command::new(require_tool("kill")).args(["-INT", &pid]).status();
                assert!(kill.unwrap().success());
                interrupt = None;
            }
            self.round(moto, regions).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let out = child.wait_with_output().unwrap();
        eprintln!("drill stderr:\n{}", String::from_utf8_lossy(&out.stderr));
        out
    }
}

/// The agent's own check, from its record in the DNS view.
async fn check_id(agent: &AgentProcess) -> Option<String> {
    let view = agent.app("app1").await;
    let regions = view["dns"]["regions"].as_array()?;
    let here = regions.iter().find(|r| r["here"] == true)?;
    here["healthCheckId"].as_str().map(str::to_owned)
}

/// True once `agent` sees both records healthy and every answer going to eu-west-1.
async fn steady(agent: &AgentProcess) -> bool {
    let dns = agent.app("app1").await["dns"].clone();
    let regions = dns["regions"].as_array().cloned().unwrap_or_default();
    regions.len() == 2 && regions.iter().all(|r| r["route53"] == "healthy") && dns["shares"]["eu-west-1"] == 1.0
}

/// The seconds the text report gives for `label`, if seen.
fn figure(report: &str, label: &str) -> Option<f64> {
    let line = report.lines().find(|l| l.trim_start().starts_with(label))?;
    line.trim().rsplit(' ').next()?.strip_suffix('s')?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_moves_app1_to_the_other_region_and_back() {
    let mut f = fixture();
    let west = region(&f, "eu-west-1", "PRIMARY", &[]).await;
    let central = region(&f, "eu-central-1", "SECONDARY", &[]).await;
    let regions = [&west, &central];
    let mut checkers = Checkers::default();
    checkers
        .until(
            &mut f.moto,
            &regions,
            "answers go to eu-west-1 with both healthy",
            async || steady(&west.agent).await,
        )
        .await;
    let before = west.agent.app("app1").await["override"].clone();

    let out = checkers
        .drill(&mut f.moto, &regions, &["app1", "--for", "15s"], &west)
        .await;
    let report = String::from_utf8(out.stdout).unwrap();
    println!("{report}");
    assert_eq!(out.status.code(), Some(0), "{report}");
    assert!(report.lines().last().unwrap().starts_with("PASS: "), "{report}");
    assert!(
        report.starts_with("drill app1 in eu-west-1 (record eu-west-1), started 20"),
        "{report}"
    );
    let away: Vec<f64> = ["verdict unhealthy", "Route 53 unhealthy", "DNS answer left"]
        .iter()
        .map(|l| figure(&report, l).unwrap_or_else(|| panic!("no {l} in\n{report}")))
        .collect();
    let back: Vec<f64> = ["verdict healthy", "Route 53 healthy", "DNS answer back"]
        .iter()
        .map(|l| figure(&report, l).unwrap_or_else(|| panic!("no {l} in\n{report}")))
        .collect();
    assert!(away[0] <= away[1] && away[1] <= away[2] && away[2] < 15.0, "{away:?}");
    assert!(back[0] <= back[2] && back[1] <= back[2], "{back:?}");
    assert!(report.contains("answer then: -> eu-central-1"), "{report}");
    // The override is as it was, and traffic is back in eu-west-1.
    assert_eq!(west.agent.app("app1").await["override"], before);
    assert!(steady(&west.agent).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_refuses_with_nowhere_to_go_and_always_puts_the_override_back() {
    let mut f = fixture();
    // eu-west-1's admin API wants a bearer token: the drill reads it as the agent does.
    let token = f.dir.path().join("admin-token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let env = [("FAILOVER_AGENT_ADMIN_TOKEN_FILE", token.display().to_string())];
    let west = region(&f, "eu-west-1", "PRIMARY", &env).await;
    let central = region(&f, "eu-central-1", "SECONDARY", &[]).await;
    let regions = [&west, &central];
    let mut checkers = Checkers::default();
    checkers
        .until(
            &mut f.moto,
            &regions,
            "answers go to eu-west-1 with both healthy",
            async || steady(&west.agent).await,
        )
        .await;
    let before = west.agent.app("app1").await["override"].clone();
    assert_eq!(before["source"], "config");

    // The secondary is unhealthy as Route 53 sees it: the drill refuses, changing nothing.
    let secondary = check_id(&central.agent).await.unwrap();
    checkers.pinned.insert(secondary.clone(), "Failure");
    checkers
        .until(
            &mut f.moto,
            &regions,
            "eu-west-1 sees eu-central-1 unhealthy",
            async || {
                let dns = west.agent.app("app1").await["dns"].clone();
                dns["regions"].as_array().is_some_and(|r| {
                    r.iter()
                        .any(|r| r["setIdentifier"] == "eu-central-1" && r["route53"] == "unhealthy")
                })
            },
        )
        .await;
    let out = checkers
        .drill(&mut f.moto, &regions, &["app1", "--for", "15s"], &west)
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("drill app1 refused: "), "{stderr}");
    assert!(stderr.contains("fail traffic nowhere"), "{stderr}");
    assert!(out.stdout.is_empty());
    let after = west.agent.app("app1").await;
    assert_eq!(after["override"], before);
    assert_eq!(after["verdict"], "healthy");

    // Checkers that never see eu-west-1 fail: traffic never moves, the drill fails, and
    // the override is put back all the same.
    checkers.pinned.remove(&secondary);
    checkers
        .until(&mut f.moto, &regions, "both healthy again", async || {
            steady(&west.agent).await
        })
        .await;
    checkers.pinned.insert(check_id(&west.agent).await.unwrap(), "Success");
    let args = ["app1", "--for", "3s", "--output", "json"];
    let out = checkers
        .drill_with(&mut f.moto, &regions, &args, &west, &env, None)
        .await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("{report:#}");
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(report["result"], "FAIL");
    assert!(
        report["why"].as_str().unwrap().contains("never left eu-west-1"),
        "{report:#}"
    );
    assert!(report["verdictUnhealthySeconds"].is_f64(), "{report:#}");
    assert!(report["dnsLeftSeconds"].is_null() && report["dnsBackSeconds"].is_null());
    assert_eq!(report["overrideRestored"], true);
    assert_eq!(west.agent.app("app1").await["override"], before);

    // Without the token the override cannot be set: an error, nothing changed.
    let out = checkers.drill(&mut f.moto, &regions, &args, &west).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401"), "{out:?}");
    assert_eq!(west.agent.app("app1").await["override"], before);

    // Ctrl-C two seconds into a one-minute drill puts the override back at once.
    let args = ["app1", "--for", "60s", "--output", "json"];
    let t = Instant::now();
    let out = checkers
        .drill_with(&mut f.moto, &regions, &args, &west, &env, Some(Duration::from_secs(2)))
        .await;
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(report["interrupted"], true, "{report:#}");
    assert!(report["failSeconds"].as_f64().unwrap() < 10.0, "{report:#}");
    assert_eq!(report["overrideRestored"], true);
    assert_eq!(west.agent.app("app1").await["override"], before);
}

/// Runs `failover-agent drill ARGS`; returns the exit code and stderr.
fn drill_cli(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_failover-agent"))
        .arg("drill")
        .args(args)
        .env_remove("FAILOVER_AGENT_CONFIG")
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_usage_exits_64_naming_the_fix_and_an_app_without_a_dns_view_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (health, admin) = (free_addr(), free_addr());
    let y = format!(
        "region: eu-west-1\nhealthListen: \"{health}\"\nadminListen: \"{admin}\"\napps:\n  - name: app1\n    endpoints: [\"http://127.0.0.1:1/\"]\n"
    );
    let cfg = dir.path().join("agent.yaml");
    std::fs::write(&cfg, y).unwrap();
    let cfg = cfg.to_str().unwrap();
    for (args, says) in [
        (
            vec!["app9", "--for", "15s", "--config", cfg],
            "no app app9 (apps: app1)",
        ),
        (
            vec!["app1", "--for", "15s", "--config", "/nonexistent.yaml"],
            "/nonexistent.yaml",
        ),
        (vec!["app1", "--for", "banana", "--config", cfg], "--for"),
        (vec!["app1", "--for", "13h", "--config", cfg], "--for 13h: at most 12h"),
        (vec!["app1", "--config", cfg], "--for"),
        (vec!["app1", "--for", "15s"], "--config"),
        (vec!["app1", "--for", "15s", "--config", cfg, "--cluster"], "--cluster"),
    ] {
        let (code, stderr) = drill_cli(&args);
        assert_eq!(code, Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // An app without a route53 block has no DNS view: refused, exit 1.
    let child = Command::new(env!("CARGO_BIN_EXE_failover-agent"))
        .args(["run", "--config", cfg])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let agent = AgentProcess { child, health, admin };
    let up = crate::support::wait_until(Duration::from_secs(10), || async {
        agent.app("app1").await.is_object()
    });
    assert!(up.await.is_some(), "the agent never served /apps/app1");
    let (code, stderr) = drill_cli(&["app1", "--for", "15s", "--config", cfg]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("drill app1 refused: the app has no DNS view yet"),
        "{stderr}"
    );
    assert_eq!(agent.app("app1").await["override"]["source"], "config");
}
