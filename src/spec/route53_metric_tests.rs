//! Tests of `spec/route53_metric.rs`.

use super::*;

fn block(yaml: &str) -> HealthCheckBlock {
    serde_yaml::from_str(yaml).expect("a healthCheck block")
}

#[test]
fn http_is_the_default_and_metric_keys_need_the_metric_type() {
    let mut errs = Vec::new();
    assert_eq!(validate("apps[0].route53", &block("{}"), "eu-west-1", &mut errs), None);
    assert!(errs.is_empty());
    validate("a", &block("{ evaluationPeriods: 3 }"), "eu-west-1", &mut errs);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("a.healthCheck.evaluationPeriods: only applies to type: CLOUDWATCH_METRIC"));
}

#[test]
fn a_metric_check_defaults_to_last_known_status_and_two_periods() {
    let mut errs = Vec::new();
    let m = validate("a", &block("{ type: CLOUDWATCH_METRIC }"), "eu-west-1", &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(
        m,
        Some(MetricCheck {
            region: "eu-west-1".into(),
            insufficient_data: InsufficientData::LastKnownStatus,
            evaluation_periods: 2,
        })
    );
    let y = "{ type: CLOUDWATCH_METRIC, insufficientDataHealthStatus: Unhealthy, evaluationPeriods: 5 }";
    let m = validate("a", &block(y), "eu-west-1", &mut errs).expect("a metric check");
    assert_eq!(
        (m.insufficient_data, m.evaluation_periods),
        (InsufficientData::Unhealthy, 5)
    );
}

#[test]
fn http_keys_with_a_metric_check_are_refused_by_name() {
    let mut errs = Vec::new();
    let y = "{ type: CLOUDWATCH_METRIC, protocol: HTTPS, port: 443, searchString: x, intervalSeconds: 30, evaluationPeriods: 11 }";
    validate("apps[1].route53", &block(y), "eu-west-1", &mut errs);
    let keys: Vec<&str> = errs.iter().filter_map(|e| e.split(':').next()).collect();
    assert_eq!(
        keys,
        [
            "apps[1].route53.healthCheck.protocol",
            "apps[1].route53.healthCheck.port",
            "apps[1].route53.healthCheck.searchString",
            "apps[1].route53.healthCheck.intervalSeconds",
            "apps[1].route53.healthCheck.evaluationPeriods",
        ]
    );
    assert!(errs[0].contains("remove protocol, or use type: HTTP"), "{}", errs[0]);
}

#[test]
fn unknown_values_are_refused_when_parsing() {
    assert!(serde_yaml::from_str::<HealthCheckBlock>("{ type: TCP }").is_err());
    assert!(serde_yaml::from_str::<HealthCheckBlock>("{ insufficientDataHealthStatus: Maybe }").is_err());
    assert_eq!(InsufficientData::parse("Healthy"), Some(InsufficientData::Healthy));
}
