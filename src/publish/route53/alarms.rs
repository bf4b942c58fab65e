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

use super::objects::{app_tag, fnv, parse_app_tag, CheckConfig, DesiredApp, Owner};
use super::objects::{TAG_APP, TAG_CLUSTER, TAG_INCARNATION};
use super::ownership::Ownership;
use super::plan::{Conflict, Plan, Step};
use crate::model::AppKey;
use crate::spec::route53::metric::{InsufficientData, MetricCheck};
use crate::spec::route53::Protocol;
use serde::Serialize;
use std::collections::BTreeSet;
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
const NAME_MAX: usize = 255;

/// The alarm a `CLOUDWATCH_METRIC` check follows, as Route 53 holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmRef {
    pub region: String,
    pub name: String,
    /// The check's status while the alarm has too little data.
    pub insufficient_data: InsufficientData,
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

/// `failover-agent-<8 hex of the cluster ID>-`: this cluster's alarms (a hash, so
/// that no cluster's prefix is another's, and names stay short).
pub fn alarm_prefix(cluster_id: &str) -> String {
    format!("{NAME_PREFIX}{:08x}-", fnv(&[cluster_id]) as u32)
}

/// The alarm name of `key` in `cluster_id`: the prefix, then `namespace-app`, at
/// most 255 characters (a longer one ends in a hash of the whole).
pub fn alarm_name(cluster_id: &str, key: &AppKey) -> String {
    let name = format!("{}{}-{}", alarm_prefix(cluster_id), key.namespace, key.name);
    if name.len() <= NAME_MAX {
        return name;
    }
    let hash = format!("-{:016x}", fnv(&[&name]));
    let mut cut = NAME_MAX - hash.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{hash}", &name[..cut])
}

/// The alarm `app` wants.
pub fn desired_alarm(owner: &Owner, app: &DesiredApp, m: &MetricCheck) -> AlarmConfig {
    AlarmConfig {
        name: alarm_name(&owner.cluster_id, &app.key),
        cluster: owner.cluster_id.clone(),
        app: app_tag(&app.key),
        evaluation_periods: m.evaluation_periods,
        standard: true,
    }
}

/// The `CLOUDWATCH_METRIC` check `app` wants: on its alarm, no endpoint.
pub(super) fn metric_check(owner: &Owner, app: &DesiredApp, m: &MetricCheck) -> CheckConfig {
    CheckConfig {
        protocol: Protocol::Http,
        fqdn: String::new(),
        port: 0,
        path: String::new(),
        search_string: None,
        interval: 0,
        failure_threshold: 0,
        alarm: Some(AlarmRef {
            region: m.region.clone(),
            name: alarm_name(&owner.cluster_id, &app.key),
            insufficient_data: m.insufficient_data,
        }),
    }
}

/// The tags of `app`'s alarm: the checks' ownership tags, and a readable `Name`.
pub fn alarm_tags(owner: &Owner, app: &DesiredApp) -> Vec<(String, String)> {
    vec![
        (TAG_CLUSTER.into(), owner.cluster_id.clone()),
        (TAG_APP.into(), app_tag(&app.key)),
        (TAG_INCARNATION.into(), app.incarnation.clone()),
        (
            "Name".into(),
            format!("failover-agent {} {}", owner.cluster_id, app.key.name),
        ),
    ]
}

/// Adds the alarm steps to `p`, after its check and record steps: each planned
/// app with a metric check gets its alarm put (created or brought in line), and
/// this cluster's alarms nobody wants any more are deleted.
pub(super) fn plan_alarms(p: &mut Plan, own: &Ownership, desired: &[&DesiredApp]) {
    let owner = own.owner;
    let actual = own.actual;
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let mut steps = Vec::new();
    for d in desired {
        let Some(m) = &d.settings.metric else { continue };
        let want = desired_alarm(owner, d, m);
        wanted.insert(want.name.clone());
        let have = actual.alarms.iter().find(|a| a.name == want.name);
        let arn = have.and_then(|a| a.arn.clone());
        match have.map(|a| a.config.as_ref()) {
            Some(Some(c)) if *c == want => {}
            Some(Some(c)) if c.cluster == owner.cluster_id && c.app == want.app => steps.push(AlarmStep::Put {
                app: d.key.clone(),
                alarm: want,
                tags: alarm_tags(owner, d),
                before: Some(c.clone()),
                arn,
            }),
            Some(_) => p.conflicts.push(Conflict {
                app: d.key.clone(),
                message: format!(
                    "alarm {} exists and is not this app's (another metric or dimensions); delete it by hand",
                    want.name
                ),
            }),
            None => steps.push(AlarmStep::Put {
                app: d.key.clone(),
                alarm: want,
                tags: alarm_tags(owner, d),
                before: None,
                arn: None,
            }),
        }
    }
    if actual.alarms_unreadable.is_none() {
        steps.extend(collect_alarms(p, own, &wanted));
    }
    p.steps.extend(steps.into_iter().map(Step::Alarm));
}

/// This cluster's alarms that no desired app wants, whose app is not held, and
/// that no check left standing by `p` still names.
fn collect_alarms(p: &Plan, own: &Ownership, wanted: &BTreeSet<String>) -> Vec<AlarmStep> {
    let prefix = alarm_prefix(&own.owner.cluster_id);
    let deleted: BTreeSet<&str> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::DeleteCheck { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let named: BTreeSet<&str> = own
        .actual
        .checks
        .iter()
        .filter(|c| !deleted.contains(c.id.as_str()))
        .filter_map(|c| c.config.as_ref()?.alarm.as_ref().map(|a| a.name.as_str()))
        .collect();
    let mut out = Vec::new();
    for a in &own.actual.alarms {
        let Some(c) = &a.config else { continue };
        let Some(app) = parse_app_tag(&c.app) else { continue };
        let ours = a.name.starts_with(&prefix) && c.cluster == own.owner.cluster_id;
        if !ours || wanted.contains(&a.name) || named.contains(a.name.as_str()) || own.app_held(&app) {
            continue;
        }
        out.push(AlarmStep::Delete {
            app,
            name: a.name.clone(),
            why: "no CLOUDWATCH_METRIC check uses it",
        });
    }
    out
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
