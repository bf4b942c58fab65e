//! The CloudWatch side of `CLOUDWATCH_METRIC` checks: putting, re-tagging and
//! deleting the agent's alarms (reading them: [`super::alarms_read`]), and the
//! `AlarmIdentifier` of the Route 53 checks on them. Every call goes through
//! the [`Caller`]'s alarm budget. The alarms live in the agent's own Region (the
//! client given here), which every check's `AlarmIdentifier` names.

use super::alarms::{AlarmConfig, AlarmRef, AlarmStep, DIM_APP, DIM_CLUSTER, METRIC, NAMESPACE, PERIOD_SECONDS};
use super::batch::build_error;
use super::plan::{Plan, Step};
use crate::aws::{Api, CallError, Caller};
use crate::model::AppKey;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic, Tag};
use aws_sdk_cloudwatch::Client;
use aws_sdk_route53::types::{AlarmIdentifier, CloudWatchRegion, InsufficientDataHealthStatus};
use std::collections::HashSet;

/// The alarm fires below this: the period's maximum is 0, no healthy sample.
pub(super) const THRESHOLD: f64 = 1.0;
/// Missing data stays missing: the check's `InsufficientDataHealthStatus` decides.
pub(super) const TREAT_MISSING: &str = "missing";

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

/// Route 53's `AlarmIdentifier` and `InsufficientDataHealthStatus` of a check on `a`.
pub(super) fn alarm_identifier(a: &AlarmRef) -> Result<(AlarmIdentifier, InsufficientDataHealthStatus), CallError> {
    let id = AlarmIdentifier::builder()
        .region(CloudWatchRegion::from(a.region.as_str()))
        .name(&a.name)
        .build()
        .map_err(|e| build_error(Api::CreateHealthCheck, e))?;
    Ok((id, InsufficientDataHealthStatus::from(a.insufficient_data.as_str())))
}
