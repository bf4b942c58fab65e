//! The publisher's pure parts: which verdicts, and how they are batched.

use super::*;
use crate::publish::route53::plan::tests::app;
use crate::spec::route53::metric::{InsufficientData, MetricCheck};

fn key(i: usize) -> AppKey {
    AppKey {
        namespace: "team".into(),
        name: format!("app{i}"),
    }
}

#[test]
fn only_metric_apps_with_a_verdict_are_published() {
    let mut metric = app("app1");
    metric.settings.metric = Some(MetricCheck {
        region: "eu-west-1".into(),
        insufficient_data: InsufficientData::LastKnownStatus,
        evaluation_periods: 2,
    });
    let mut silent = metric.clone();
    silent.key.name = "app3".into();
    let desired = Desired {
        apps: vec![metric, app("app2"), silent],
        hold: Default::default(),
    };
    let verdicts: Verdicts = Arc::new(|k: &AppKey| (k.name != "app3").then_some(false));
    let w = wanted(&desired, &verdicts);
    assert_eq!(w, BTreeMap::from([(key(1), false)]));
}

#[test]
fn a_thousand_apps_a_call_with_cluster_and_app_dimensions() {
    let now: BTreeMap<AppKey, bool> = (0..2500).map(|i| (key(i), i % 2 == 0)).collect();
    let b = batches("prod-eu", &now);
    assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [1000, 1000, 500]);
    let first = &b[0][0];
    assert_eq!(first.metric_name(), Some("AppHealthy"));
    let dims: Vec<(&str, &str)> = first
        .dimensions()
        .iter()
        .map(|d| (d.name().unwrap_or(""), d.value().unwrap_or("")))
        .collect();
    assert_eq!(dims, [("Cluster", "prod-eu"), ("App", "team/app0")]);
    assert_eq!(first.value(), Some(1.0));
    assert_eq!(b[0][1].value(), Some(0.0), "team/app1 is unhealthy");
}
