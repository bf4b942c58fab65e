//! The CloudWatch side of `CLOUDWATCH_METRIC` checks: reading the agent's alarms
//! (one `DescribeAlarms` page per 100), putting, re-tagging and deleting them, and
//! the `AlarmIdentifier` of the Route 53 checks on them. Every call goes through
//! the [`Caller`]'s alarm budget. The alarms live in the agent's own Region (the
//! client given here), which every check's `AlarmIdentifier` names.

use super::alarms::{
    alarm_prefix, ActualAlarm, AlarmConfig, AlarmRef, AlarmStep, DIM_APP, DIM_CLUSTER, METRIC, NAMESPACE, NAME_PREFIX,
    PERIOD_SECONDS,
};
use super::batch::build_error;
use super::objects::{Actual, CheckConfig, DesiredApp};
use super::plan::{Plan, Step};
use crate::aws::{Api, CallError, Caller};
use crate::model::AppKey;
use crate::spec::route53::metric::InsufficientData;
use crate::spec::route53::Protocol;
use aws_sdk_cloudwatch::types::{AlarmType, ComparisonOperator, Dimension, MetricAlarm, Statistic, Tag};
use aws_sdk_cloudwatch::Client;
use aws_sdk_route53::types::{AlarmIdentifier, CloudWatchRegion, HealthCheckConfig, InsufficientDataHealthStatus};
use std::collections::HashSet;

/// The alarm fires below this: the period's maximum is 0, no healthy sample.
const THRESHOLD: f64 = 1.0;
/// Missing data stays missing: the check's `InsufficientDataHealthStatus` decides.
const TREAT_MISSING: &str = "missing";

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
    let dim = |n: &str| a.dimensions().iter().find(|d| d.name() == Some(n)).and_then(|d| d.value());
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

fn tags(t: &[(String, String)]) -> Vec<Tag> {
    t.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

/// Creates the alarm, or overwrites its settings (`PutMetricAlarm` is both); tags
/// a new one in the same call.
async fn put_alarm(
    cw: &Client,
    caller: &Caller,
    a: &AlarmConfig,
    t: &[(String, String)],
    create: bool,
) -> Result<(), CallError> {
    let dims = vec![
        Dimension::builder().name(DIM_CLUSTER).value(&a.cluster).build(),
        Dimension::builder().name(DIM_APP).value(&a.app).build(),
    ];
    let periods = i32::try_from(a.evaluation_periods).unwrap_or(1);
    let tags = create.then(|| tags(t));
    caller
        .call(Api::PutMetricAlarm, || {
            cw.put_metric_alarm()
                .alarm_name(&a.name)
                .alarm_description(format!(
                    "failover-agent: the verdict of app {} in cluster {}, for its Route 53 CLOUDWATCH_METRIC check",
                    a.app, a.cluster
                ))
                .namespace(NAMESPACE)
                .metric_name(METRIC)
                .set_dimensions(Some(dims.clone()))
                .statistic(Statistic::Maximum)
                .period(PERIOD_SECONDS)
                .evaluation_periods(periods)
                .datapoints_to_alarm(periods)
                .threshold(THRESHOLD)
                .comparison_operator(ComparisonOperator::LessThanThreshold)
                .treat_missing_data(TREAT_MISSING)
                .set_tags(tags.clone())
                .send()
        })
        .await
        .map(|_| ())
}

async fn tag_alarm(cw: &Client, caller: &Caller, arn: &str, t: &[(String, String)]) -> Result<(), CallError> {
    let t = tags(t);
    caller
        .call(Api::TagResource, || {
            cw.tag_resource().resource_arn(arn).set_tags(Some(t.clone())).send()
        })
        .await
        .map(|_| ())
}

async fn delete_alarm(cw: &Client, caller: &Caller, name: &str) -> Result<(), CallError> {
    caller
        .call(Api::DeleteAlarms, || cw.delete_alarms().alarm_names(name).send())
        .await
        .map(|_| ())
}

/// Carries out one alarm step. `Err` with why, for the outcome.
pub(super) async fn apply_alarm(cw: Option<&Client>, caller: &Caller, step: &AlarmStep) -> Result<(), String> {
    let Some(cw) = cw else {
        return Err("no CloudWatch client in this run".into());
    };
    let r = match step {
        AlarmStep::Put {
            alarm,
            tags,
            before,
            arn,
            ..
        } => match put_alarm(cw, caller, alarm, tags, before.is_none()).await {
            Ok(()) => match arn {
                Some(arn) => tag_alarm(cw, caller, arn, tags).await,
                None => Ok(()),
            },
            Err(e) => Err(e),
        },
        AlarmStep::Delete { name, .. } => match delete_alarm(cw, caller, name).await {
            Err(e) if e.is("ResourceNotFound") => Ok(()),
            r => r,
        },
    };
    r.map_err(|e| e.to_string())
}

/// The alarm puts of `plan`, in order (they go before the checks that name them).
pub(super) fn puts(plan: &Plan) -> impl Iterator<Item = &Step> {
    plan.steps
        .iter()
        .filter(|s| matches!(s, Step::Alarm(AlarmStep::Put { .. })))
}

/// The alarm deletes of `plan` whose app had no failure: they go last, once no
/// check of the app can still name them.
pub(super) fn deletes<'p>(plan: &'p Plan, failed_apps: &HashSet<AppKey>) -> impl Iterator<Item = &'p Step> {
    let failed: HashSet<AppKey> = failed_apps.clone();
    plan.steps
        .iter()
        .filter(move |s| matches!(s, Step::Alarm(AlarmStep::Delete { .. })) && !failed.contains(s.app()))
}

/// The `CLOUDWATCH_METRIC` check Route 53 holds, as the plan compares it.
pub(super) fn metric_config(h: &HealthCheckConfig) -> Option<CheckConfig> {
    let a = h.alarm_identifier()?;
    let insufficient = h
        .insufficient_data_health_status()
        .and_then(|s| InsufficientData::parse(s.as_str()))
        .unwrap_or(InsufficientData::LastKnownStatus);
    Some(CheckConfig {
        protocol: Protocol::Http,
        fqdn: String::new(),
        port: 0,
        path: String::new(),
        search_string: None,
        interval: 0,
        failure_threshold: 0,
        alarm: Some(AlarmRef {
            region: a.region().as_str().to_owned(),
            name: a.name().to_owned(),
            insufficient_data: insufficient,
        }),
    })
}

/// Route 53's `AlarmIdentifier` and `InsufficientDataHealthStatus` of a check on `a`.
pub(super) fn alarm_identifier(a: &AlarmRef) -> Result<(AlarmIdentifier, InsufficientDataHealthStatus), CallError> {
    let id = AlarmIdentifier::builder()
        .region(CloudWatchRegion::from(a.region.as_str()))
        .name(&a.name)
        .build()
        .map_err(|e| build_error(Api::CreateHealthCheck, e))?;
    Ok((id, InsufficientDataHealthStatus::from(a.insufficient_data.as_str())))
}

/// True if `name` is one of `cluster_id`'s alarms.
pub fn is_clusters_alarm(cluster_id: &str, name: &str) -> bool {
    name.starts_with(&alarm_prefix(cluster_id))
}
