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

use super::objects::{
    app_tag, parse_app_tag, Actual, ActualCheck, ActualRecord, CheckConfig, DesiredApp, Hold, Owner, RecordKey,
    TAG_APP, TAG_INCARNATION, TAG_MOVING_FROM, TAG_RECORD, TAG_ZONE,
};
use super::spec::{Alias, Routing};
use crate::model::AppKey;
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
        }
    }
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The key of the record `d` wants.
fn record_key(d: &DesiredApp) -> RecordKey {
    RecordKey {
        zone: d.settings.zone_id.clone(),
        name: d.settings.record_name.clone(),
        set_identifier: d.settings.set_identifier.clone(),
    }
}

/// The apps that can be planned now, and the ones held with them: apps in `hold`,
/// apps whose zone could not be read (`p.errors`), and apps that want a record key
/// an earlier app in `desired` already claims (`p.conflicts`).
fn active<'a>(
    desired: &'a [DesiredApp],
    hold: &BTreeSet<AppKey>,
    actual: &Actual,
    p: &mut Plan,
) -> (Vec<&'a DesiredApp>, BTreeSet<AppKey>) {
    let mut hold = hold.clone();
    let unreadable = |zone: &str, why: &str| {
        format!("hosted zone {zone} cannot be read ({why}); this app's objects are left as they are")
    };
    // An owned check recorded in an unreadable zone: its record may exist unseen.
    for c in &actual.checks {
        let zone = c.tag(super::objects::TAG_ZONE).map(super::spec::bare_zone);
        let Some((zone, why)) = zone.and_then(|z| actual.unreadable.get_key_value(&z)) else {
            continue;
        };
        if let Some(app) = c.tag(TAG_APP).and_then(parse_app_tag) {
            if hold.insert(app.clone()) {
                p.errors.push(Conflict {
                    message: unreadable(zone, why),
                    app,
                });
            }
        }
    }
    let mut claimed: BTreeMap<RecordKey, &AppKey> = BTreeMap::new();
    let mut out = Vec::new();
    for d in desired {
        let key = record_key(d);
        if let Some(why) = actual.unreadable.get(&key.zone) {
            if hold.insert(d.key.clone()) {
                p.errors.push(Conflict {
                    app: d.key.clone(),
                    message: unreadable(&key.zone, why),
                });
            }
        } else if let Some(winner) = claimed.get(&key) {
            p.conflicts.push(Conflict {
                app: d.key.clone(),
                message: format!(
                    "record {key} is claimed by {}/{}, which comes first (the older AppHealth); this app's objects are held",
                    winner.namespace, winner.name
                ),
            });
            hold.insert(d.key.clone());
        } else if !hold.contains(&d.key) {
            claimed.insert(key, &d.key);
            out.push(d);
        }
    }
    (out, hold)
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
    let app_of_check = |c: &ActualCheck| c.tag(TAG_APP).and_then(parse_app_tag);
    let held = |c: &ActualCheck| {
        app_of_check(c).is_some_and(|k| held_apps.contains(&k))
            || c.tag(TAG_INCARNATION).is_some_and(|i| hold.incarnations.contains(i))
    };
    // A check is `d`'s when it carries d's app tag and was made by d's incarnation
    // (checks from before the incarnation tag carry none).
    let made_by = |c: &ActualCheck, d: &DesiredApp| {
        c.tag(TAG_APP) == Some(app_tag(&d.key).as_str()) && c.tag(TAG_INCARNATION).is_none_or(|i| i == d.incarnation)
    };
    let owned: Vec<&ActualCheck> = actual.checks.iter().filter(|c| owner.owns(c) && !held(c)).collect();
    // Every owned check, held ones included: a record is an app's only if it points
    // at one of that app's own checks.
    let by_id: HashMap<&str, &ActualCheck> = actual
        .checks
        .iter()
        .filter(|c| owner.owns(c))
        .map(|c| (c.id.as_str(), c))
        .collect();
    let check_of = |r: &ActualRecord| r.health_check_id.as_deref().and_then(|id| by_id.get(id).copied());
    let app_of: HashMap<&str, AppKey> = by_id
        .iter()
        .filter_map(|(id, c)| Some((*id, app_of_check(c)?)))
        .collect();
    let owner_of = |r: &ActualRecord| r.health_check_id.as_deref().and_then(|id| app_of.get(id));
    // A record is `d`'s when its check carries d's app tag and is not held (an
    // earlier incarnation of d that is gone counts: d re-points the record).
    let is_mine = |r: &ActualRecord, d: &DesiredApp| {
        check_of(r).is_some_and(|c| app_of_check(c).as_ref() == Some(&d.key) && !held(c))
    };
    let owned_ids: HashSet<&str> = owned.iter().map(|c| c.id.as_str()).collect();
    let ours = |r: &ActualRecord| r.health_check_id.as_deref().is_some_and(|id| owned_ids.contains(id));
    let mut kept: HashSet<&str> = HashSet::new();
    let mut wanted_records: HashSet<&RecordKey> = HashSet::new();
    let mut desired_keys = Vec::new();
    // Which record each planned app wants: a record whose app wants another one
    // (or is gone) is let go by that app, and may be taken by the app that wants it.
    let wants: HashMap<&AppKey, RecordKey> = desired.iter().map(|d| (&d.key, record_key(d))).collect();
    let lets_go = |a: &AppKey, k: &RecordKey| wants.get(a).is_none_or(|w| w != k);
    for d in desired {
        let tags = owner.tags_for(d);
        let want = owner.check_for(d);
        let caller_reference = owner.caller_reference(d, &want);
        let mine = |c: &&ActualCheck| made_by(c, d);
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
                let (app, id, tags) = (d.key.clone(), c.id.clone(), tags.clone());
                if !owner.owns(c) {
                    p.steps.push(Step::AdoptCheck { app, id, tags });
                } else if c.tags != sorted {
                    let names = |t: &[(String, String)]| {
                        let get = |k: &str| t.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                        (get(TAG_ZONE), get(TAG_RECORD), get(super::objects::TAG_SET))
                    };
                    if let (Some(zone), Some(name), _) = names(&c.tags).clone() {
                        if names(&c.tags) != names(&tags) {
                            let mut marked = tags.clone();
                            marked.push((TAG_MOVING_FROM.into(), super::objects::moving_from(&zone, &name)));
                            p.steps.push(Step::MarkMove {
                                app: app.clone(),
                                id: id.clone(),
                                tags: marked,
                            });
                        }
                    }
                    p.steps.push(Step::RetagCheck { app, id, tags });
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
        let key = record_key(d);
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
            // The record of another app that lets it go (gone, or wanting another
            // record; never a held one): that app deletes its own record, then this
            // one creates its own, in one batch.
            Some(r) if ours(r) && !is_mine(r, d) && owner_of(r).is_some_and(|a| *a != d.key && lets_go(a, &r.key)) => {
                wanted_records.insert(&r.key);
                if let Some(gone) = owner_of(r) {
                    p.steps.push(Step::DeleteRecord {
                        app: gone.clone(),
                        record: r.clone(),
                    });
                }
                p.steps.push(Step::UpsertRecord {
                    app: d.key.clone(),
                    record,
                    check,
                    before: None,
                });
            }
            Some(r) if owner_of(r).is_some() && !is_mine(r, d) => {
                let other = owner_of(r)
                    .map(|a| format!("{}/{}", a.namespace, a.name))
                    .unwrap_or_default();
                p.conflicts.push(Conflict {
                    app: d.key.clone(),
                    message: format!(
                        "record {} belongs to app {other} (its health check {}); it is left to that app",
                        record.key,
                        r.health_check_id.as_deref().unwrap_or("none")
                    ),
                });
            }
            Some(r) if owner_of(r).is_none() => {
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
    // Owned records their app no longer wants (the app is gone, or its record moved).
    for r in actual
        .records
        .iter()
        .filter(|r| ours(r) && !wanted_records.contains(&r.key))
    {
        if let Some(app) = owner_of(r).cloned() {
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
    // Checks whose creation was cut short before tagging and whose app no longer
    // wants them (no record can use an untagged check: records come after tagging).
    for c in actual.checks.iter().filter(|c| orphan(owner, c, &kept)) {
        gone.insert(
            c.id.clone(),
            Step::DeleteCheck {
                app: AppKey {
                    namespace: "-".into(),
                    name: c.caller_reference.clone(),
                },
                id: c.id.clone(),
                why: "created but never tagged, and no app wants it",
            },
        );
    }
    p.steps.extend(gone.into_values());
    p
}

/// An untagged check of ours (our CallerReference prefix, our public hostname)
/// that no desired app adopted.
fn orphan(owner: &Owner, c: &ActualCheck, kept: &HashSet<&str>) -> bool {
    c.tag(super::objects::TAG_CLUSTER).is_none()
        && c.caller_reference.starts_with(super::objects::REF_PREFIX)
        && c.config
            .as_ref()
            .is_some_and(|cfg| cfg.fqdn == owner.public_hostname.trim_end_matches('.').to_ascii_lowercase())
        && !kept.contains(c.id.as_str())
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

#[cfg(test)]
#[path = "ownership_tests.rs"]
mod ownership_tests;
