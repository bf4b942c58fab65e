//! `route53.healthCheck.type: CLOUDWATCH_METRIC`: a Route 53 check on a CloudWatch
//! alarm on the verdict the agent publishes, for apps Route 53's checkers cannot
//! reach (private hosted zones). Its keys and their validation.

use super::HealthCheckBlock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kind of Route 53 check an app gets.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckType {
    /// Route 53's checkers call `/health/<app>` (protocol `HTTP` or `HTTPS`).
    Http,
    /// The check follows a CloudWatch alarm on the agent's published verdict.
    CloudwatchMetric,
}

/// A `CLOUDWATCH_METRIC` check's status while its alarm has too little data
/// (Route 53's `InsufficientDataHealthStatus`).
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum InsufficientData {
    /// Keep the status it had (healthy if it never had one): a silent agent never flips an app.
    LastKnownStatus,
    Healthy,
    Unhealthy,
}

impl InsufficientData {
    /// Route 53's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InsufficientData::LastKnownStatus => "LastKnownStatus",
            InsufficientData::Healthy => "Healthy",
            InsufficientData::Unhealthy => "Unhealthy",
        }
    }

    /// The value Route 53 spells `s`.
    pub fn parse(s: &str) -> Option<InsufficientData> {
        [Self::LastKnownStatus, Self::Healthy, Self::Unhealthy]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A validated `CLOUDWATCH_METRIC` check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricCheck {
    /// The Region of the alarm (and of the metric): the agent's own.
    pub region: String,
    pub insufficient_data: InsufficientData,
    /// Consecutive 60-second periods of an unhealthy verdict before the alarm fires.
    pub evaluation_periods: u32,
}

/// The default number of evaluation periods: 2 minutes of an unhealthy verdict.
pub const DEFAULT_EVALUATION_PERIODS: u32 = 2;

/// The metric check `h` asks for (`None` for an HTTP check), with one message per
/// key that does not fit its type, naming the key and the fix.
pub(super) fn validate(at: &str, h: &HealthCheckBlock, region: &str, errs: &mut Vec<String>) -> Option<MetricCheck> {
    let at = format!("{at}.healthCheck");
    if h.check_type != Some(CheckType::CloudwatchMetric) {
        for (key, set) in [
            (
                "insufficientDataHealthStatus",
                h.insufficient_data_health_status.is_some(),
            ),
            ("evaluationPeriods", h.evaluation_periods.is_some()),
        ] {
            if set {
                errs.push(format!(
                    "{at}.{key}: only applies to type: CLOUDWATCH_METRIC; remove it or set type: CLOUDWATCH_METRIC"
                ));
            }
        }
        return None;
    }
    for (key, set) in [
        ("protocol", h.protocol.is_some()),
        ("port", h.port.is_some()),
        ("searchString", h.search_string.is_some()),
        ("intervalSeconds", h.interval_seconds.is_some()),
        ("failureThreshold", h.failure_threshold.is_some()),
    ] {
        if set {
            errs.push(format!("{at}.{key}: a CLOUDWATCH_METRIC check calls no endpoint (it follows the alarm on the agent's verdict); remove {key}, or use type: HTTP"));
        }
    }
    let evaluation_periods = h.evaluation_periods.unwrap_or(DEFAULT_EVALUATION_PERIODS);
    if !(1..=10).contains(&evaluation_periods) {
        errs.push(format!(
            "{at}.evaluationPeriods: {evaluation_periods} is out of range; use 1 to 10 minutes (default {DEFAULT_EVALUATION_PERIODS})"
        ));
    }
    Some(MetricCheck {
        region: region.to_owned(),
        insufficient_data: h
            .insufficient_data_health_status
            .unwrap_or(InsufficientData::LastKnownStatus),
        evaluation_periods,
    })
}

#[cfg(test)]
#[path = "route53_metric_tests.rs"]
mod tests;
