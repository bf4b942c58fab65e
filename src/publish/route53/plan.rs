//! The pure diff of what the apps want against what Route 53 holds. [`plan`]
//! does no I/O, so it can be printed (`failover-agent route53 plan`) and tested
//! on its own; `apply` carries it out.
//!
//! Ownership rules, which the plan never breaks:
//! - a health check is ours if it is tagged with this cluster's ID (or, untagged,
//!   has our CallerReference prefix and checks our public hostname: a create whose
//!   tagging was cut short). It is an app's when its app tag names that app;
//! - a record is an app's only if its `HealthCheckId` is **that app's** own check:
//!   no app can take over, re-point or delete another app's record, whoever owns
//!   the other check;
//! - one record key (zone, name, set identifier) belongs to one app: the first in
//!   `desired` order (callers put the oldest first). The others are [`Conflict`]s
//!   and held;
//! - a held app's objects (`hold`, a lost claim, or a zone Route 53 would not let
//!   us read) are neither changed nor collected, and no other app's objects are
//!   collected because of it;
//! - nothing else is changed or deleted. A wanted record that exists and is not
//!   the app's is a [`Conflict`], reported and left alone.

use super::garbage::collect;
use super::objects::{
    moving_from, Actual, ActualCheck, ActualRecord, CheckConfig, DesiredApp, Hold, Owner, RecordKey, TAG_MOVING_FROM,
    TAG_RECORD, TAG_SET, TAG_ZONE,
};
use super::ownership::{active, record_keys, Ownership};
use crate::model::AppKey;
use crate::spec::route53::Alias;
use crate::spec::route53::Routing;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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
    /// Before an app's record moves: tag its check with the new record and the one
    /// it moves from, so every read looks at both until the move is done. The app's
    /// record changes wait for it.
    MarkMove {
        app: AppKey,
        id: String,
        tags: Vec<(String, String)>,
    },
    /// Re-tag an owned check (its record moved, or its tags are out of date).
    /// Applied only after the app's record changes succeeded.
    RetagCheck {
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
    /// The alarm of a `CLOUDWATCH_METRIC` check ([`super::alarms`]).
    Alarm(super::alarms::AlarmStep),
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
    /// Wanted objects left alone because someone else has them.
    pub conflicts: Vec<Conflict>,
    /// Apps that could not be planned because Route 53 refused to show their zone
    /// (AccessDenied, NoSuchHostedZone, ...): held, and reported as errors.
    pub errors: Vec<Conflict>,
    /// Every app whose objects this plan leaves exactly as they are: the `hold`
    /// it was given, lost claims, and apps in unreadable zones.
    pub held: BTreeSet<AppKey>,
    /// The existing check each planned app keeps (steps or none).
    pub kept: BTreeMap<AppKey, String>,
}

impl Step {
    /// The app the step is for.
    pub fn app(&self) -> &AppKey {
        match self {
            Step::CreateCheck { app, .. }
            | Step::AdoptCheck { app, .. }
            | Step::MarkMove { app, .. }
            | Step::RetagCheck { app, .. }
            | Step::UpdateCheck { app, .. }
            | Step::UpsertRecord { app, .. }
            | Step::DeleteRecord { app, .. }
            | Step::DeleteCheck { app, .. } => app,
            Step::Alarm(a) => a.app(),
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
    plan_holding(owner, desired, &Hold::default(), actual)
}

/// [`plan`], leaving the objects of the apps in `hold` exactly as they are.
pub fn plan_holding(owner: &Owner, desired: &[DesiredApp], hold: &Hold, actual: &Actual) -> Plan {
    let mut p = Plan::default();
    let (desired, held_apps) = active(desired, &hold.apps, actual, &mut p);
    p.held.clone_from(&held_apps);
    let own = Ownership::new(owner, actual, &held_apps, &hold.incarnations);
    let mut kept: HashSet<&str> = HashSet::new();
    let mut wanted_records: HashSet<&RecordKey> = HashSet::new();
    // Which record each planned app wants: a record whose app wants another one
    // (or is gone) is let go by that app, and may be taken by the app that wants it.
    let wants: HashMap<&AppKey, Vec<RecordKey>> = desired.iter().map(|d| (&d.key, record_keys(d))).collect();
    for d in &desired {
        let check = plan_check(&mut p, &own, d, &mut kept);
        if let CheckRef::Id(id) = &check {
            p.kept.insert(d.key.clone(), id.clone());
        }
        // Every record type the app wants uses the one check.
        for key in record_keys(d) {
            plan_record(&mut p, &own, d, key, check.clone(), &wants, &mut wanted_records);
        }
    }
    collect(&mut p, &own, &desired, &kept, &wanted_records);
    super::alarms::plan_alarms(&mut p, &own, &desired);
    p
}

/// The steps that give `d` its check: keep (and adopt, re-tag or update) the
/// current one, or create it. Returns how `d`'s record refers to it.
fn plan_check<'a>(p: &mut Plan, own: &Ownership<'a>, d: &DesiredApp, kept: &mut HashSet<&'a str>) -> CheckRef {
    let owner = own.owner;
    let tags = owner.tags_for(d);
    let want = owner.check_for(d);
    let caller_reference = owner.caller_reference(d, &want);
    let Some(c) = own.current_check(d, &caller_reference) else {
        p.steps.push(Step::CreateCheck {
            app: d.key.clone(),
            caller_reference,
            config: want,
            tags,
        });
        return CheckRef::NewFor(d.key.clone());
    };
    kept.insert(&c.id);
    if !owner.owns(c) {
        let (app, id) = (d.key.clone(), c.id.clone());
        p.steps.push(Step::AdoptCheck { app, id, tags });
    } else {
        p.steps.extend(retag(d, c, tags));
    }
    match &c.config {
        Some(have) if *have == want => {}
        Some(have) if have.can_update_to(&want) => p.steps.push(Step::UpdateCheck {
            app: d.key.clone(),
            id: c.id.clone(),
            version: c.version,
            from: have.clone(),
            to: want,
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

/// The steps that give `d` its record at `key`, pointing at `check`, or the
/// conflict that leaves it alone. Records `d` keeps go into `wanted` (they are
/// not collected).
fn plan_record<'a>(
    p: &mut Plan,
    own: &Ownership<'a>,
    d: &DesiredApp,
    key: RecordKey,
    check: CheckRef,
    wants: &HashMap<&AppKey, Vec<RecordKey>>,
    wanted: &mut HashSet<&'a RecordKey>,
) {
    let Some(alias) = d.settings.alias.clone() else {
        p.conflicts.push(Conflict {
            app: d.key.clone(),
            message: format!("record {key} has no aliasTarget: set route53.aliasTarget"),
        });
        return;
    };
    let record = DesiredRecord {
        key,
        routing: d.settings.routing.clone(),
        alias,
    };
    let app = d.key.clone();
    let Some(r) = own.actual.records.iter().find(|r| r.key == record.key) else {
        p.steps.push(Step::UpsertRecord {
            app,
            record,
            check,
            before: None,
        });
        return;
    };
    let hc = r.health_check_id.as_deref().unwrap_or("none");
    let holder = own.owner_of(r);
    let lets_go = |a: &AppKey| *a != d.key && wants.get(a).is_none_or(|w| !w.contains(&r.key));
    match holder {
        // The record of another app that lets it go (gone, or wanting another
        // record; never a held one): that app deletes its own record, then this
        // one creates its own, in one batch.
        Some(other) if own.ours(r) && !own.is_mine(r, d) && lets_go(&other) => {
            wanted.insert(&r.key);
            p.steps.push(Step::DeleteRecord {
                app: other,
                record: r.clone(),
            });
            p.steps.push(Step::UpsertRecord {
                app,
                record,
                check,
                before: None,
            });
        }
        Some(other) if !own.is_mine(r, d) => p.conflicts.push(Conflict {
            app,
            message: format!(
                "record {} belongs to app {}/{} (its health check {hc}); it is left to that app",
                record.key, other.namespace, other.name
            ),
        }),
        None => p.conflicts.push(Conflict {
            app,
            message: format!(
                "record {} exists and is not owned by this agent (health check {hc}); delete it or choose another setIdentifier",
                record.key
            ),
        }),
        Some(_) => {
            wanted.insert(&r.key);
            if !matches_record(r, &record, &check) {
                p.steps.push(Step::UpsertRecord {
                    app,
                    record,
                    check,
                    before: Some(r.clone()),
                });
            }
        }
    }
}

/// Re-tags an owned check whose tags differ from `tags`. When its record moves,
/// it is first marked with the record it moves from (so every read looks at both
/// until the move is done); the final re-tag comes after the record changes.
fn retag(d: &DesiredApp, c: &ActualCheck, tags: Vec<(String, String)>) -> Vec<Step> {
    let mut sorted = tags.clone();
    sorted.sort();
    if c.tags == sorted {
        return Vec::new();
    }
    let names = |t: &[(String, String)]| {
        let get = |k: &str| t.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        (get(TAG_ZONE), get(TAG_RECORD), get(TAG_SET))
    };
    let (app, id) = (d.key.clone(), c.id.clone());
    let mut steps = Vec::new();
    if let (Some(zone), Some(name), _) = names(&c.tags) {
        if names(&c.tags) != names(&tags) {
            let mut marked = tags.clone();
            marked.push((TAG_MOVING_FROM.into(), moving_from(&zone, &name)));
            steps.push(Step::MarkMove {
                app: app.clone(),
                id: id.clone(),
                tags: marked,
            });
        }
    }
    steps.push(Step::RetagCheck { app, id, tags });
    steps
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
pub(crate) mod tests;

#[cfg(test)]
#[path = "ownership_tests.rs"]
mod ownership_tests;

#[cfg(test)]
#[path = "dual_stack_tests.rs"]
mod dual_stack_tests;
