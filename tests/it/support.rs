//! Shared test fixtures: an in-process agent on port 0 and a tiny raw HTTP client.

use failover_agent::run::standalone as agent;
use failover_agent::spec as config;
use failover_agent::telemetry::Metrics;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// An agent running in this process on two free loopback ports.
pub struct TestAgent {
    pub health: SocketAddr,
    pub admin: SocketAddr,
    pub shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<agent::Result<()>>>,
}

impl TestAgent {
    pub async fn start(yaml: &str) -> TestAgent {
        let cfg = config::parse(yaml).expect("test config is valid");
        let health = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (h, a) = (health.local_addr().unwrap(), admin.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let metrics = Metrics::new(&cfg.region).unwrap();
        let task = tokio::spawn(agent::run(
            cfg,
            agent::Listeners { health, admin },
            metrics,
            shutdown.clone(),
        ));
        TestAgent {
            health: h,
            admin: a,
            shutdown,
            task: Some(task),
        }
    }

    /// Shuts the agent down and checks that it stopped cleanly.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let task = self.task.take().expect("running");
        let done = tokio::time::timeout(Duration::from_secs(10), task).await;
        assert!(matches!(done, Ok(Ok(Ok(())))), "agent did not stop cleanly: {done:?}");
    }

    pub async fn health(&self, app: &str) -> (u16, String) {
        get(self.health, &format!("/health/{app}")).await
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Sends `raw` bytes on a new connection and returns everything the server sends
/// back before it closes (or 5 s pass).
pub async fn raw(addr: SocketAddr, raw: &[u8]) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return Vec::new();
    };
    if s.write_all(raw).await.is_err() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    out
}

/// Parses the status code of a raw HTTP/1.1 response.
pub fn status_of(resp: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(resp);
    text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Splits a raw response into headers and body.
pub fn body_of(resp: &[u8]) -> String {
    let text = String::from_utf8_lossy(resp);
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

pub async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    request_with(addr, method, path, &[]).await
}

/// [`request`] with extra `(name, value)` headers.
pub async fn request_with(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let req =
        format!("{method} {path} HTTP/1.1\r\nHost: test\r\n{extra}Connection: close\r\nContent-Length: 0\r\n\r\n");
    let resp = raw(addr, req.as_bytes()).await;
    (status_of(&resp), body_of(&resp))
}

pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, "GET", path).await
}

/// Polls `f` every 20 ms until it returns true or `limit` passes; returns the time taken.
pub async fn wait_until<F, Fut>(limit: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A config with one app per `(name, endpoint urls)` and shared probe/policy blocks.
pub fn config(apps: &[(&str, Vec<String>)], probe: &str, policy: &str) -> String {
    let mut y = String::from("region: test-1\napps:\n");
    for (name, eps) in apps {
        let eps: Vec<String> = eps.iter().map(|e| format!("\"{e}\"")).collect();
        y += &format!(
            "  - name: {name}\n    endpoints: [{}]\n    probe: {probe}\n    policy: {policy}\n",
            eps.join(", ")
        );
    }
    y
}

impl TestAgent {
    /// Waits up to 5 s for `app` to answer `code`.
    pub async fn wait_for(&self, app: &str, code: u16) -> bool {
        wait_until(Duration::from_secs(5), || async { self.health(app).await.0 == code })
            .await
            .is_some()
    }
}

/// One healthy pod behind every app in `apps`, probed every 0.2 s with `policy`;
/// returns once every app answers 200.
pub async fn pod_and_agent(apps: &[&str], policy: &str) -> (failover_agent::cli::demo::pod::Pod, TestAgent) {
    let pod = failover_agent::cli::demo::pod::Pod::start("127.0.0.1".parse().unwrap())
        .await
        .unwrap();
    let list: Vec<(&str, Vec<String>)> = apps.iter().map(|a| (*a, vec![pod.url()])).collect();
    let agent = TestAgent::start(&config(&list, "{ intervalSeconds: 0.2, timeoutSeconds: 0.1 }", policy)).await;
    for app in apps {
        assert!(agent.wait_for(app, 200).await, "{app} never became healthy");
    }
    (pod, agent)
}

/// The agent binary as a child process on two free loopback ports; killed on drop.
pub struct AgentProcess {
    pub child: std::process::Child,
    pub health: SocketAddr,
    pub admin: SocketAddr,
}

impl AgentProcess {
    /// Starts `failover-agent run <args>` with its listeners on free ports, `env`
    /// added to the environment, and `RUST_LOG` set to `log`.
    pub fn start(args: &[&std::ffi::OsStr], env: &[(&str, String)], log: &str) -> AgentProcess {
        let (health, admin) = (free_addr(), free_addr());
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_failover-agent"))
            .arg("run")
            .args(args)
            .args([
                "--health-listen",
                &health.to_string(),
                "--admin-listen",
                &admin.to_string(),
            ])
            .env("RUST_LOG", log)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        AgentProcess { child, health, admin }
    }

    /// The value of the first `/metrics` line starting with `line_start`.
    pub async fn metric(&self, line_start: &str) -> Option<f64> {
        let (_, text) = get(self.admin, "/metrics").await;
        text.lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    /// `/apps/<app>` as JSON (`Null` if unreadable).
    pub async fn app(&self, app: &str) -> serde_json::Value {
        serde_json::from_str(&get(self.admin, &format!("/apps/{app}")).await.1).unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback address (bound, then released).
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// How to get each external tool the tests start, besides `scripts/test`.
fn install_hint(tool: &str) -> String {
    match tool {
        "promtool" => "apt-get install prometheus".into(),
        "kill" => "apt-get install procps".into(),
        "python3" => "apt-get install python3".into(),
        "chromium" => "apt-get install chromium".into(),
        other => format!("install {other}"),
    }
}

/// The path of `name` on `PATH`. A test that needs a missing tool panics with one
/// line naming it and what installs it. Looked up once per tool.
pub fn require_tool(name: &str) -> PathBuf {
    static FOUND: OnceLock<Mutex<HashMap<String, Option<PathBuf>>>> = OnceLock::new();
    let found = FOUND
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(name.to_string())
        .or_insert_with(|| {
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                .map(|dir| dir.join(name))
                .find(|p| {
                    p.metadata()
                        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                })
        })
        .clone();
    found.unwrap_or_else(|| panic!("{name} not found on PATH: run scripts/test (or {})", install_hint(name)))
}

/// `python3` from `PATH`, once it imports every one of `modules` (checked once per
/// list). Otherwise panics with one line naming the module it cannot import and how to
/// install the test tools.
pub fn require_python_modules(modules: &[&str]) -> PathBuf {
    // For each module that does not import: the missing one, and what needed it if not the same.
    const CHECK: &str = "import importlib, sys
for m in sys.argv[1:]:
    try:
        importlib.import_module(m)
    except ImportError as e:
        name = e.name or m
        print(name if m == name or m.startswith(name + '.') else f'{name} (needed by {m})')
        sys.exit(1)";
    // Per module list: None if python3 imports them all, else what it cannot import.
    static MISSING: OnceLock<Mutex<HashMap<String, Option<String>>>> = OnceLock::new();
    let python = require_tool("python3");
    let missing = MISSING
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(modules.join(" "))
        .or_insert_with(|| {
            let out = match std::process::Command::new(&python)
                .args(["-c", CHECK])
                .args(modules)
                .stdin(Stdio::null())
                .output()
            {
                Ok(out) if out.status.success() => return None,
                Ok(out) => out,
                Err(e) => return Some(format!("{} ({e})", modules.join(", "))),
            };
            let said = if out.stdout.is_empty() {
                &out.stderr
            } else {
                &out.stdout
            };
            Some(
                String::from_utf8_lossy(said)
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or("?")
                    .to_string(),
            )
        })
        .clone();
    if let Some(missing) = missing {
        panic!(
            "python3 cannot import {missing}: run scripts/test (or .venv/bin/pip install -r .ci/requirements.txt \
             and put .venv/bin first on PATH)"
        );
    }
    python
}

/// Reads a launcher's first stdout line, `READY <port>` (tests/aws/moto_server.py,
/// tests/k8s/emulator.py; spawned with stdout and stderr piped) and returns the port.
/// If the launcher stops first, kills it and panics with what it wrote to stderr:
/// just that line when it is one (such as which Python package it cannot import and
/// how to install it). Otherwise its stderr goes on to this process's stderr if
/// `show_stderr`, else nowhere.
pub fn ready_port(child: &mut Child, stdout: &mut impl BufRead, what: &str, show_stderr: bool) -> u16 {
    let stderr = child.stderr.take().expect("the launcher's stderr is piped");
    // Lines before READY are held here; `None` once READY came, then lines pass through.
    let held = Arc::new(Mutex::new(Some(Vec::new())));
    let show = move |line: &str| {
        if show_stderr {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    };
    let drain = std::thread::spawn({
        let held = held.clone();
        move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                match held.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
                    Some(lines) => lines.push(line),
                    None => show(&line),
                }
            }
        }
    });
    let mut line = String::new();
    let _ = stdout.read_line(&mut line);
    let ready = line.strip_prefix("READY ").and_then(|p| p.trim().parse().ok());
    if ready.is_none() {
        // Give it a moment to finish writing why, then make sure it is gone.
        let limit = Instant::now() + Duration::from_secs(2);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < limit {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = drain.join();
    }
    let said = held
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    if let Some(port) = ready {
        said.iter().for_each(|l| show(l));
        return port;
    }
    let said: Vec<&str> = said.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
    match said.as_slice() {
        [one] => panic!("{one}"),
        _ => panic!("{what} did not start (stdout {line:?}):\n{}", said.join("\n")),
    }
}
