//! Reads the agent's alarms (one `DescribeAlarms` page per 100, through the
//! caller's alarm budget) and the `CLOUDWATCH_METRIC` checks Route 53 holds, for
//! the plan.

use super::alarms::{
    ActualAlarm, AlarmConfig, AlarmRef, DIM_APP, DIM_CLUSTER, METRIC, NAMESPACE, NAME_PREFIX, PERIOD_SECONDS,
};
use super::alarms_io::{THRESHOLD, TREAT_MISSING};
use super::objects::{Actual, CheckConfig, DesiredApp};
use crate::aws::{Api, CallError, Caller};
use crate::spec::route53::metric::InsufficientData;
use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, MetricAlarm, Statistic};
use aws_sdk_cloudwatch::Client;
use aws_sdk_route53::types::HealthCheckConfig;

/// [`super::read`], plus the agent's alarms from `cw` (in the agent's Region), when
/// any app wants a `CLOUDWATCH_METRIC` check or any such check exists. An alarm read
/// that fails holds only the apps with `CLOUDWATCH_METRIC` checks
/// (`Actual::alarms_unreadable`); without `cw`, they are held too.
pub async fn read_with(
    r53: &aws_sdk_route53::Client,
    cw: Option<&Client>,
    caller: &Caller,
    desired: &[DesiredApp],
) -> Result<Actual, CallError> {
    let mut actual = super::read(r53, caller, desired).await?;
    let Some(cw) = cw else { return Ok(actual) };
    // An agent without metric checks makes no CloudWatch call (its IAM role may
    // not allow any). An alarm left by a failed delete is collected once a metric
    // check exists again.
    let metric_checks = actual
        .checks
        .iter()
        .any(|c| c.config.as_ref().is_some_and(|c| c.alarm.is_some()));
    if !metric_checks && desired.iter().all(|d| d.settings.metric.is_none()) {
        actual.alarms_unreadable = None;
        return Ok(actual);
    }
    match read_alarms(cw, caller).await {
        Ok(alarms) => {
            actual.alarms = alarms;
            actual.alarms_unreadable = None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the CloudWatch alarms; apps with CLOUDWATCH_METRIC checks are held");
            actual.alarms_unreadable = Some(e.to_string());
        }
    }
    Ok(actual)
}

/// Every metric alarm named with the agent's prefix (any cluster's: the plan keeps
/// to its own).
pub async fn read_alarms(cw: &Client, caller: &Caller) -> Result<Vec<ActualAlarm>, CallError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = caller
            .call(Api::DescribeAlarms, || {
                cw.describe_alarms()
                    .alarm_name_prefix(NAME_PREFIX)
                    .alarm_types(AlarmType::MetricAlarm)
                    .max_records(100)
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        out.extend(page.metric_alarms().iter().filter_map(to_alarm));
        match page.next_token() {
            Some(t) if !t.is_empty() && token.as_deref() != Some(t) => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

fn to_alarm(a: &MetricAlarm) -> Option<ActualAlarm> {
    let name = a.alarm_name()?.to_owned();
    let dim = |n: &str| {
        a.dimensions()
            .iter()
            .find(|d| d.name() == Some(n))
            .and_then(|d| d.value())
    };
    let ours = a.namespace() == Some(NAMESPACE) && a.metric_name() == Some(METRIC) && a.dimensions().len() == 2;
    let config = match (ours, dim(DIM_CLUSTER), dim(DIM_APP)) {
        (true, Some(cluster), Some(app)) => {
            let periods = a.evaluation_periods().unwrap_or(0);
            Some(AlarmConfig {
                name: name.clone(),
                cluster: cluster.to_owned(),
                app: app.to_owned(),
                evaluation_periods: u32::try_from(periods).unwrap_or(0),
                standard: a.period() == Some(PERIOD_SECONDS)
                    && a.statistic() == Some(&Statistic::Maximum)
                    && a.threshold() == Some(THRESHOLD)
                    && a.comparison_operator() == Some(&ComparisonOperator::LessThanThreshold)
                    && a.treat_missing_data().unwrap_or(TREAT_MISSING) == TREAT_MISSING
                    && a.datapoints_to_alarm().is_none_or(|d| d == periods),
            })
        }
        _ => None,
    };
    Some(ActualAlarm {
        name,
        arn: a.alarm_arn().map(str::to_owned),
        config,
    })
}

/// The `CLOUDWATCH_METRIC` check Route 53 holds, as the plan compares it.
pub(super) fn metric_config(h: &HealthCheckConfig) -> Option<CheckConfig> {
    let a = h.alarm_identifier()?;
    let insufficient = h
        .insufficient_data_health_status()
        .and_then(|s| InsufficientData::parse(s.as_str()))
        .unwrap_or(InsufficientData::LastKnownStatus);
    Some(CheckConfig::on_alarm(AlarmRef {
        region: a.region().as_str().to_owned(),
        name: a.name().to_owned(),
        insufficient_data: insufficient,
    }))
}
