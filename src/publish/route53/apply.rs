//! Carries out a [`Plan`]: checks first, then each zone's record changes in
//! batches, then re-tags of checks whose record moved, then deletes of checks
//! that no record uses any more. A step that depends on an app's failed record
//! change waits for the next run.
//!
//! Every failure is kept in the [`Outcome`] (and logged and counted); nothing is
//! dropped. A failed step is simply planned again on the next run, because
//! [`plan`](super::plan::plan) starts from what Route 53 really holds.
//!
//! Fenced: the [`Fence`] is asked right before every write (each health check
//! create, tag, update and delete, and each `ChangeResourceRecordSets` batch). Once
//! it says [`Lost`], nothing more is sent: the steps left are neither applied nor
//! failed, and [`Outcome::lost`] says why. A step cut short this way is planned
//! again by whoever leads next, from what Route 53 then holds.

use super::alarms::AlarmStep;
use super::alarms_io;
use super::checks::{create_check, tag_check, update_check};
use super::plan::{CheckRef, Plan, Step};
use crate::aws::{Api, Caller, ChangeKind};
use crate::fence::{Fence, Lost};
use crate::model::AppKey;
use aws_sdk_route53::Client;
use std::collections::{HashMap, HashSet};
use tracing::instrument;

mod records;
use records::apply_records;

/// A step that failed.
#[derive(Debug, Clone)]
pub struct Failure {
    pub app: AppKey,
    /// The step, as printed by the plan.
    pub step: String,
    pub error: String,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Each applied step, as printed by the plan.
    pub applied: Vec<String>,
    /// Each step that failed, with why. Retried on the next run.
    pub failed: Vec<Failure>,
    /// The health check ID of each app that has one now.
    pub check_ids: HashMap<AppKey, String>,
    /// Set when the fence closed during the apply: the steps not yet sent were not.
    pub lost: Option<Lost>,
    /// Checks whose create was sent (made or failed): the day's create budget.
    pub creates_sent: usize,
}

impl Outcome {
    /// True when every step was applied: none failed and the fence never closed.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.lost.is_none()
    }
    fn fail(&mut self, caller: &Caller, kind: ChangeKind, step: &Step, why: String) {
        caller.metrics().change(kind, false);
        tracing::error!(step = %step, error = %why, "Route 53 change failed; it will be retried");
        self.failed.push(Failure {
            app: step.app().clone(),
            step: step.to_string(),
            error: why,
        });
    }
    fn done(&mut self, caller: &Caller, kind: ChangeKind, step: &Step) {
        caller.metrics().change(kind, true);
        tracing::info!(step = %step, "Route 53 change applied");
        self.applied.push(step.to_string());
    }
}

/// Asks the fence before each write; once it closes, it stays closed.
pub(super) struct Gate<'a> {
    fence: &'a dyn Fence,
    lost: Option<Lost>,
}

impl Gate<'_> {
    /// True once the fence has closed: nothing more is sent, and nothing more is
    /// judged either (a step not sent is not a failure).
    fn closed(&self) -> bool {
        self.lost.is_some()
    }

    /// True if the next write may be sent now.
    pub(super) fn open(&mut self) -> bool {
        if self.lost.is_some() {
            return false;
        }
        match self.fence.check() {
            Ok(()) => true,
            Err(lost) => {
                tracing::warn!(reason = %lost, "Route 53 apply stopped: the fence closed");
                self.lost = Some(lost);
                false
            }
        }
    }
}

/// Applies `plan`, asking `fence` before every write. `check_ids` of the outcome
/// also include the checks that already existed and were kept.
pub async fn apply(r53: &Client, caller: &Caller, plan: &Plan, fence: &dyn Fence) -> Outcome {
    apply_with(r53, None, caller, plan, fence).await
}

/// [`apply`], with `cw` (the agent's Region) for the alarms of `CLOUDWATCH_METRIC`
/// checks: alarms are put before the checks that name them, and deleted after the
/// checks that named them (an app with a failure keeps its alarm until next time).
#[instrument(skip_all, fields(steps = plan.steps.len()))]
pub async fn apply_with(
    r53: &Client,
    cw: Option<&aws_sdk_cloudwatch::Client>,
    caller: &Caller,
    plan: &Plan,
    fence: &dyn Fence,
) -> Outcome {
    let mut out = Outcome::default();
    let mut gate = Gate { fence, lost: None };
    let steps: Vec<&Step> = alarms_io::puts(plan).collect();
    apply_alarms(cw, caller, &steps, &mut out, &mut gate).await;
    let mut failed_apps = apply_checks(r53, caller, plan, &mut out, &mut gate).await;
    apply_records(r53, caller, plan, &mut out, &mut failed_apps, &mut gate).await;
    apply_retags(r53, caller, plan, &mut out, &failed_apps, &mut gate).await;
    apply_deletes(r53, caller, plan, &mut out, &failed_apps, &mut gate).await;
    // An app with any failure (a check not deleted, ...) keeps its alarm until next time.
    failed_apps.extend(out.failed.iter().map(|f| f.app.clone()));
    let steps: Vec<&Step> = alarms_io::deletes(plan, &failed_apps).collect();
    apply_alarms(cw, caller, &steps, &mut out, &mut gate).await;
    out.lost = gate.lost;
    out
}

/// Puts or deletes each alarm of `steps`, each while the fence is open.
async fn apply_alarms(
    cw: Option<&aws_sdk_cloudwatch::Client>,
    caller: &Caller,
    steps: &[&Step],
    out: &mut Outcome,
    gate: &mut Gate<'_>,
) {
    for step in steps {
        let Step::Alarm(a) = step else { continue };
        if !gate.open() {
            return;
        }
        let kind = match a {
            AlarmStep::Put { .. } => ChangeKind::PutAlarm,
            AlarmStep::Delete { .. } => ChangeKind::DeleteAlarm,
        };
        match alarms_io::apply_alarm(cw, caller, a).await {
            Ok(()) => out.done(caller, kind, step),
            Err(e) => out.fail(caller, kind, step, e),
        }
    }
}

/// Creates, adopts, marks and updates checks. Returns the apps whose records must
/// not change in this run: their check could not be created, or their move marked.
async fn apply_checks(
    r53: &Client,
    caller: &Caller,
    plan: &Plan,
    out: &mut Outcome,
    gate: &mut Gate<'_>,
) -> HashSet<AppKey> {
    let mut failed_apps: HashSet<AppKey> = HashSet::new();
    // Apps whose move could not be marked: their records stay where they are.
    let mut moving: HashSet<AppKey> = HashSet::new();
    for step in &plan.steps {
        let writes = matches!(
            step,
            Step::CreateCheck { .. } | Step::AdoptCheck { .. } | Step::MarkMove { .. } | Step::UpdateCheck { .. }
        );
        if writes && !gate.open() {
            break;
        }
        match step {
            Step::CreateCheck {
                app,
                caller_reference,
                config,
                tags,
            } => {
                out.creates_sent += 1;
                match create_check(r53, caller, caller_reference, config).await {
                    Ok(id) => {
                        out.check_ids.insert(app.clone(), id.clone());
                        out.done(caller, ChangeKind::CreateCheck, step);
                        // An untagged check is adopted by the next plan (its CallerReference
                        // is ours), so a failure here is reported and retried, never lost.
                        if !gate.open() {
                            break;
                        }
                        if let Err(e) = tag_check(r53, caller, &id, tags).await {
                            out.fail(caller, ChangeKind::TagCheck, step, e.to_string());
                        }
                    }
                    Err(e) => {
                        failed_apps.insert(app.clone());
                        out.fail(caller, ChangeKind::CreateCheck, step, e.to_string());
                    }
                }
            }
            // Until the check names both records, the app's record must not move.
            Step::MarkMove { app, .. } => {
                if !apply_existing_check(r53, caller, step, out).await {
                    moving.insert(app.clone());
                }
            }
            _ => {
                apply_existing_check(r53, caller, step, out).await;
            }
        }
    }
    note_kept_check_ids(plan, out);
    failed_apps.extend(moving);
    failed_apps
}

/// Adopts (tags), marks (tags) or updates a check that already exists, and records
/// its id in `out`. False if that write failed; true for any other step, which is
/// left alone.
async fn apply_existing_check(r53: &Client, caller: &Caller, step: &Step, out: &mut Outcome) -> bool {
    let (kind, result) = match step {
        Step::AdoptCheck { app, id, tags } | Step::MarkMove { app, id, tags } => {
            out.check_ids.insert(app.clone(), id.clone());
            (ChangeKind::TagCheck, tag_check(r53, caller, id, tags).await)
        }
        Step::UpdateCheck {
            app, id, version, to, ..
        } => {
            out.check_ids.insert(app.clone(), id.clone());
            (
                ChangeKind::UpdateCheck,
                update_check(r53, caller, id, *version, to).await,
            )
        }
        _ => return true,
    };
    match result {
        Ok(()) => {
            out.done(caller, kind, step);
            true
        }
        Err(e) => {
            out.fail(caller, kind, step, e.to_string());
            false
        }
    }
}

/// Records in `out` the id of each check a record already names, and of each
/// check the plan keeps (in line: no step names it), for the apps whose check no
/// step above wrote.
fn note_kept_check_ids(plan: &Plan, out: &mut Outcome) {
    for (app, id) in &plan.kept {
        out.check_ids.entry(app.clone()).or_insert_with(|| id.clone());
    }
    for step in &plan.steps {
        if let Step::UpsertRecord {
            app,
            check: CheckRef::Id(id),
            ..
        } = step
        {
            out.check_ids.entry(app.clone()).or_insert_with(|| id.clone());
        }
    }
}

async fn apply_retags(
    r53: &Client,
    caller: &Caller,
    plan: &Plan,
    out: &mut Outcome,
    failed_apps: &HashSet<AppKey>,
    gate: &mut Gate<'_>,
) {
    if gate.closed() {
        return;
    }
    // Re-tags after the records: until the app's record moved, the old tags keep
    // naming the old record, so a failed delete is found and retried next time.
    for step in &plan.steps {
        let Step::RetagCheck { app, id, tags } = step else {
            continue;
        };
        out.check_ids.entry(app.clone()).or_insert_with(|| id.clone());
        if failed_apps.contains(app) {
            out.fail(
                caller,
                ChangeKind::TagCheck,
                step,
                "kept until the app's record change succeeds".into(),
            );
            continue;
        }
        if !gate.open() {
            return;
        }
        match tag_check(r53, caller, id, tags).await {
            Ok(()) => out.done(caller, ChangeKind::TagCheck, step),
            Err(e) => out.fail(caller, ChangeKind::TagCheck, step, e.to_string()),
        }
    }
}

async fn apply_deletes(
    r53: &Client,
    caller: &Caller,
    plan: &Plan,
    out: &mut Outcome,
    failed_apps: &HashSet<AppKey>,
    gate: &mut Gate<'_>,
) {
    if gate.closed() {
        return;
    }
    // Checks last: only once no record of the app can still point at them.
    for step in &plan.steps {
        let Step::DeleteCheck { app, id, .. } = step else {
            continue;
        };
        if failed_apps.contains(app) {
            out.fail(
                caller,
                ChangeKind::DeleteCheck,
                step,
                "kept until the app's record change succeeds".into(),
            );
            continue;
        }
        if !gate.open() {
            return;
        }
        match caller
            .call(Api::DeleteHealthCheck, || {
                r53.delete_health_check().health_check_id(id).send()
            })
            .await
        {
            Ok(_) => out.done(caller, ChangeKind::DeleteCheck, step),
            Err(e) if e.is("NoSuchHealthCheck") => out.done(caller, ChangeKind::DeleteCheck, step),
            Err(e) => out.fail(caller, ChangeKind::DeleteCheck, step, e.to_string()),
        }
    }
}
