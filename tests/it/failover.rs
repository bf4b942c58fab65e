//! Detection, recovery and start-up grace against real pods on loopback.

use crate::support::{config, wait_until, TestAgent};
use failover_agent::cli::demo::pod::Mode;
use failover_agent::cli::demo::pod::Pod;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const INTERVAL: f64 = 0.5;
const TIMEOUT: f64 = 0.25;
/// Scheduling slack on a busy 2-core CI machine. The budgets themselves are exact.
const SLACK: Duration = Duration::from_millis(750);
/// Timer granularity allowance for lower bounds.
const EPS: Duration = Duration::from_millis(60);

async fn pods(n: usize) -> Vec<Pod> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(Pod::start(LOCAL).await.unwrap());
    }
    v
}

fn urls(p: &[Pod]) -> Vec<String> {
    p.iter().map(Pod::url).collect()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Samples `app` every 20 ms in the background and records any non-200 answer.
fn watch_stays_healthy(
    agent: &TestAgent,
    app: &'static str,
) -> (Arc<AtomicBool>, tokio::task::JoinHandle<Vec<(u16, String)>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let (s, addr) = (stop.clone(), agent.health);
    let task = tokio::spawn(async move {
        let mut bad = Vec::new();
        let mut samples = 0;
        while !s.load(Ordering::Relaxed) {
            let (code, body) = crate::support::get(addr, &format!("/health/{app}")).await;
            samples += 1;
            if code != 200 {
                bad.push((code, body));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(samples > 10, "too few samples of {app}: {samples}");
        bad
    });
    (stop, task)
}

/// Kills app1's pods with `mode` and checks app1 turns 503 within
/// interval × fallCount (+ timeout when probes hang), while app2 answers 200 at
/// every sample; then brings them back and checks recovery takes riseCount samples.
async fn kill_and_recover(mode: Mode) {
    let (fall, rise) = (2u32, 3u32);
    let (p1, p2) = (pods(2).await, pods(1).await);
    let yaml = config(
        &[("app1", urls(&p1)), ("app2", urls(&p2))],
        &format!("{{ intervalSeconds: {INTERVAL}, timeoutSeconds: {TIMEOUT} }}"),
        &format!("{{ minHealthyEndpoints: 1, fallCount: {fall}, riseCount: {rise} }}"),
    );
    let agent = TestAgent::start(&yaml).await;
    let both_up = wait_until(secs(5.0), || async {
        agent.health("app1").await.0 == 200 && agent.health("app2").await.0 == 200
    })
    .await;
    assert!(both_up.is_some(), "apps never became healthy");
    // Let every endpoint reach Up, so the kill starts from a settled state.
    tokio::time::sleep(secs(INTERVAL * rise as f64 + 0.1)).await;

    let (stop, app2_samples) = watch_stays_healthy(&agent, "app2");
    p1.iter().for_each(|p| p.set_mode(mode));
    let budget = secs(INTERVAL * fall as f64 + TIMEOUT);
    let took = wait_until(budget + SLACK * 2, || async { agent.health("app1").await.0 == 503 })
        .await
        .expect("app1 never turned 503");
    assert!(
        took <= budget + SLACK,
        "app1 took {took:?} to turn 503; budget interval × fallCount + timeout = {budget:?}"
    );
    assert!(
        took + EPS >= secs(INTERVAL * (fall - 1) as f64),
        "app1 turned 503 after {took:?}, faster than {fall} samples allow"
    );
    let (code, body) = agent.health("app1").await;
    assert_eq!(code, 503);
    assert_eq!(body, "UNHEALTHY app1: 0/2 endpoints healthy, need 1\n");
    let view: serde_json::Value =
        serde_json::from_str(&crate::support::get(agent.admin, "/apps/app1").await.1).unwrap();
    let expected = if mode == Mode::Hanging {
        "timeout"
    } else {
        "connect_error"
    };
    assert_eq!(view["endpoints"][0]["lastOutcome"], expected, "{view:#}");

    // Recovery needs riseCount successes in a row. A probe that was hanging when
    // the pods came back is answered at once, so the first success can land up to
    // one timeout before the next probe's due time.
    p1.iter().for_each(|p| p.set_mode(Mode::Healthy));
    let in_flight = if mode == Mode::Hanging {
        secs(TIMEOUT)
    } else {
        Duration::ZERO
    };
    let rise_budget = secs(INTERVAL * rise as f64 + TIMEOUT);
    let took = wait_until(rise_budget + SLACK * 2, || async {
        agent.health("app1").await.0 == 200
    })
    .await
    .expect("app1 never recovered");
    assert!(
        took + EPS + in_flight >= secs(INTERVAL * (rise - 1) as f64),
        "app1 recovered after {took:?}, faster than riseCount {rise} allows"
    );
    assert!(
        took <= rise_budget + SLACK,
        "app1 took {took:?} to recover; budget {rise_budget:?}"
    );
    assert_eq!(agent.health("app1").await.1, "HEALTHY app1\n");

    stop.store(true, Ordering::Relaxed);
    let bad = app2_samples.await.unwrap();
    assert!(bad.is_empty(), "app2 was not 200 at every sample: {bad:?}");
    let view: serde_json::Value =
        serde_json::from_str(&crate::support::get(agent.admin, "/apps/app1").await.1).unwrap();
    let to: Vec<&str> = view["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    assert_eq!(to.last().copied(), Some("healthy"));
    assert!(to.contains(&"unhealthy"), "{view:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_pods_fail_only_their_app_within_budget_and_recover_after_rise_count() {
    kill_and_recover(Mode::Down).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_pods_fail_their_app_within_interval_times_fall_plus_timeout() {
    kill_and_recover(Mode::Hanging).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pod_down_fails_an_app_that_needs_two_and_the_reason_says_so() {
    let p = pods(2).await;
    let yaml = config(
        &[("app1", urls(&p))],
        "{ intervalSeconds: 0.3, timeoutSeconds: 0.2 }",
        "{ minHealthyEndpoints: 2, fallCount: 2, riseCount: 1 }",
    );
    let agent = TestAgent::start(&yaml).await;
    assert!(
        wait_until(secs(5.0), || async { agent.health("app1").await.1 == "HEALTHY app1\n" })
            .await
            .is_some()
    );
    p[1].set_mode(Mode::Failing);
    let body = "UNHEALTHY app1: 1/2 endpoints healthy, need 2\n";
    assert!(
        wait_until(secs(5.0), || async { agent.health("app1").await.1 == body })
            .await
            .is_some(),
        "{:?}",
        agent.health("app1").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_grace_waits_for_fall_count_samples_and_forgives_a_slow_start() {
    let (fall, interval) = (3u32, 0.3);
    // app1's only pod is down from the start; app2's pod comes up 0.4 s late.
    let (dead, slow) = (pods(1).await, pods(1).await);
    dead[0].set_mode(Mode::Down);
    slow[0].set_mode(Mode::Down);
    let yaml = config(
        &[("app1", urls(&dead)), ("app2", urls(&slow))],
        &format!("{{ intervalSeconds: {interval}, timeoutSeconds: 0.2 }}"),
        &format!("{{ fallCount: {fall}, riseCount: 2, startupGraceSeconds: 30 }}"),
    );
    let agent = TestAgent::start(&yaml).await;
    let (stop, app2_samples) = watch_stays_healthy(&agent, "app2");
    let (code, body) = agent.health("app1").await;
    assert_eq!(
        code, 200,
        "an app must not be reported down before it has had samples: {body}"
    );
    assert!(body.starts_with("HEALTHY app1"));
    let slow_pod = &slow[0];
    tokio::time::sleep(secs(0.4)).await;
    slow_pod.set_mode(Mode::Healthy);
    // app1 goes down after fallCount samples, long before the 30 s grace ends.
    let took = wait_until(secs(5.0), || async { agent.health("app1").await.0 == 503 })
        .await
        .expect("dead app never reported down");
    assert!(
        took + secs(0.4) + EPS >= secs(interval * (fall - 1) as f64),
        "down after {took:?}: fewer than {fall} samples"
    );
    assert!(
        took + secs(0.4) <= secs(interval * fall as f64 + 0.2) + SLACK,
        "down only after {took:?}"
    );
    tokio::time::sleep(secs(1.0)).await;
    stop.store(true, Ordering::Relaxed);
    assert!(
        app2_samples.await.unwrap().is_empty(),
        "a slow-starting app was reported down during grace"
    );
}
