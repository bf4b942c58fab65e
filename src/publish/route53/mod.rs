//! Route 53, per app: the agent owns one health check of this Region's
//! `/health/<app>` and the app's alias record that uses it. An app with
//! `healthCheck.type: CLOUDWATCH_METRIC` gets instead a check on a CloudWatch alarm
//! on its published verdict, and the agent owns that alarm too ([`alarms`]).
//!
//! It reads the way external-dns does: what the apps want ([`DesiredApp`]) and
//! what Route 53 holds ([`read`]) go into the pure [`plan`], which [`apply`]
//! carries out. [`run`] does that continuously; the CLI does it once.

pub mod account;
mod alarm_names;
pub mod alarms;
mod alarms_io;
mod alarms_plan;
mod alarms_read;
pub mod answer;
mod apply;
mod batch;
mod checks;
pub mod cost;
mod display;
mod garbage;
pub mod metric_status;
pub mod objects;
mod ownership;
pub mod plan;
pub mod quota;
mod read;
pub mod sets;
pub mod status;
pub mod view;

pub use crate::spec::route53_policy::Route53Policy;
pub use account::Quota;
pub use alarms_read::read_with;
pub use apply::{apply, apply_with, Failure, Outcome};
pub use objects::{Desired, DesiredApp, Hold, Owner, PublicListener};
pub use plan::{plan, plan_holding, Plan};
pub use read::{read, records_named};
pub use sets::{AppSet, RecordSet};

use crate::aws::{CallError, Caller};
use crate::fence::Fence;
use crate::model::AppKey;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Reads Route 53 (and, with `cw`, the agent's alarms in its Region), plans
/// within the health-check quota (`quota`: the apps whose new checks do not fit
/// are held whole, with an error) and applies, once, asking `fence` before every
/// write. Also returns each desired app's record set after the changes.
pub async fn reconcile(
    r53: &aws_sdk_route53::Client,
    cw: Option<&aws_sdk_cloudwatch::Client>,
    caller: &Caller,
    owner: &Owner,
    desired: &Desired,
    fence: &dyn Fence,
    quota: &mut Quota,
) -> Result<(Plan, Outcome, BTreeMap<AppKey, AppSet>), CallError> {
    let actual = read_with(r53, cw, caller, &desired.apps).await?;
    let (p, _) = quota.plan(r53, caller, owner, desired, &actual).await;
    for c in &p.conflicts {
        tracing::warn!(namespace = %c.app.namespace, app = %c.app.name, conflict = %c.message, "Route 53 object left alone");
    }
    for c in &p.errors {
        tracing::error!(namespace = %c.app.namespace, app = %c.app.name, error = %c.message, "Route 53 app held");
    }
    caller.metrics().route53_conflicts.set(p.conflicts.len() as i64);
    let out = apply_with(r53, cw, caller, &p, fence).await;
    quota.sent(out.creates_sent);
    let sets = sets_after(desired, &actual.records, &p, &out);
    Ok((p, out, sets))
}

/// Each desired app's record set after `out`: the records as read, with the app's
/// own record as the plan made it when nothing of the app failed or was held (so
/// a record made by this reconcile is in the view at once).
fn sets_after(
    desired: &Desired,
    records: &[objects::ActualRecord],
    p: &Plan,
    out: &Outcome,
) -> BTreeMap<AppKey, AppSet> {
    let troubled: std::collections::BTreeSet<&AppKey> = p
        .conflicts
        .iter()
        .chain(&p.errors)
        .map(|c| &c.app)
        .chain(out.failed.iter().map(|f| &f.app))
        .chain(&p.held)
        .collect();
    desired
        .apps
        .iter()
        .map(|d| {
            let s = &d.settings;
            let mut set = RecordSet::of(&s.zone_id, &s.record_name, records);
            if out.lost.is_none() && !troubled.contains(&d.key) {
                set.put(sets::Member {
                    set_identifier: s.set_identifier.clone(),
                    routing: s.routing.clone(),
                    health_check_id: out.check_ids.get(&d.key).cloned(),
                    target: s.alias.as_ref().map(|a| a.dns_name.clone()).unwrap_or_default(),
                });
            }
            let here = s.set_identifier.clone();
            (d.key.clone(), AppSet { set, here })
        })
        .collect()
}

/// What one continuous reconcile reports.
#[derive(Debug, Clone)]
pub struct Report {
    /// The check ID of every app that has one.
    pub check_ids: BTreeMap<AppKey, String>,
    /// Failures and conflicts per app, for status.
    pub problems: BTreeMap<AppKey, Vec<String>>,
    pub complete: bool,
    /// The incarnations of the apps this reconcile wanted: an app missing here had
    /// its objects deleted (unless it has problems).
    pub incarnations: std::collections::BTreeSet<String>,
    /// The apps this reconcile left alone (held): their objects may still exist.
    pub held: std::collections::BTreeSet<AppKey>,
    /// Each app's record set as this reconcile read it: every Region's record.
    pub sets: BTreeMap<AppKey, AppSet>,
}

impl Report {
    /// The report of one reconcile of `want`: plan `p`, its outcome `out`, and the
    /// record sets after it. Complete only if every step succeeded and no app was
    /// held for an error.
    fn of(want: &Desired, p: &Plan, out: Outcome, sets: BTreeMap<AppKey, AppSet>) -> Report {
        let mut problems: BTreeMap<AppKey, Vec<String>> = BTreeMap::new();
        for c in p.conflicts.iter().chain(&p.errors) {
            problems.entry(c.app.clone()).or_default().push(c.message.clone());
        }
        for f in &out.failed {
            problems
                .entry(f.app.clone())
                .or_default()
                .push(format!("{}: {}", f.step, f.error));
        }
        Report {
            complete: out.is_complete() && p.errors.is_empty(),
            check_ids: out.check_ids.into_iter().collect(),
            problems,
            incarnations: want.apps.iter().map(|d| d.incarnation.clone()).collect(),
            held: p.held.clone(),
            sets,
        }
    }
}

impl Report {
    /// Every check the reported record sets' records use.
    pub fn every_check(&self) -> std::collections::BTreeSet<String> {
        let ids = self.sets.values().flat_map(|s| s.set.check_ids());
        ids.map(str::to_owned).collect()
    }
}

/// Reconciles whenever `desired` changes and at least every `every`, within the
/// health-check quota `quota` tracks. After a failure (apps held by the quota
/// included) it retries sooner, backing off from 5 s up to `every`.
///
/// Every write first asks `fence`. `shutdown` (in the cluster: the end of the
/// leader's term) drops a reconcile in flight at once, retries and all; so does a
/// closed fence, after which this returns without a report.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    r53: aws_sdk_route53::Client,
    cw: Option<aws_sdk_cloudwatch::Client>,
    caller: Arc<Caller>,
    owner: Owner,
    mut desired: watch::Receiver<Desired>,
    every: Duration,
    on_report: impl Fn(Report),
    fence: Arc<dyn Fence>,
    shutdown: CancellationToken,
    mut quota: Quota,
) {
    let mut retry = Duration::from_secs(5);
    loop {
        let want = desired.borrow_and_update().clone();
        let result = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = reconcile(&r53, cw.as_ref(), &caller, &owner, &want, fence.as_ref(), &mut quota) => r,
        };
        let wait = match result {
            Ok((_, out, _)) if out.lost.is_some() => {
                tracing::info!(
                    applied = out.applied.len(),
                    "Route 53 reconcile stopped: no longer the leader"
                );
                return;
            }
            Ok((p, out, sets)) => {
                let report = Report::of(&want, &p, out, sets);
                let complete = report.complete;
                if complete {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    caller.metrics().route53_last_success.set(now as i64);
                } else {
                    caller.metrics().route53_reconciles_failed.inc();
                }
                on_report(report);
                if complete {
                    retry = Duration::from_secs(5);
                    every
                } else {
                    let w = retry;
                    retry = (retry * 2).min(every);
                    w
                }
            }
            Err(e) => {
                caller.metrics().route53_reconciles_failed.inc();
                tracing::error!(error = %e, "cannot read Route 53; will retry");
                let w = retry;
                retry = (retry * 2).min(every);
                w
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            r = desired.changed() => if r.is_err() { return },
        }
    }
}
