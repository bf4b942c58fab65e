//! `CLOUDWATCH_METRIC` checks, for the pure plan: each such app gets one
//! CloudWatch alarm on the verdict the agent publishes (namespace `FailoverAgent`,
//! metric `AppHealthy`, dimensions `Cluster` and `App`), in the agent's Region, and
//! a Route 53 check on that alarm.
//!
//! Ownership, the same as the checks': an alarm is this cluster's when its name
//! has the cluster's prefix ([`alarm_prefix`]) and its metric's `Cluster`
//! dimension is the cluster ID; it is an app's when its `App` dimension names the
//! app. Both come from `DescribeAlarms` itself, so no tag is read per alarm (the
//! alarm is also tagged, for people and IAM). An alarm is collected only when no
//! desired app wants it, its app is not held, and no check that this plan keeps
//! still names it; alarm deletes are applied after the check deletes.

pub(super) use super::alarm_names::metric_check;
pub use super::alarm_names::{alarm_name, alarm_prefix, alarm_tags, desired_alarm};
pub(super) use super::alarms_plan::plan_alarms;
use super::objects::CheckConfig;
use crate::model::AppKey;
use crate::spec::route53::metric::InsufficientData;
use crate::spec::route53::Protocol;
use serde::Serialize;
use std::fmt;

/// The namespace of the verdicts the agent publishes.
pub const NAMESPACE: &str = "FailoverAgent";
/// The metric: 1 while the app is healthy, 0 while it is not.
pub const METRIC: &str = "AppHealthy";
pub const DIM_CLUSTER: &str = "Cluster";
pub const DIM_APP: &str = "App";
/// The alarm's period: standard resolution, which Route 53 requires.
pub const PERIOD_SECONDS: i32 = 60;
/// Every alarm name the agent makes starts with this (IAM can scope to `failover-agent-*`).
pub const NAME_PREFIX: &str = "failover-agent-";
/// CloudWatch's limit on alarm names.
pub(super) const NAME_MAX: usize = 255;

/// The alarm a `CLOUDWATCH_METRIC` check follows, as Route 53 holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmRef {
    pub region: String,
    pub name: String,
    /// The check's status while the alarm has too little data.
    pub insufficient_data: InsufficientData,
}

impl CheckConfig {
    /// A `CLOUDWATCH_METRIC` check on `alarm`: it calls no endpoint, so every HTTP
    /// field is empty (and never compared: [`CheckConfig::type_name`] tells them apart).
    pub fn on_alarm(alarm: AlarmRef) -> CheckConfig {
        CheckConfig {
            protocol: Protocol::Http,
            fqdn: String::new(),
            port: 0,
            path: String::new(),
            search_string: None,
            interval: 0,
            failure_threshold: 0,
            alarm: Some(alarm),
        }
    }
}

impl fmt::Display for AlarmRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "alarm {} in {}, insufficient data: {}",
            self.name,
            self.region,
            self.insufficient_data.as_str()
        )
    }
}

/// An alarm on an app's verdict, as far as the agent sets it. The alarm fires when
/// the metric's maximum stays below 1 (no healthy sample) for `evaluation_periods`
/// periods of 60 s; missing data is missing (the check's `InsufficientDataHealthStatus` decides).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmConfig {
    pub name: String,
    /// The `Cluster` dimension.
    pub cluster: String,
    /// The `App` dimension: `namespace/app`.
    pub app: String,
    pub evaluation_periods: u32,
    /// True when the rest (period, statistic, threshold, comparison, missing data,
    /// datapoints to alarm) is what the agent sets.
    pub standard: bool,
}

impl fmt::Display for AlarmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {NAMESPACE}/{METRIC} {{{DIM_CLUSTER}={}, {DIM_APP}={}}} < 1 for {} x {PERIOD_SECONDS}s",
            self.name, self.cluster, self.app, self.evaluation_periods
        )
    }
}

/// An alarm as CloudWatch holds it (only those named with [`NAME_PREFIX`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActualAlarm {
    pub name: String,
    /// Its ARN, to re-tag it.
    pub arn: Option<String>,
    /// `None` when it is not an alarm on the agent's metric.
    pub config: Option<AlarmConfig>,
}

/// An alarm change.
#[derive(Clone, Debug, PartialEq)]
pub enum AlarmStep {
    /// `PutMetricAlarm`: creates the alarm (tagged) or overwrites its settings.
    Put {
        app: AppKey,
        alarm: AlarmConfig,
        tags: Vec<(String, String)>,
        /// The alarm as read, or `None` to create it.
        before: Option<AlarmConfig>,
        /// The ARN of the alarm as read: it is re-tagged after the put.
        arn: Option<String>,
    },
    Delete {
        app: AppKey,
        name: String,
        why: &'static str,
    },
}

impl AlarmStep {
    pub fn app(&self) -> &AppKey {
        match self {
            AlarmStep::Put { app, .. } | AlarmStep::Delete { app, .. } => app,
        }
    }
}

impl fmt::Display for AlarmStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = |k: &AppKey| format!("{}/{}", k.namespace, k.name);
        match self {
            AlarmStep::Put {
                app,
                alarm,
                before: None,
                ..
            } => write!(f, "+ alarm         {:<20} {alarm}", who(app)),
            AlarmStep::Put {
                app,
                alarm,
                before: Some(b),
                ..
            } => write!(f, "~ alarm         {:<20} {b}  ->  {alarm}", who(app)),
            AlarmStep::Delete { app, name, why } => write!(f, "- alarm         {:<20} {name} ({why})", who(app)),
        }
    }
}

#[cfg(test)]
#[path = "alarms_tests.rs"]
mod tests;
