//! The README's first command: breaking app1 in one Region moves only app1 there.

use crate::support::{get, request, wait_until};
use failover_agent::cli::demo;
use failover_agent::cli::demo::Ports;
use std::net::TcpListener;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A base port with five free consecutive ports after it.
fn free_base() -> u16 {
    for base in (20000..60000).step_by(97) {
        let all: Vec<_> = (0..5).map(|i| TcpListener::bind(("127.0.0.1", base + i))).collect();
        if all.iter().all(|l| l.is_ok()) {
            return base;
        }
    }
    panic!("no five free consecutive ports");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_break_moves_only_app1_in_region_1() {
    let base = free_base();
    let ports = Ports { base };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(demo::run(Ports { base }, shutdown.clone()));
    let urls = [
        (ports.health(0), "app1"),
        (ports.health(0), "app2"),
        (ports.health(1), "app1"),
        (ports.health(1), "app2"),
    ];
    let all_up = wait_until(Duration::from_secs(10), || async {
        for (h, app) in urls {
            if get(h, &format!("/health/{app}")).await.0 != 200 {
                return false;
            }
        }
        true
    })
    .await;
    assert!(all_up.is_some(), "demo apps never all healthy");

    let (code, body) = request(ports.control(), "POST", "/break/eu-west-1/app1").await;
    assert_eq!(code, 200, "{body}");
    let others_bad = std::sync::Mutex::new(Vec::new());
    let moved = wait_until(Duration::from_secs(10), || async {
        for (h, app) in &urls[1..] {
            let r = get(*h, &format!("/health/{app}")).await;
            if r.0 != 200 {
                others_bad.lock().unwrap().push(r);
            }
        }
        get(urls[0].0, "/health/app1").await.0 == 503
    })
    .await;
    let others_bad = others_bad.into_inner().unwrap();
    assert!(moved.is_some(), "app1 in eu-west-1 never turned 503");
    assert!(others_bad.is_empty(), "other verdicts moved: {others_bad:?}");

    request(ports.control(), "POST", "/fix/eu-west-1/app1").await;
    let back = wait_until(Duration::from_secs(10), || async {
        get(urls[0].0, "/health/app1").await.0 == 200
    })
    .await;
    assert!(back.is_some(), "app1 never recovered after fix");
    shutdown.cancel();
    task.await.unwrap().unwrap();
}
