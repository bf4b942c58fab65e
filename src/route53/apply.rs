//! Carries out a [`Plan`]: checks first, then each zone's record changes in
//! batches, then re-tags of checks whose record moved, then deletes of checks
//! that no record uses any more. A step that depends on an app's failed record
//! change waits for the next run.
//!
//! Every failure is kept in the [`Outcome`] (and logged and counted); nothing is
//! dropped. A failed step is simply planned again on the next run, because
//! [`plan`](super::plan::plan) starts from what Route 53 really holds.

use super::checks::{create_check, tag_check, update_check};
use super::plan::{CheckRef, DesiredRecord, Plan, Step};
use super::spec::{FailoverRole, Routing};
use crate::aws::{Api, CallError, Caller, ChangeKind};
use crate::model::AppKey;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, ResourceRecordSet, ResourceRecordSetFailover,
    ResourceRecordSetRegion, RrType,
};
use aws_sdk_route53::Client;
use std::collections::{BTreeMap, HashMap, HashSet};
use tracing::instrument;

/// Route 53 counts an UPSERT twice against the 1,000-record limit of one change batch.
const BATCH_WEIGHT: usize = 1000;

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
}

impl Outcome {
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
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

/// Applies `plan`. `check_ids` of the outcome also include the checks that
/// already existed and were kept.
#[instrument(skip_all, fields(steps = plan.steps.len()))]
pub async fn apply(r53: &Client, caller: &Caller, plan: &Plan) -> Outcome {
    let mut out = Outcome::default();
    let mut failed_apps = apply_checks(r53, caller, plan, &mut out).await;
    apply_records(r53, caller, plan, &mut out, &mut failed_apps).await;
    apply_retags(r53, caller, plan, &mut out, &failed_apps).await;
    apply_deletes(r53, caller, plan, &mut out, &failed_apps).await;
    out
}

/// Creates, adopts, marks and updates checks. Returns the apps whose records must
/// not change in this run: their check could not be created, or their move marked.
async fn apply_checks(r53: &Client, caller: &Caller, plan: &Plan, out: &mut Outcome) -> HashSet<AppKey> {
    let mut failed_apps: HashSet<AppKey> = HashSet::new();
    // Apps whose move could not be marked: their records stay where they are.
    let mut moving: HashSet<AppKey> = HashSet::new();
    for step in &plan.steps {
        match step {
            Step::CreateCheck {
                app,
                caller_reference,
                config,
                tags,
            } => {
                match create_check(r53, caller, caller_reference, config).await {
                    Ok(id) => {
                        out.check_ids.insert(app.clone(), id.clone());
                        out.done(caller, ChangeKind::CreateCheck, step);
                        // An untagged check is adopted by the next plan (its CallerReference
                        // is ours), so a failure here is reported and retried, never lost.
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
            Step::AdoptCheck { app, id, tags } => {
                out.check_ids.insert(app.clone(), id.clone());
                match tag_check(r53, caller, id, tags).await {
                    Ok(()) => out.done(caller, ChangeKind::TagCheck, step),
                    Err(e) => out.fail(caller, ChangeKind::TagCheck, step, e.to_string()),
                }
            }
            // Until the check names both records, the app's record must not move.
            Step::MarkMove { app, id, tags } => {
                out.check_ids.insert(app.clone(), id.clone());
                match tag_check(r53, caller, id, tags).await {
                    Ok(()) => out.done(caller, ChangeKind::TagCheck, step),
                    Err(e) => {
                        moving.insert(app.clone());
                        out.fail(caller, ChangeKind::TagCheck, step, e.to_string());
                    }
                }
            }
            Step::UpdateCheck {
                app, id, version, to, ..
            } => {
                out.check_ids.insert(app.clone(), id.clone());
                match update_check(r53, caller, id, *version, to).await {
                    Ok(()) => out.done(caller, ChangeKind::UpdateCheck, step),
                    Err(e) => out.fail(caller, ChangeKind::UpdateCheck, step, e.to_string()),
                }
            }
            _ => {}
        }
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
    failed_apps.extend(moving);
    failed_apps
}

/// Each zone's record changes, in batches; an app in `failed_apps` keeps its records.
async fn apply_records(
    r53: &Client,
    caller: &Caller,
    plan: &Plan,
    out: &mut Outcome,
    failed_apps: &mut HashSet<AppKey>,
) {
    // Record changes, per zone, in batches.
    let mut by_zone: BTreeMap<&str, Vec<(&Step, Change)>> = BTreeMap::new();
    for step in &plan.steps {
        if matches!(step, Step::UpsertRecord { .. } | Step::DeleteRecord { .. }) && failed_apps.contains(step.app()) {
            out.fail(
                caller,
                ChangeKind::UpsertRecord,
                step,
                "kept until the app's check is ready (created, or marked with the record it moves to)".into(),
            );
            continue;
        }
        let change = match step {
            Step::UpsertRecord {
                app,
                record,
                check,
                before,
            } => {
                let id = match check {
                    CheckRef::Id(id) => Some(id.clone()),
                    CheckRef::NewFor(k) => out.check_ids.get(k).cloned(),
                };
                let Some(id) = id else {
                    out.fail(
                        caller,
                        ChangeKind::UpsertRecord,
                        step,
                        "its health check could not be created".into(),
                    );
                    failed_apps.insert(app.clone());
                    continue;
                };
                let action = if before.is_some() {
                    ChangeAction::Upsert
                } else {
                    ChangeAction::Create
                };
                (&record.key.zone, change(action, desired_record(record, &id)))
            }
            Step::DeleteRecord { record, .. } => match &record.raw {
                Some(raw) => (&record.key.zone, change(ChangeAction::Delete, Ok(raw.clone()))),
                None => continue,
            },
            _ => continue,
        };
        match change.1 {
            Ok(c) => by_zone.entry(change.0.as_str()).or_default().push((step, c)),
            Err(e) => out.fail(caller, ChangeKind::UpsertRecord, step, e),
        }
    }
    for (zone, changes) in by_zone {
        for (step, res) in change_zone(r53, caller, zone, changes).await {
            let kind = if matches!(step, Step::DeleteRecord { .. }) {
                ChangeKind::DeleteRecord
            } else {
                ChangeKind::UpsertRecord
            };
            match res {
                Ok(()) => out.done(caller, kind, step),
                Err(e) => {
                    if let Step::UpsertRecord { app, .. } | Step::DeleteRecord { app, .. } = step {
                        failed_apps.insert(app.clone());
                    }
                    out.fail(caller, kind, step, e.to_string());
                }
            }
        }
    }
}

async fn apply_retags(r53: &Client, caller: &Caller, plan: &Plan, out: &mut Outcome, failed_apps: &HashSet<AppKey>) {
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
        match tag_check(r53, caller, id, tags).await {
            Ok(()) => out.done(caller, ChangeKind::TagCheck, step),
            Err(e) => out.fail(caller, ChangeKind::TagCheck, step, e.to_string()),
        }
    }
}

async fn apply_deletes(r53: &Client, caller: &Caller, plan: &Plan, out: &mut Outcome, failed_apps: &HashSet<AppKey>) {
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

fn change(action: ChangeAction, rrs: Result<ResourceRecordSet, String>) -> Result<Change, String> {
    Change::builder()
        .action(action)
        .resource_record_set(rrs?)
        .build()
        .map_err(|e| e.to_string())
}

/// Sends one zone's changes in batches under the record limit. A rejected batch
/// (one bad change fails the whole batch) is split into single changes, so one
/// conflict cannot hold back the other apps.
async fn change_zone<'a>(
    r53: &Client,
    caller: &Caller,
    zone: &str,
    changes: Vec<(&'a Step, Change)>,
) -> Vec<(&'a Step, Result<(), CallError>)> {
    let mut results = Vec::new();
    let mut batch: Vec<(&Step, Change)> = Vec::new();
    let mut weight = 0;
    let mut batches = Vec::new();
    for (s, c) in changes {
        let w = if *c.action() == ChangeAction::Upsert { 2 } else { 1 };
        if weight + w > BATCH_WEIGHT {
            batches.push(std::mem::take(&mut batch));
            weight = 0;
        }
        weight += w;
        batch.push((s, c));
    }
    batches.push(batch);
    for batch in batches.into_iter().filter(|b| !b.is_empty()) {
        match send(r53, caller, zone, batch.iter().map(|(_, c)| c.clone()).collect()).await {
            Ok(()) => results.extend(batch.into_iter().map(|(s, _)| (s, Ok(())))),
            Err(e) if batch.len() == 1 || e.kind != crate::aws::Kind::Fatal => {
                results.extend(batch.into_iter().map(|(s, _)| (s, Err(e.clone()))))
            }
            Err(_) => {
                for (s, c) in batch {
                    let r = send(r53, caller, zone, vec![c]).await;
                    results.push((s, r));
                }
            }
        }
    }
    results
}

async fn send(r53: &Client, caller: &Caller, zone: &str, changes: Vec<Change>) -> Result<(), CallError> {
    let batch = ChangeBatch::builder()
        .comment("failover-agent")
        .set_changes(Some(changes))
        .build()
        .map_err(|e| build_error(Api::ChangeResourceRecordSets, e))?;
    caller
        .call(Api::ChangeResourceRecordSets, || {
            r53.change_resource_record_sets()
                .hosted_zone_id(zone)
                .change_batch(batch.clone())
                .send()
        })
        .await
        .map(|_| ())
}

fn desired_record(r: &DesiredRecord, check_id: &str) -> Result<ResourceRecordSet, String> {
    let alias = AliasTarget::builder()
        .dns_name(&r.alias.dns_name)
        .hosted_zone_id(&r.alias.zone_id)
        .evaluate_target_health(false)
        .build()
        .map_err(|e| e.to_string())?;
    let b = ResourceRecordSet::builder()
        .name(&r.key.name)
        .r#type(RrType::A)
        .set_identifier(&r.key.set_identifier)
        .alias_target(alias)
        .health_check_id(check_id);
    let b = match &r.routing {
        Routing::Latency(region) => b.region(ResourceRecordSetRegion::from(region.as_str())),
        Routing::Failover(FailoverRole::Primary) => b.failover(ResourceRecordSetFailover::Primary),
        Routing::Failover(FailoverRole::Secondary) => b.failover(ResourceRecordSetFailover::Secondary),
        Routing::Weighted(w) => b.weight(i64::from(*w)),
    };
    b.build().map_err(|e| e.to_string())
}

pub(super) fn build_error(api: Api, e: impl std::fmt::Display) -> CallError {
    CallError {
        api,
        kind: crate::aws::Kind::Fatal,
        code: None,
        message: e.to_string(),
        attempts: 0,
    }
}
