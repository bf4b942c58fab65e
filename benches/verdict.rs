//! Verdict change after an observation, inside the agent: the time from a probe
//! result reaching `App::observe` to the new public answer being published.
//! Prints figures; `cargo bench --bench verdict`.

use failover_agent::model::{ProbeOutcome, ProbeResult};
use failover_agent::spec as config;
use failover_agent::telemetry::Metrics;
use failover_agent::verdict::store::App;
use std::time::{Duration, Instant};

fn main() {
    let eps: Vec<String> = (0..10)
        .map(|i| format!("\"http://127.0.0.1:{}/healthz\"", 20000 + i))
        .collect();
    let yaml = format!(
        "region: bench\napps:\n  - name: app1\n    endpoints: [{}]\n    policy: {{ minHealthyEndpoints: 10, fallCount: 2, riseCount: 2, startupGraceSeconds: 0 }}\n",
        eps.join(", ")
    );
    let cfg = config::parse(&yaml).expect("bench config");
    let metrics = Metrics::new("bench").expect("metrics");
    let app = App::new(
        &cfg.apps[0],
        metrics.for_app(&cfg.apps[0].key),
        tokio::time::Instant::now(),
    );
    let result = |ok| ProbeResult {
        outcome: if ok {
            ProbeOutcome::Success
        } else {
            ProbeOutcome::ConnectError
        },
        latency: Duration::from_micros(300),
        status: if ok { Some(200) } else { None },
    };
    let (mut all, mut changes) = (Vec::new(), Vec::new());
    for round in 0..100_000u64 {
        // Endpoint 0 flips every 4 rounds, so the verdict changes every few samples.
        let ok0 = (round / 4) % 2 == 0;
        for ep in 0..10 {
            let before = app.public();
            let t = Instant::now();
            app.observe(ep, result(ep != 0 || ok0), tokio::time::Instant::now());
            let after = app.public();
            let d = t.elapsed();
            all.push(d);
            if !std::sync::Arc::ptr_eq(&before, &after) {
                changes.push(d);
            }
        }
    }
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        v[((v.len() as f64 - 1.0) * p) as usize]
    };
    let n = changes.len();
    println!(
        "verdict change after an observation: p50 {:?}, p99 {:?}, max {:?} over {n} changes; any observation p99 {:?}",
        pct(&mut changes, 0.5),
        pct(&mut changes, 0.99),
        pct(&mut changes, 1.0),
        pct(&mut all, 0.99),
    );
}
