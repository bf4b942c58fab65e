//! AWS metric families: calls, errors and throttles per API, and the reconciler's
//! work. The per-app AWS series (the ALB's target counts, Route 53's own view) are
//! the leader's verdict series, rendered from the verdict store
//! (`telemetry::verdicts`).

use super::call::{Api, CallError};
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("failover_agent")
}

/// What the Route 53 reconciler did: a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    CreateCheck,
    UpdateCheck,
    TagCheck,
    DeleteCheck,
    UpsertRecord,
    DeleteRecord,
    /// The CloudWatch alarm of a `CLOUDWATCH_METRIC` check.
    PutAlarm,
    DeleteAlarm,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 8] = [
        ChangeKind::CreateCheck,
        ChangeKind::UpdateCheck,
        ChangeKind::TagCheck,
        ChangeKind::DeleteCheck,
        ChangeKind::UpsertRecord,
        ChangeKind::DeleteRecord,
        ChangeKind::PutAlarm,
        ChangeKind::DeleteAlarm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::CreateCheck => "create_check",
            ChangeKind::UpdateCheck => "update_check",
            ChangeKind::TagCheck => "tag_check",
            ChangeKind::DeleteCheck => "delete_check",
            ChangeKind::UpsertRecord => "upsert_record",
            ChangeKind::DeleteRecord => "delete_record",
            ChangeKind::PutAlarm => "put_alarm",
            ChangeKind::DeleteAlarm => "delete_alarm",
        }
    }
}

/// Handles for the AWS families, registered once per agent.
#[derive(Clone)]
pub struct AwsMetrics {
    calls: IntCounterVec,
    errors: IntCounterVec,
    throttles: IntCounterVec,
    changes: IntCounterVec,
    change_errors: IntCounterVec,
    /// Route 53 objects this agent wants but does not own (left alone), last reconcile.
    pub route53_conflicts: IntGauge,
    /// Unix time of the last reconcile that applied every change.
    pub route53_last_success: IntGauge,
    pub route53_reconciles_failed: IntCounter,
}

impl AwsMetrics {
    pub fn register(r: &Registry) -> Result<AwsMetrics, prometheus::Error> {
        let m = AwsMetrics {
            calls: IntCounterVec::new(opts("aws_calls_total", "AWS API attempts, by API."), &["api"])?,
            errors: IntCounterVec::new(
                opts(
                    "aws_errors_total",
                    "AWS API calls that failed after their retries, by API.",
                ),
                &["api"],
            )?,
            throttles: IntCounterVec::new(
                opts(
                    "aws_throttles_total",
                    "AWS API attempts answered with a throttle, by API.",
                ),
                &["api"],
            )?,
            changes: IntCounterVec::new(
                opts("route53_changes_total", "Route 53 changes applied, by kind."),
                &["change"],
            )?,
            change_errors: IntCounterVec::new(
                opts(
                    "route53_change_errors_total",
                    "Route 53 changes that failed (to be retried), by kind.",
                ),
                &["change"],
            )?,
            route53_conflicts: IntGauge::with_opts(opts(
                "route53_conflicts",
                "Wanted Route 53 records that exist but are not owned by this agent, so are left alone.",
            ))?,
            route53_last_success: IntGauge::with_opts(opts(
                "route53_last_reconcile_success_timestamp_seconds",
                "Unix time of the last Route 53 reconcile that applied every change.",
            ))?,
            route53_reconciles_failed: IntCounter::with_opts(opts(
                "route53_reconcile_errors_total",
                "Route 53 reconciles that left at least one change unapplied (retried).",
            ))?,
        };
        // Every series exists from the start at 0, so rate() and alerts see the first
        // increase, and dashboards find every family on any agent.
        for api in Api::ALL {
            m.calls.with_label_values(&[api.as_str()]);
            m.errors.with_label_values(&[api.as_str()]);
            m.throttles.with_label_values(&[api.as_str()]);
        }
        for kind in ChangeKind::ALL {
            m.changes.with_label_values(&[kind.as_str()]);
            m.change_errors.with_label_values(&[kind.as_str()]);
        }
        r.register(Box::new(m.calls.clone()))?;
        r.register(Box::new(m.errors.clone()))?;
        r.register(Box::new(m.throttles.clone()))?;
        r.register(Box::new(m.changes.clone()))?;
        r.register(Box::new(m.change_errors.clone()))?;
        r.register(Box::new(m.route53_conflicts.clone()))?;
        r.register(Box::new(m.route53_last_success.clone()))?;
        r.register(Box::new(m.route53_reconciles_failed.clone()))?;
        Ok(m)
    }

    pub fn call(&self, api: Api) {
        self.calls.with_label_values(&[api.as_str()]).inc();
    }
    /// Counts a call that failed after its retries, under its
    /// [`CallError::metric_label`].
    pub fn error(&self, e: &CallError) {
        self.errors.with_label_values(&[e.metric_label()]).inc();
    }
    pub fn throttle(&self, api: Api) {
        self.throttles.with_label_values(&[api.as_str()]).inc();
    }
    pub fn change(&self, kind: ChangeKind, ok: bool) {
        let family = if ok { &self.changes } else { &self.change_errors };
        family.with_label_values(&[kind.as_str()]).inc();
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
