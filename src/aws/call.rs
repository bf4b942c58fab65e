//! One way to call AWS: take a token from the API's bucket, call, classify the
//! error, back off and retry what AWS says is worth retrying, and count it all.
//!
//! The SDK's own retries are turned off (see [`super::load`]) so that every
//! attempt passes through the bucket and every throttle is counted.

use super::bucket::TokenBucket;
use super::metrics::AwsMetrics;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::future::Future;
use std::time::Duration;

/// The AWS operations the agent uses. A metric label, so the set is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Api {
    DescribeTargetHealth,
    DescribeLoadBalancers,
    ListHealthChecks,
    ListTagsForResources,
    ChangeTagsForResource,
    CreateHealthCheck,
    UpdateHealthCheck,
    DeleteHealthCheck,
    GetHealthCheckStatus,
    ListResourceRecordSets,
    ChangeResourceRecordSets,
    /// CloudWatch, for Route 53's `HealthCheckStatus` metric (us-east-1).
    GetMetricData,
    /// Route 53's health-check quota and usage (`MAX_HEALTH_CHECKS_BY_OWNER`), for
    /// the quota preflight; its own bucket.
    GetAccountLimit,
    /// CloudWatch in the agent's Region: the verdicts of the apps with
    /// `CLOUDWATCH_METRIC` checks (namespace `FailoverAgent`).
    PutMetricData,
    /// CloudWatch in the agent's Region: the alarms of `CLOUDWATCH_METRIC` checks.
    DescribeAlarms,
    PutMetricAlarm,
    DeleteAlarms,
    /// Re-tags an alarm brought in line (`PutMetricAlarm` tags only a new one).
    TagResource,
    /// Only `route53 answer` calls this (to find NAME's zone): not in [`Api::ALL`],
    /// which is what the agent calls and its IAM policy grants.
    ListHostedZonesByName,
    /// Only `route53 answer --zone-id` calls this: not in [`Api::ALL`].
    GetHostedZone,
}

impl Api {
    /// Every API the agent calls (the command-line-only reads are left out).
    pub const ALL: [Api; 18] = [
        Api::DescribeTargetHealth,
        Api::DescribeLoadBalancers,
        Api::ListHealthChecks,
        Api::ListTagsForResources,
        Api::ChangeTagsForResource,
        Api::CreateHealthCheck,
        Api::UpdateHealthCheck,
        Api::DeleteHealthCheck,
        Api::GetHealthCheckStatus,
        Api::ListResourceRecordSets,
        Api::ChangeResourceRecordSets,
        Api::GetMetricData,
        Api::GetAccountLimit,
        Api::PutMetricData,
        Api::DescribeAlarms,
        Api::PutMetricAlarm,
        Api::DeleteAlarms,
        Api::TagResource,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Api::DescribeTargetHealth => "DescribeTargetHealth",
            Api::DescribeLoadBalancers => "DescribeLoadBalancers",
            Api::ListHealthChecks => "ListHealthChecks",
            Api::ListTagsForResources => "ListTagsForResources",
            Api::ChangeTagsForResource => "ChangeTagsForResource",
            Api::CreateHealthCheck => "CreateHealthCheck",
            Api::UpdateHealthCheck => "UpdateHealthCheck",
            Api::DeleteHealthCheck => "DeleteHealthCheck",
            Api::GetHealthCheckStatus => "GetHealthCheckStatus",
            Api::ListResourceRecordSets => "ListResourceRecordSets",
            Api::ChangeResourceRecordSets => "ChangeResourceRecordSets",
            Api::GetMetricData => "GetMetricData",
            Api::GetAccountLimit => "GetAccountLimit",
            Api::PutMetricData => "PutMetricData",
            Api::DescribeAlarms => "DescribeAlarms",
            Api::PutMetricAlarm => "PutMetricAlarm",
            Api::DeleteAlarms => "DeleteAlarms",
            Api::TagResource => "TagResource",
            Api::ListHostedZonesByName => "ListHostedZonesByName",
            Api::GetHostedZone => "GetHostedZone",
        }
    }

    pub fn service(self) -> &'static str {
        match self {
            Api::DescribeTargetHealth | Api::DescribeLoadBalancers => "elbv2",
            Api::GetMetricData
            | Api::PutMetricData
            | Api::DescribeAlarms
            | Api::PutMetricAlarm
            | Api::DeleteAlarms
            | Api::TagResource => "cloudwatch",
            _ => "route53",
        }
    }
}

/// How a failed attempt is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// AWS asked us to slow down (`Throttling`, `PriorRequestNotComplete`, ...): retried.
    Throttled,
    /// A timeout, a dropped connection or a 5xx: retried.
    Transient,
    /// The request itself is wrong or refused: not retried.
    Fatal,
}

/// A call that failed after its retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("AWS {} failed after {attempts} attempt(s): {}{message}", api.as_str(), code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct CallError {
    pub api: Api,
    pub kind: Kind,
    /// The AWS error code, when AWS answered.
    pub code: Option<String>,
    pub message: String,
    pub attempts: u32,
}

impl CallError {
    /// The label this failure is counted under in `aws_errors_total`: its API.
    /// From a closed set, never from AWS's free-form code or message.
    pub fn metric_label(&self) -> &'static str {
        self.api.as_str()
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// The agent's rate budget per API family. Defaults are a quarter of AWS's
/// account limits, because other tools in the account share them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// ELBv2 Describe calls (AWS: 10/s, burst 40). Default 2.5/s, burst 10.
    pub elbv2_rate: f64,
    pub elbv2_burst: u32,
    /// All Route 53 calls (AWS: about 10/s per account). Default 2.5/s, burst 10.
    pub route53_rate: f64,
    pub route53_burst: u32,
    /// `CreateHealthCheck` (AWS: 0.5/s). Default 0.5/s, burst 1: never faster than one every 2 s.
    pub create_check_rate: f64,
    /// `GetHealthCheckStatus` (AWS: 1/s). Default 0.5/s, burst 1.
    pub check_status_rate: f64,
    /// CloudWatch `GetMetricData` (AWS: 50/s). Default 1/s, burst 5. One call reads
    /// 500 checks' statuses.
    pub cloudwatch_rate: f64,
    /// CloudWatch `PutMetricData` (AWS: 500/s). Default 1/s, burst 5. One call carries
    /// up to 1,000 apps' verdicts, so one call a minute is the usual need.
    pub put_metric_rate: f64,
    /// CloudWatch alarm calls (`DescribeAlarms`, `PutMetricAlarm`, `DeleteAlarms`,
    /// `TagResource`; AWS: 3 to 9/s). Default 1/s, burst 5.
    pub alarms_rate: f64,
    /// Attempts per call, including the first. Default 5.
    pub attempts: u32,
    /// First backoff; doubled per retry, with full jitter, up to 20 s. Default 250 ms.
    pub backoff: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            elbv2_rate: 2.5,
            elbv2_burst: 10,
            route53_rate: 2.5,
            route53_burst: 10,
            create_check_rate: 0.5,
            check_status_rate: 0.5,
            cloudwatch_rate: 1.0,
            put_metric_rate: 1.0,
            alarms_rate: 1.0,
            attempts: 5,
            backoff: Duration::from_millis(250),
        }
    }
}

/// Rate-limited, retrying, counted access to AWS, shared by every app.
pub struct Caller {
    elbv2: TokenBucket,
    route53: TokenBucket,
    create_check: TokenBucket,
    check_status: TokenBucket,
    cloudwatch: TokenBucket,
    /// `GetAccountLimit`: one call every 5 s at most (the preflight reads it once per
    /// reconcile that creates checks, else every few minutes).
    account_limit: TokenBucket,
    put_metric: TokenBucket,
    alarms: TokenBucket,
    attempts: u32,
    backoff: Duration,
    metrics: AwsMetrics,
}

impl Caller {
    pub fn new(budget: Budget, metrics: AwsMetrics) -> Caller {
        Caller {
            elbv2: TokenBucket::new(budget.elbv2_rate, budget.elbv2_burst),
            route53: TokenBucket::new(budget.route53_rate, budget.route53_burst),
            create_check: TokenBucket::new(budget.create_check_rate, 1),
            check_status: TokenBucket::new(budget.check_status_rate, 1),
            cloudwatch: TokenBucket::new(budget.cloudwatch_rate, 5),
            account_limit: TokenBucket::new(0.2, 1),
            put_metric: TokenBucket::new(budget.put_metric_rate, 5),
            alarms: TokenBucket::new(budget.alarms_rate, 5),
            attempts: budget.attempts.max(1),
            backoff: budget.backoff,
            metrics,
        }
    }

    pub fn metrics(&self) -> &AwsMetrics {
        &self.metrics
    }

    /// Calls `op` until it succeeds, fails for good, or runs out of attempts.
    /// Every attempt first takes a token from the API's buckets.
    pub async fn call<T, E, R, F, Fut>(&self, api: Api, mut op: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: HasStatus + std::fmt::Debug,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.take(api).await;
            self.metrics.call(api);
            let err = match op().await {
                Ok(v) => return Ok(v),
                Err(e) => classify(api, &e, attempt),
            };
            match err.kind {
                Kind::Throttled => {
                    self.metrics.throttle(api);
                    self.bucket(api).drain().await;
                }
                Kind::Transient | Kind::Fatal => {}
            }
            if err.kind == Kind::Fatal || attempt >= self.attempts {
                self.metrics.error(&err);
                tracing::warn!(api = api.as_str(), code = err.code.as_deref().unwrap_or(""), attempts = attempt, error = %err.message, "AWS call failed");
                return Err(err);
            }
            let cap = self
                .backoff
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(Duration::from_secs(20));
            let wait = cap.mul_f64(0.5 + fastrand::f64() / 2.0);
            tracing::debug!(
                api = api.as_str(),
                code = err.code.as_deref().unwrap_or(""),
                attempt,
                wait_ms = wait.as_millis() as u64,
                "AWS call will be retried"
            );
            tokio::time::sleep(wait).await;
        }
    }

    fn bucket(&self, api: Api) -> &TokenBucket {
        match api {
            Api::PutMetricData => return &self.put_metric,
            Api::DescribeAlarms | Api::PutMetricAlarm | Api::DeleteAlarms | Api::TagResource => return &self.alarms,
            _ => {}
        }
        match api.service() {
            "elbv2" => &self.elbv2,
            "cloudwatch" => &self.cloudwatch,
            _ => &self.route53,
        }
    }

    async fn take(&self, api: Api) {
        match api {
            Api::CreateHealthCheck => self.create_check.take().await,
            Api::GetHealthCheckStatus => self.check_status.take().await,
            Api::GetAccountLimit => self.account_limit.take().await,
            _ => {}
        }
        self.bucket(api).take().await;
    }
}

/// The HTTP status of a raw response, when there was one.
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Error codes AWS uses to say "slow down and try again".
const THROTTLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "PriorRequestNotComplete",
    "SlowDown",
];

fn classify<E, R>(api: Api, e: &SdkError<E, R>, attempts: u32) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HasStatus + std::fmt::Debug,
{
    let (kind, code, message) = match e {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().map(str::to_owned);
            let message = ctx.err().message().unwrap_or("").to_owned();
            let status = ctx.raw().status_code();
            let kind = if code.as_deref().is_some_and(|c| THROTTLE_CODES.contains(&c)) || status == 429 {
                Kind::Throttled
            } else if status >= 500 {
                Kind::Transient
            } else {
                Kind::Fatal
            };
            (kind, code, message)
        }
        SdkError::TimeoutError(_) => (Kind::Transient, None, "timed out".to_owned()),
        SdkError::DispatchFailure(d) => (
            Kind::Transient,
            None,
            format!("connection failed: {:?}", d.as_connector_error()),
        ),
        SdkError::ResponseError(r) => (
            if r.raw().status_code() >= 500 {
                Kind::Transient
            } else {
                Kind::Fatal
            },
            None,
            format!("unreadable response (HTTP {})", r.raw().status_code()),
        ),
        other => (Kind::Fatal, None, other.to_string()),
    };
    CallError {
        api,
        kind,
        code,
        message,
        attempts,
    }
}

#[cfg(test)]
#[path = "call_tests.rs"]
mod tests;
