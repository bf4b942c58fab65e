//! The pure diff of what the apps want against what Route 53 holds. [`plan`]
//! does no I/O, so it can be printed (`failover-agent route53 plan`) and tested
//! on its own; `apply` carries it out.
//!
//! Ownership rules, which the plan never breaks:
//! - a health check is ours if it is tagged with this cluster's ID (or, untagged,
//!   has the exact CallerReference we would have made: a create whose tagging was
//!   cut short);
//! - a record is ours if its `HealthCheckId` is one of our checks;
//! - nothing else is changed or deleted. A wanted record that exists and is not
//!   ours is a [`Conflict`], reported and left alone.

use super::objects::{
    app_tag, parse_app_tag, Actual, ActualCheck, ActualRecord, CheckConfig, DesiredApp, Owner, RecordKey, TAG_APP,
};
use super::spec::{Alias, Routing};
use crate::model::AppKey;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The record an app wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredRecord {
    pub key: RecordKey,
    pub routing: Routing,
    pub alias: Alias,
}

/// The check a record points at: one that exists, or the one this plan creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckRef {
    Id(String),
    NewFor(AppKey),
}

/// One change.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    CreateCheck {
        app: AppKey,
        caller_reference: String,
        config: CheckConfig,
        tags: Vec<(String, String)>,
    },
    /// Tag an untagged check that we created (a create cut short before tagging).
    AdoptCheck {
        app: AppKey,
        id: String,
        tags: Vec<(String, String)>,
    },
    UpdateCheck {
        app: AppKey,
        id: String,
        version: i64,
        from: CheckConfig,
        to: CheckConfig,
    },
    /// `before` is the record being replaced, or `None` to create it.
    UpsertRecord {
        app: AppKey,
        record: DesiredRecord,
        check: CheckRef,
        before: Option<ActualRecord>,
    },
    DeleteRecord {
        app: AppKey,
        record: ActualRecord,
    },
    DeleteCheck {
        app: AppKey,
        id: String,
        why: &'static str,
    },
}

/// A wanted object that the plan leaves alone, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub app: AppKey,
    pub message: String,
}

/// The changes that bring Route 53 to what the apps want.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub conflicts: Vec<Conflict>,
}

impl Step {
    /// The app the step is for.
    pub fn app(&self) -> &AppKey {
        match self {
            Step::CreateCheck { app, .. }
            | Step::AdoptCheck { app, .. }
            | Step::UpdateCheck { app, .. }
            | Step::UpsertRecord { app, .. }
            | Step::DeleteRecord { app, .. }
            | Step::DeleteCheck { app, .. } => app,
        }
    }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Diffs `desired` (every app with a `route53` block) against `actual`.
///
/// Apps absent from `desired` lose their owned checks and records, so `desired`
/// must be complete: callers plan only from a fully synced source.
pub fn plan(owner: &Owner, desired: &[DesiredApp], actual: &Actual) -> Plan {
    plan_holding(owner, desired, &BTreeSet::new(), actual)
}

/// [`plan`], leaving the objects of the apps in `hold` exactly as they are.
pub fn plan_holding(owner: &Owner, desired: &[DesiredApp], hold: &BTreeSet<AppKey>, actual: &Actual) -> Plan {
    let mut p = Plan::default();
    let held = |c: &ActualCheck| {
        c.tag(TAG_APP)
            .and_then(parse_app_tag)
            .is_some_and(|k| hold.contains(&k))
    };
    let owned: Vec<&ActualCheck> = actual.checks.iter().filter(|c| owner.owns(c) && !held(c)).collect();
    let owned_ids: HashSet<&str> = owned.iter().map(|c| c.id.as_str()).collect();
    let ours = |r: &ActualRecord| r.health_check_id.as_deref().is_some_and(|id| owned_ids.contains(id));
    let mut kept: HashSet<&str> = HashSet::new();
    let mut wanted_records: HashSet<&RecordKey> = HashSet::new();
    let mut desired_keys = Vec::new();
    for d in desired {
        let tags = owner.tags_for(d);
        let want = owner.check_for(d);
        let caller_reference = owner.caller_reference(d, &want);
        let mine = |c: &&ActualCheck| c.tag(TAG_APP) == Some(app_tag(&d.key).as_str());
        // The current check: owned, or ours but untagged, with the right immutable settings.
        let current = owned
            .iter()
            .copied()
            .filter(mine)
            .find(|c| c.caller_reference.starts_with(&caller_reference))
            .or_else(|| {
                actual.checks.iter().find(|c| {
                    c.tag(super::objects::TAG_CLUSTER).is_none() && c.caller_reference.starts_with(&caller_reference)
                })
            });
        let check = match current {
            Some(c) => {
                kept.insert(&c.id);
                let mut sorted = tags.clone();
                sorted.sort();
                if !owner.owns(c) || c.tags != sorted {
                    p.steps.push(Step::AdoptCheck {
                        app: d.key.clone(),
                        id: c.id.clone(),
                        tags: tags.clone(),
                    });
                }
                match &c.config {
                    Some(have) if *have == want => {}
                    Some(have) if have.can_update_to(&want) => p.steps.push(Step::UpdateCheck {
                        app: d.key.clone(),
                        id: c.id.clone(),
                        version: c.version,
                        from: have.clone(),
                        to: want.clone(),
                    }),
                    _ => p.conflicts.push(Conflict {
                        app: d.key.clone(),
                        message: format!(
                            "health check {} has a type the agent does not make; delete it by hand",
                            c.id
                        ),
                    }),
                }
                CheckRef::Id(c.id.clone())
            }
            None => {
                p.steps.push(Step::CreateCheck {
                    app: d.key.clone(),
                    caller_reference,
                    config: want.clone(),
                    tags: tags.clone(),
                });
                CheckRef::NewFor(d.key.clone())
            }
        };
        desired_keys.push(d.key.clone());
        let key = RecordKey {
            zone: d.settings.zone_id.clone(),
            name: d.settings.record_name.clone(),
            set_identifier: d.settings.set_identifier.clone(),
        };
        let Some(alias) = d.settings.alias.clone() else {
            p.conflicts.push(Conflict {
                app: d.key.clone(),
                message: format!("record {key} has no aliasTarget: set route53.aliasTarget"),
            });
            continue;
        };
        let record = DesiredRecord {
            key,
            routing: d.settings.routing.clone(),
            alias,
        };
        let existing = actual.records.iter().find(|r| r.key == record.key);
        match existing {
            Some(r) if !ours(r) => {
                p.conflicts.push(Conflict {
                    app: d.key.clone(),
                    message: format!(
                        "record {} exists and is not owned by this agent (health check {}); delete it or choose another setIdentifier",
                        record.key,
                        r.health_check_id.as_deref().unwrap_or("none")
                    ),
                });
            }
            Some(r) if matches_record(r, &record, &check) => {
                wanted_records.insert(&r.key);
            }
            Some(r) => {
                wanted_records.insert(&r.key);
                p.steps.push(Step::UpsertRecord {
                    app: d.key.clone(),
                    record,
                    check,
                    before: Some(r.clone()),
                });
            }
            None => p.steps.push(Step::UpsertRecord {
                app: d.key.clone(),
                record,
                check,
                before: None,
            }),
        }
    }
    // Owned records nobody wants (an app gone, or its record renamed).
    for r in actual
        .records
        .iter()
        .filter(|r| ours(r) && !wanted_records.contains(&r.key))
    {
        let app = owned
            .iter()
            .find(|c| Some(c.id.as_str()) == r.health_check_id.as_deref())
            .and_then(|c| c.tag(TAG_APP))
            .and_then(parse_app_tag);
        if let Some(app) = app {
            // A record being re-pointed by an upsert above is replaced, not deleted.
            let upserted = p
                .steps
                .iter()
                .any(|s| matches!(s, Step::UpsertRecord { before: Some(b), .. } if b.key == r.key));
            if !upserted {
                p.steps.push(Step::DeleteRecord { app, record: r.clone() });
            }
        }
    }
    // Owned checks nobody uses: the app is gone, or its check was replaced.
    let mut gone: BTreeMap<String, Step> = BTreeMap::new();
    for c in owned.iter().filter(|c| !kept.contains(c.id.as_str())) {
        let Some(app) = c.tag(TAG_APP).and_then(parse_app_tag) else {
            continue;
        };
        let why = if desired_keys.contains(&app) {
            "replaced by a new check"
        } else {
            "the app is gone"
        };
        gone.insert(
            c.id.clone(),
            Step::DeleteCheck {
                app,
                id: c.id.clone(),
                why,
            },
        );
    }
    p.steps.extend(gone.into_values());
    p
}

fn matches_record(r: &ActualRecord, want: &DesiredRecord, check: &CheckRef) -> bool {
    let CheckRef::Id(id) = check else { return false };
    r.alias.as_ref() == Some(&want.alias)
        && r.routing.as_ref() == Some(&want.routing)
        && r.health_check_id.as_deref() == Some(id.as_str())
        && !r.evaluate_target_health
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
