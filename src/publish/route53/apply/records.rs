//! The record step of [`super::apply`]: each zone's record upserts and deletes, in
//! batches. An app whose check is not ready keeps its records as they are: it is
//! failed, counted and retried by the next run, never pointed at a missing check.

use super::{Gate, Outcome};
use crate::aws::{Caller, ChangeKind};
use crate::model::AppKey;
use crate::publish::route53::batch::change;
use crate::publish::route53::batch::change_zone;
use crate::publish::route53::batch::desired_record;
use crate::publish::route53::plan::CheckRef;
use crate::publish::route53::plan::Plan;
use crate::publish::route53::plan::Step;
use aws_sdk_route53::types::{Change, ChangeAction};
use aws_sdk_route53::Client;
use std::collections::{BTreeMap, HashSet};

/// Each zone's record changes, in batches; an app in `failed_apps` keeps its records.
pub(super) async fn apply_records(
    r53: &Client,
    caller: &Caller,
    plan: &Plan,
    out: &mut Outcome,
    failed_apps: &mut HashSet<AppKey>,
    gate: &mut Gate<'_>,
) {
    if gate.closed() {
        return;
    }
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
        let Some((zone, change)) = record_change(caller, step, out, failed_apps) else {
            continue;
        };
        match change {
            Ok(c) => by_zone.entry(zone).or_default().push((step, c)),
            Err(e) => out.fail(caller, ChangeKind::UpsertRecord, step, e),
        }
    }
    for (zone, changes) in by_zone {
        for (step, res) in change_zone(r53, caller, zone, changes, gate).await {
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

/// The zone and the Route 53 change of a record step: an upsert (create if the
/// record is new) aliased to the app's check, or the delete of the record as read.
/// `None` for any other step, a delete with nothing read, or an upsert whose new
/// check could not be created (counted as failed, and its app added to
/// `failed_apps`).
fn record_change<'p>(
    caller: &Caller,
    step: &'p Step,
    out: &mut Outcome,
    failed_apps: &mut HashSet<AppKey>,
) -> Option<(&'p str, Result<Change, String>)> {
    match step {
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
                return None;
            };
            let action = if before.is_some() {
                ChangeAction::Upsert
            } else {
                ChangeAction::Create
            };
            Some((&record.key.zone, change(action, desired_record(record, &id))))
        }
        Step::DeleteRecord { record, .. } => record
            .raw
            .as_ref()
            .map(|raw| (record.key.zone.as_str(), change(ChangeAction::Delete, Ok(raw.clone())))),
        _ => None,
    }
}
