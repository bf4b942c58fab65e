//! Tests of `cluster/node/probe_series.rs`.

use super::*;
use crate::model::{ProbeOutcome, Target};
use crate::spec::policy::Policy;
use std::time::Duration;

fn job(app: &str, ip: &str) -> Job<Tag> {
    let addr = format!("{ip}:80").parse().unwrap();
    Job {
        target: Target::Tcp { addr },
        spec: Arc::new(crate::spec::ProbeSpec {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            expected_status: None,
            body_contains: None,
            grpc_service: None,
            tls: None,
        }),
        group: app.into(),
        tag: Tag {
            app: app.into(),
            ip: ip.parse().unwrap(),
            policy: Policy {
                min_healthy: crate::spec::policy::MinHealthy::Count(1),
                fall_count: 1,
                rise_count: 1,
                min_healthy_targets: crate::spec::policy::MinHealthy::Count(1),
            },
        },
    }
}

/// `(namespace, app)` of every probe sample in `/metrics`.
fn probed(m: &Metrics) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for f in m.registry.gather() {
        // The histogram's count: it exists from the first job; outcome counters
        // appear with their first outcome.
        if f.name() != "failover_agent_probe_duration_seconds" {
            continue;
        }
        for s in f.get_metric() {
            let l = |n: &str| {
                s.get_label()
                    .iter()
                    .find(|l| l.name() == n)
                    .map(|l| l.value().to_string())
                    .unwrap_or_default()
            };
            {
                out.push((l("namespace"), l("app"), s.get_histogram().get_sample_count()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_node_exports_probe_series_only_for_the_apps_it_probes() {
    let m = Metrics::new("r").unwrap();
    let series = ProbeSeries::new(m.clone());
    let ok = ProbeResult {
        outcome: ProbeOutcome::Success,
        latency: Duration::from_millis(3),
        status: Some(200),
    };
    assert!(probed(&m).is_empty(), "no series before any job");
    series.retain(&[
        job("team/web", "10.0.0.1"),
        job("team/web", "10.0.0.2"),
        job("shop/db", "10.0.0.3"),
    ]);
    series.observe("team/web", &ok);
    series.observe("team/web", &ok);
    series.observe("shop/db", &ok);
    series.observe("team/elsewhere", &ok);
    assert_eq!(
        probed(&m),
        [("shop".into(), "db".into(), 1), ("team".into(), "web".into(), 2)]
    );

    // db's endpoint leaves this node: its series go, and a probe of it that was
    // in flight is not counted anywhere.
    series.retain(&[job("team/web", "10.0.0.1")]);
    series.observe("shop/db", &ok);
    series.observe("team/web", &ok);
    assert_eq!(probed(&m), [("team".into(), "web".into(), 3)], "web's counts are kept");
    let text = String::from_utf8(m.encode()).unwrap();
    assert!(!text.contains("app=\"db\""), "{text}");

    // Back on this node: it starts again from 0.
    series.retain(&[job("team/web", "10.0.0.1"), job("shop/db", "10.0.0.3")]);
    assert_eq!(
        probed(&m),
        [("shop".into(), "db".into(), 0), ("team".into(), "web".into(), 3)]
    );
    series.retain(&[]);
    assert!(probed(&m).is_empty());
    let text = String::from_utf8(m.encode()).unwrap();
    assert!(!text.contains("failover_agent_probe_duration_seconds_count"), "{text}");
}
