//! Tests of `aws/call.rs`.

use super::*;
use std::collections::BTreeSet;

#[test]
fn the_iam_policy_allows_exactly_the_apis_the_agent_calls() {
    let policy: serde_json::Value = serde_json::from_str(include_str!("../../deploy/iam/policy.json")).unwrap();
    let granted: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
        })
        .collect();
    let used: BTreeSet<String> = Api::ALL
        .iter()
        .map(|a| {
            let prefix = match a.service() {
                "elbv2" => "elasticloadbalancing",
                s => s,
            };
            format!("{prefix}:{}", a.as_str())
        })
        .collect();
    assert_eq!(granted, used);
}

#[test]
fn throttle_codes_and_5xx_are_retried_other_errors_are_not() {
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;
    let err = |code: &str, status: u16| {
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        let e = aws_sdk_route53::operation::create_health_check::CreateHealthCheckError::generic(
            ErrorMetadata::builder().code(code).message("m").build(),
        );
        classify(Api::CreateHealthCheck, &SdkError::service_error(e, raw), 1)
    };
    assert_eq!(err("Throttling", 400).kind, Kind::Throttled);
    assert_eq!(err("PriorRequestNotComplete", 400).kind, Kind::Throttled);
    assert_eq!(err("ServiceUnavailable", 503).kind, Kind::Transient);
    assert_eq!(err("InvalidInput", 400).kind, Kind::Fatal);
    assert!(err("HealthCheckAlreadyExists", 409).is("HealthCheckAlreadyExists"));
}
