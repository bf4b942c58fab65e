//! The status page in headless Chromium: two static agents against moto own app1's
//! PRIMARY (eu-west-1) and SECONDARY (eu-central-1) records; eu-west-1's agent also
//! serves app2, which has no `route53` block. Route 53's checkers fail the primary,
//! answers move to eu-central-1, and eu-west-1's page is read by a browser:
//! - a screenshot renders at the window's size and is not blank (its colours include
//!   the verdict badge's, both Region cells' and the strip's grey);
//! - the DOM Chromium built has one row per app, a column per Region, the DNS answer
//!   and an SVG strip per app (read by tests/browser/status_page.py).

use crate::route53::{fixture, Fixture};
use crate::support::{require_tool, wait_until, AgentProcess};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// The window the screenshot is taken at.
const SIZE: (u64, u64) = (1200, 700);

/// eu-west-1's agent: app1's PRIMARY record, and app2 with no Route 53 at all;
/// eu-central-1's: app1's SECONDARY record.
fn agent(f: &Fixture, region: &str, role: &str) -> AgentProcess {
    let mut y = crate::dns_view::two_region_config(f, region, "", role, "http://127.0.0.1:1/", "{}");
    if role == "PRIMARY" {
        y += "  - name: app2\n    endpoints: [\"http://127.0.0.1:1/\"]\n";
    }
    let path = f.dir.path().join(format!("{region}.yaml"));
    std::fs::write(&path, y).unwrap();
    AgentProcess::start(&["--config".as_ref(), path.as_os_str()], &f.moto.env(), "warn")
}

async fn until(what: &str, f: impl AsyncFn() -> bool) {
    assert!(
        wait_until(Duration::from_secs(60), || f()).await.is_some(),
        "timed out waiting until {what}"
    );
}

/// Runs headless Chromium with `args` (then `url`), killed after 60 s; its stdout
/// goes to `out`.
fn chromium(profile: &Path, args: &[String], url: &str, out: &Path) {
    let stdout = std::fs::File::create(out).unwrap();
    let stderr = out.with_extension("stderr");
    let mut child = std::process::Command::new(require_tool("chromium"))
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(stdout)
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("chromium did not start");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(status.success(), "chromium {args:?} failed: {log}");
}

/// What tests/browser/status_page.py reads from `file` (`dom` or `png`).
fn read(what: &str, file: &Path) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/status_page.py");
    let out = std::process::Command::new(require_tool("python3"))
        .args([script, what])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Brings app1's answers to eu-central-1 as both agents see them; returns eu-west-1's agent.
async fn failed_over(f: &mut Fixture) -> (AgentProcess, AgentProcess) {
    let west = agent(f, "eu-west-1", "PRIMARY");
    let central = agent(f, "eu-central-1", "SECONDARY");
    until(
        "both checks are healthy as Route 53 sees them in eu-west-1",
        async || {
            let regions = west.app("app1").await["dns"]["regions"].clone();
            regions
                .as_array()
                .is_some_and(|r| r.len() == 2 && r.iter().all(|r| r["route53"] == "healthy"))
        },
    )
    .await;
    let regions = west.app("app1").await["dns"]["regions"].clone();
    let primary = regions.as_array().unwrap().iter().find(|r| r["here"] == true).unwrap()["healthCheckId"]
        .as_str()
        .unwrap()
        .to_owned();
    f.moto
        .cmd(json!({"cmd": "check_status", "id": primary, "status": "Failure"}));
    until("answers go to eu-central-1 and app1 is unhealthy here", async || {
        let app1 = west.app("app1").await;
        app1["dns"]["shares"]["eu-central-1"] == 1.0 && app1["verdict"] == "unhealthy"
    })
    .await;
    (west, central)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_renders_in_chromium_with_a_row_per_app_every_region_and_the_dns_answer() {
    require_tool("chromium");
    let mut f = fixture();
    let (west, _central) = failed_over(&mut f).await;
    let url = format!("http://{}/", west.admin);
    let dir = tempfile::tempdir().unwrap();

    // The DOM as Chromium built it.
    let dom_file = dir.path().join("page.html");
    chromium(&dir.path().join("profile-dom"), &["--dump-dom".into()], &url, &dom_file);
    let dom = read("dom", &dom_file);
    assert_eq!(dom["regions"], json!(["eu-central-1", "eu-west-1"]), "{dom}");
    assert_eq!(
        dom["columns"],
        json!([
            "app",
            "verdict",
            "eu-central-1",
            "eu-west-1",
            "DNS answer",
            "last hour (verdict / DNS)"
        ])
    );
    let rows = dom["rows"].as_array().unwrap();
    let apps: Vec<&str> = rows.iter().map(|r| r["app"].as_str().unwrap()).collect();
    assert_eq!(apps, ["app1", "app2"], "{dom}");
    let cells = |i: usize| -> Vec<String> {
        rows[i]["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    };
    let app1 = cells(0);
    assert!(app1[1].starts_with("UNHEALTHY"), "{app1:?}");
    assert_eq!(app1[2], "healthy failover SECONDARY", "{app1:?}");
    assert_eq!(app1[3], "unhealthy failover PRIMARY this agent", "{app1:?}");
    assert_eq!(rows[0]["classes"][3], "region r-bad here");
    assert!(
        app1[4].starts_with("-> eu-central-1 (primary eu-west-1 unhealthy, secondary eu-central-1 healthy) for "),
        "{app1:?}"
    );
    let app2 = cells(1);
    assert_eq!(app2[2..5], ["-", "-", "-"], "{app2:?}");
    for r in rows {
        assert_eq!(r["svgs"], 1, "one strip per app: {r}");
        assert!(r["rects"].as_u64().unwrap() >= 2, "the strip has its lanes: {r}");
    }
    assert!(dom["legend"].as_str().unwrap().contains("eu-central-1"), "{dom}");

    // A screenshot: the window's size, and not blank.
    let shot = std::env::var_os("STATUS_PAGE_SHOT")
        .map(Into::into)
        .unwrap_or_else(|| dir.path().join("page.png"));
    let args = [
        format!("--window-size={},{}", SIZE.0, SIZE.1),
        format!("--screenshot={}", shot.display()),
    ];
    chromium(
        &dir.path().join("profile-shot"),
        &args,
        &url,
        &dir.path().join("shot.out"),
    );
    let png = read("png", &shot);
    assert_eq!(
        (png["width"].as_u64(), png["height"].as_u64()),
        (Some(SIZE.0), Some(SIZE.1))
    );
    assert!(png["colours"].as_u64().unwrap() > 20, "a blank page? {png}");
    for (colour, what) in [
        ("#cf222e", "the UNHEALTHY badge"),
        ("#ffebe9", "the unhealthy Region's cell"),
        ("#dafbe1", "the healthy Region's cell"),
        ("#d0d7de", "the strip's grey (before the agents started)"),
    ] {
        let pixels = png["counts"][colour].as_u64().unwrap_or(0);
        assert!(pixels > 50, "{what} ({colour}) is not on the screenshot: {png}");
    }
}
