//! Tests of `aws/metrics.rs`.

use super::*;
use crate::aws::call::Kind;
use prometheus::Encoder;

#[test]
fn a_failed_call_is_counted_under_its_metric_label() {
    let r = Registry::new();
    let m = AwsMetrics::register(&r).unwrap();
    let e = CallError {
        api: Api::ListHealthChecks,
        kind: Kind::Fatal,
        code: Some("AccessDenied".into()),
        message: "free-form text".into(),
        attempts: 1,
    };
    m.error(&e);
    let mut buf = Vec::new();
    prometheus::TextEncoder::new().encode(&r.gather(), &mut buf).unwrap();
    let text = String::from_utf8(buf).unwrap();
    let line = format!("failover_agent_aws_errors_total{{api=\"{}\"}} 1", e.metric_label());
    assert!(text.contains(&line), "{text}");
    assert_eq!(e.metric_label(), "ListHealthChecks");
    assert!(!text.contains("AccessDenied") && !text.contains("free-form"), "{text}");
}
