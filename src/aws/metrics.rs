//! AWS metric families: calls, errors and throttles per API, the ALB's target
//! counts per app, Route 53's own view per app, and the reconciler's work.

use super::call::Api;
use crate::model::AppKey;
use parking_lot::Mutex;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::collections::HashSet;
use std::sync::Arc;

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
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 6] = [
        ChangeKind::CreateCheck,
        ChangeKind::UpdateCheck,
        ChangeKind::TagCheck,
        ChangeKind::DeleteCheck,
        ChangeKind::UpsertRecord,
        ChangeKind::DeleteRecord,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::CreateCheck => "create_check",
            ChangeKind::UpdateCheck => "update_check",
            ChangeKind::TagCheck => "tag_check",
            ChangeKind::DeleteCheck => "delete_check",
            ChangeKind::UpsertRecord => "upsert_record",
            ChangeKind::DeleteRecord => "delete_record",
        }
    }
}

/// Handles for the AWS families, registered once per agent.
#[derive(Clone)]
pub struct AwsMetrics {
    calls: IntCounterVec,
    errors: IntCounterVec,
    throttles: IntCounterVec,
    targets: IntGaugeVec,
    route53_healthy: IntGaugeVec,
    changes: IntCounterVec,
    change_errors: IntCounterVec,
    /// Route 53 objects this agent wants but does not own (left alone), last reconcile.
    pub route53_conflicts: IntGauge,
    /// Unix time of the last reconcile that applied every change.
    pub route53_last_success: IntGauge,
    pub route53_reconciles_failed: IntCounter,
    /// Apps with per-app AWS series, so they can be forgotten when they go.
    apps: Arc<Mutex<HashSet<AppKey>>>,
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
            targets: IntGaugeVec::new(
                opts(
                    "app_targets",
                    "The ALB's targets for the app over its target groups, by state (healthy, total).",
                ),
                &["namespace", "app", "state"],
            )?,
            route53_healthy: IntGaugeVec::new(
                opts(
                    "route53_healthy",
                    "1 if Route 53's own health check of the app passes (over 18% of checkers), else 0.",
                ),
                &["namespace", "app"],
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
            apps: Default::default(),
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
        r.register(Box::new(m.targets.clone()))?;
        r.register(Box::new(m.route53_healthy.clone()))?;
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
    pub fn error(&self, api: Api) {
        self.errors.with_label_values(&[api.as_str()]).inc();
    }
    pub fn throttle(&self, api: Api) {
        self.throttles.with_label_values(&[api.as_str()]).inc();
    }
    pub fn change(&self, kind: ChangeKind, ok: bool) {
        let family = if ok { &self.changes } else { &self.change_errors };
        family.with_label_values(&[kind.as_str()]).inc();
    }

    /// Sets the ALB target counts of `app`.
    pub fn targets(&self, app: &AppKey, healthy: u32, total: u32) {
        self.seen(app);
        let l = |s| [app.namespace.as_str(), app.name.as_str(), s];
        self.targets.with_label_values(&l("healthy")).set(i64::from(healthy));
        self.targets.with_label_values(&l("total")).set(i64::from(total));
    }

    /// Sets Route 53's view of `app`.
    pub fn route53_healthy(&self, app: &AppKey, healthy: bool) {
        self.seen(app);
        self.route53_healthy
            .with_label_values(&[app.namespace.as_str(), app.name.as_str()])
            .set(i64::from(healthy));
    }

    fn seen(&self, app: &AppKey) {
        let mut apps = self.apps.lock();
        if !apps.contains(app) {
            apps.insert(app.clone());
        }
    }

    /// The apps with per-app AWS series for which `live` is false.
    pub fn apps_not(&self, live: impl Fn(&AppKey) -> bool) -> Vec<AppKey> {
        self.apps.lock().iter().filter(|k| !live(k)).cloned().collect()
    }

    /// Drops the per-app series of an app that is gone.
    pub fn forget(&self, app: &AppKey) {
        self.apps.lock().remove(app);
        let l = [app.namespace.as_str(), app.name.as_str()];
        let _ = self.route53_healthy.remove_label_values(&l);
        for s in ["healthy", "total"] {
            let _ = self.targets.remove_label_values(&[l[0], l[1], s]);
        }
    }
}
