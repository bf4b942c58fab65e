//! AWS access, shared by the ALB signal ([`targets`]) and the Route 53
//! reconciler ([`crate::publish::route53`]).
//!
//! Credentials and endpoints come from aws-config's standard chain: environment
//! variables, IRSA (web identity), EKS Pod Identity, then the instance role. The
//! standard `AWS_ENDPOINT_URL` and its per-service variants
//! (`AWS_ENDPOINT_URL_ROUTE_53`, `AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2`,
//! `AWS_ENDPOINT_URL_CLOUDWATCH`) are
//! honoured, which is how the tests point the agent at moto.

mod bucket;
mod call;
pub mod lbs;
mod metrics;

pub use bucket::TokenBucket;
pub use call::{Api, Budget, CallError, Caller, Kind};
pub use metrics::{AwsMetrics, ChangeKind};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use std::time::Duration;

/// The SDK clients the agent uses.
#[derive(Clone, Debug)]
pub struct Clients {
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub route53: aws_sdk_route53::Client,
    /// In us-east-1, where Route 53 publishes its checks' statuses, whatever the
    /// agent's Region.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// In the agent's own Region: the verdicts it publishes and the alarms of
    /// `CLOUDWATCH_METRIC` checks (an alarm must be in the Region its check names).
    pub cloudwatch_here: aws_sdk_cloudwatch::Client,
}

/// The Region from the SDK's standard chain (`AWS_REGION`, `AWS_DEFAULT_REGION`, the
/// profile, then the instance metadata), for agents not told their Region.
pub async fn region_from_chain() -> Option<String> {
    use aws_config::meta::region::ProvideRegion;
    aws_config::default_provider::region::default_provider()
        .region()
        .await
        .map(|r| r.to_string())
}

/// How long connecting to an AWS endpoint may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt of a call may take (sending, waiting, reading the answer).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one SDK operation may take in all, credentials included. The SDK makes
/// one attempt per operation; [`Caller`] makes up to `Budget::attempts` of them.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// Loads the SDK configuration for `region` from the standard chain.
///
/// The SDK's own retries are off: [`Caller`] retries instead, so that every
/// attempt takes a token from the agent's bucket and every throttle is counted.
/// Every call is bounded: [`CONNECT_TIMEOUT`], [`ATTEMPT_TIMEOUT`] and
/// [`OPERATION_TIMEOUT`] apply to each attempt of every client made here.
pub async fn load(region: &str) -> Clients {
    crate::tls::install_crypto_provider();
    let cfg = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await;
    Clients {
        elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&cfg),
        route53: aws_sdk_route53::Client::new(&cfg),
        cloudwatch: aws_sdk_cloudwatch::Client::from_conf(
            aws_sdk_cloudwatch::config::Builder::from(&cfg)
                .region(Region::new(ROUTE53_METRICS_REGION))
                .build(),
        ),
        cloudwatch_here: aws_sdk_cloudwatch::Client::new(&cfg),
    }
}

/// The Region whose CloudWatch holds Route 53's metrics.
pub const ROUTE53_METRICS_REGION: &str = "us-east-1";

/// The `source` label of the ALB signal in `failover_agent_source_stale`.
pub const ELBV2_SOURCE: &str = "aws_elbv2";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_client_has_connect_attempt_and_operation_timeouts() {
        let c = load("eu-west-1").await;
        let cw = c.cloudwatch.config();
        assert_eq!(cw.region().map(|r| r.as_ref()), Some(ROUTE53_METRICS_REGION));
        let here = c.cloudwatch_here.config().region().map(|r| r.to_string());
        assert_eq!(here.as_deref(), Some("eu-west-1"));
        for t in [
            c.route53.config().timeout_config(),
            c.elbv2.config().timeout_config(),
            cw.timeout_config(),
            c.cloudwatch_here.config().timeout_config(),
        ] {
            let t = t.expect("a timeout config");
            assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
            assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
            assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        }
    }
}
