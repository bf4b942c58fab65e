//! The AWS tasks of an agent that leads, in either mode: a static agent (the leader
//! of one) or the cluster's leader for one term. One wiring for both:
//!
//! - the ALB target-health poller ([`crate::observe::targets`]), whose results go
//!   back to the verdicts, and the `source_stale{source="aws_elbv2"}` gauge;
//! - the Route 53 reconciler ([`crate::publish::route53::run`]), and the watch of
//!   Route 53's own view of the checks it made, fed with their IDs after every
//!   reconcile;
//! - the read of every Region's check statuses from CloudWatch
//!   ([`crate::publish::route53::metric_status`]), fed with the checks of every
//!   record in the apps' record sets, for the DNS answer.
//!
//! What each mode does with the results is its own: the callbacks.

use crate::aws::{self, Caller, ELBV2_SOURCE};
use crate::fence::Fence;
use crate::model::AppKey;
use crate::observe::targets::{self, TargetStore};
use crate::publish::route53::{self, Desired, Owner, Report};
use crate::spec::AwsSettings;
use crate::telemetry::Metrics;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// AWS clients and the call budget of one leader, and the settings and stop token
/// its tasks share. Every task stops at `stop`.
pub struct AwsTasks {
    pub clients: aws::Clients,
    pub caller: Arc<Caller>,
    settings: AwsSettings,
    metrics: Metrics,
    stop: CancellationToken,
}

impl AwsTasks {
    /// Loads the clients for `region` and the budgeted caller of `settings`.
    pub async fn new(region: &str, settings: AwsSettings, metrics: &Metrics, stop: CancellationToken) -> AwsTasks {
        let clients = aws::load(region).await;
        let caller = Arc::new(Caller::new(settings.budget, metrics.aws.clone()));
        AwsTasks {
            clients,
            caller,
            settings,
            metrics: metrics.clone(),
            stop,
        }
    }

    /// Polls the target health of the ARNs `arns` holds into `store`. After every
    /// change it sets `source_stale{source="aws_elbv2"}` and calls `on_change`.
    pub fn poll_targets(
        &self,
        arns: watch::Receiver<BTreeSet<String>>,
        store: Arc<TargetStore>,
        on_change: impl Fn() + Send + Sync + 'static,
    ) -> JoinHandle<()> {
        let (s, m) = (store.clone(), self.metrics.clone());
        let on_change = move || {
            m.source_stale
                .with_label_values(&[ELBV2_SOURCE])
                .set(i64::from(s.any_stale()));
            on_change();
        };
        tokio::spawn(
            targets::poll(
                self.clients.elbv2.clone(),
                self.caller.clone(),
                arns,
                self.settings.target_health_interval,
                self.settings.budget.elbv2_rate,
                store,
                on_change,
                self.stop.clone(),
            )
            .in_current_span(),
        )
    }

    /// Reconciles, as `owner`, the Route 53 objects `desired` holds, every write
    /// behind `fence`, calling `on_report` after every reconcile; watches Route 53's
    /// view of the checks the last report names, calling `on_status` with each; and,
    /// unless `aws.dnsViewIntervalSeconds` is 0, reads the status of every check in
    /// the reported record sets, calling `on_statuses` with each round. Two or three
    /// tasks.
    pub fn keep_route53(
        &self,
        owner: Owner,
        desired: watch::Receiver<Desired>,
        fence: Arc<dyn Fence>,
        on_report: impl Fn(Report) + Send + Sync + 'static,
        on_status: impl Fn(&AppKey, Option<bool>) + Send + 'static,
        on_statuses: impl Fn(BTreeMap<String, Option<bool>>) + Send + 'static,
    ) -> Vec<JoinHandle<()>> {
        let (ids_tx, ids_rx) = watch::channel(BTreeMap::new());
        let (all_tx, all_rx) = watch::channel(BTreeSet::new());
        let on_report = move |r: Report| {
            ids_tx.send_if_modified(|ids| {
                let changed = *ids != r.check_ids;
                ids.clone_from(&r.check_ids);
                changed
            });
            let all = r.every_check();
            all_tx.send_if_modified(|cur| {
                let changed = *cur != all;
                *cur = all;
                changed
            });
            on_report(r);
        };
        let reconcile = route53::run(
            self.clients.route53.clone(),
            Some(self.clients.cloudwatch_here.clone()),
            self.caller.clone(),
            owner,
            desired,
            self.settings.reconcile_interval,
            on_report,
            fence,
            self.stop.clone(),
            route53::Quota::new(Some(self.metrics.route53_quota.clone())),
        );
        let status = route53::status::watch(
            self.clients.route53.clone(),
            self.caller.clone(),
            ids_rx,
            self.settings.check_status_interval,
            on_status,
            self.stop.clone(),
        );
        let mut tasks = vec![
            tokio::spawn(reconcile.in_current_span()),
            tokio::spawn(status.in_current_span()),
        ];
        if let Some(every) = self.settings.dns_view_interval {
            let view = route53::metric_status::watch(
                self.clients.cloudwatch.clone(),
                self.caller.clone(),
                all_rx,
                every,
                on_statuses,
                self.stop.clone(),
            );
            tasks.push(tokio::spawn(view.in_current_span()));
        }
        tasks
    }

    /// Publishes to CloudWatch, as `owner`, the verdicts (from `verdicts`) of the
    /// apps `desired` holds with a `CLOUDWATCH_METRIC` check ([`crate::publish::cloudwatch`]).
    pub fn publish_verdicts(
        &self,
        owner: &Owner,
        desired: watch::Receiver<Desired>,
        verdicts: crate::publish::cloudwatch::Verdicts,
    ) -> JoinHandle<()> {
        let task = crate::publish::cloudwatch::run(
            self.clients.cloudwatch_here.clone(),
            self.caller.clone(),
            owner.cluster_id.clone(),
            desired,
            verdicts,
            self.stop.clone(),
        );
        tokio::spawn(task.in_current_span())
    }
}
