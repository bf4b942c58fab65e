//! Fairness between apps on real sockets: an app whose endpoints all hang does not
//! hold the agent's probe slots, so another app's probes still run on time.

use crate::support::{wait_until, TestAgent};
use failover_agent::cli::demo::pod::Mode;
use failover_agent::cli::demo::pod::Pod;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_of_hanging_endpoints_does_not_starve_another_app() {
    // 40 pods that accept and never answer, each on its own loopback address.
    let first = Pod::start_at("127.0.3.1:0".parse().unwrap()).await.unwrap();
    let port = first.addr.port();
    let mut hanging = vec![first];
    for i in 2..=40u8 {
        hanging.push(Pod::start_at(SocketAddr::from(([127, 0, 3, i], port))).await.unwrap());
    }
    for p in &hanging {
        p.set_mode(Mode::Hanging);
    }
    let web = Pod::start("127.0.3.100".parse().unwrap()).await.unwrap();
    let hang_eps: Vec<String> = hanging.iter().map(|p| format!("\"{}\"", p.url())).collect();
    // Two probe slots in all. The hanging app's probes each take their whole 5 s
    // timeout: before fairness they held both slots and web was probed every few seconds.
    let yaml = format!(
        "region: test-1\nprobeConcurrency: 2\napps:\n  - name: hang\n    endpoints: [{}]\n    probe: {{ intervalSeconds: 5, timeoutSeconds: 5 }}\n  - name: web\n    endpoints: [\"{}\"]\n    probe: {{ intervalSeconds: 0.5, timeoutSeconds: 0.25 }}\n    policy: {{ fallCount: 2, riseCount: 1 }}\n",
        hang_eps.join(", "),
        web.url()
    );
    let agent = TestAgent::start(&yaml).await;
    // Let the hanging app's probes fill what they can.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(agent.health("web").await.0, 200);
    let died = Instant::now();
    web.set_mode(Mode::Down);
    // interval × fallCount + timeout = 1.25 s, plus at most one 1 s slot hold.
    let took = wait_until(Duration::from_secs(10), || async { agent.health("web").await.0 == 503 }).await;
    let took = took.map(|_| died.elapsed());
    eprintln!("web's pod died beside 40 hanging endpoints and 2 probe slots: 503 after {took:?}");
    assert!(
        took.is_some_and(|t| t < Duration::from_secs(4)),
        "web was judged late: {took:?}"
    );
    agent.stop().await;
}
