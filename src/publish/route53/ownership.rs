//! Who owns what, for the plan: which apps can be planned now and which are held
//! ([`active`]: the caller's holds, lost record claims, unreadable zones), and,
//! over what Route 53 holds, whose check and record each one is ([`Ownership`]).
//! Pure, like the plan.

use super::objects::{
    app_tag, parse_app_tag, Actual, ActualCheck, ActualRecord, DesiredApp, Owner, RecordKey, REF_PREFIX, TAG_APP,
    TAG_CLUSTER, TAG_INCARNATION, TAG_ZONE,
};
use super::plan::{Conflict, Plan};
use crate::model::AppKey;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The keys of the records `d` wants: one per record type, sorted.
pub(super) fn record_keys(d: &DesiredApp) -> Vec<RecordKey> {
    d.settings
        .record_types()
        .iter()
        .map(|&rr_type| RecordKey {
            zone: d.settings.zone_id.clone(),
            name: d.settings.record_name.clone(),
            set_identifier: d.settings.set_identifier.clone(),
            rr_type,
        })
        .collect()
}

/// What one app claims whole: a zone, name and set identifier, of every type.
fn claim_of(d: &DesiredApp) -> (&str, &str, &str) {
    let s = &d.settings;
    (&s.zone_id, &s.record_name, &s.set_identifier)
}

/// The apps that can be planned now, and the ones held with them: apps in `hold`,
/// apps whose zone could not be read (`p.errors`), and apps that want a record key
/// an earlier app in `desired` already claims (`p.conflicts`).
pub(super) fn active<'a>(
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
        let zone = c.tag(TAG_ZONE).map(crate::spec::route53::bare_zone);
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
    let mut claimed: BTreeMap<(&str, &str, &str), &AppKey> = BTreeMap::new();
    let mut out = Vec::new();
    for d in desired {
        let key = claim_of(d);
        let (zone, name, set) = key;
        let alarms_unreadable = actual
            .alarms_unreadable
            .as_ref()
            .filter(|_| d.settings.metric.is_some());
        if let Some(why) = alarms_unreadable {
            if hold.insert(d.key.clone()) {
                p.errors.push(Conflict {
                    app: d.key.clone(),
                    message: format!(
                        "its CloudWatch alarms cannot be read ({why}); this app's objects are left as they are"
                    ),
                });
            }
        } else if let Some(why) = actual.unreadable.get(zone) {
            if hold.insert(d.key.clone()) {
                p.errors.push(Conflict {
                    app: d.key.clone(),
                    message: unreadable(zone, why),
                });
            }
        } else if let Some(winner) = claimed.get(&key) {
            p.conflicts.push(Conflict {
                app: d.key.clone(),
                message: format!(
                    "record {name} [{set}] in {zone} is claimed by {}/{}, which comes first (the older AppHealth); this app's objects are held",
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

/// Whose checks and records are whose, with the held apps' left out of reach.
pub(super) struct Ownership<'a> {
    pub owner: &'a Owner,
    pub actual: &'a Actual,
    held_apps: &'a BTreeSet<AppKey>,
    held_incarnations: &'a BTreeSet<String>,
    /// Every check this cluster owns, held ones included.
    by_id: HashMap<&'a str, &'a ActualCheck>,
}

impl<'a> Ownership<'a> {
    pub fn new(
        owner: &'a Owner,
        actual: &'a Actual,
        held_apps: &'a BTreeSet<AppKey>,
        held_incarnations: &'a BTreeSet<String>,
    ) -> Self {
        let by_id = actual
            .checks
            .iter()
            .filter(|c| owner.owns(c))
            .map(|c| (c.id.as_str(), c))
            .collect();
        Ownership {
            owner,
            actual,
            held_apps,
            held_incarnations,
            by_id,
        }
    }

    /// True if `c` belongs to a held app, or was made by a held incarnation.
    pub fn held(&self, c: &ActualCheck) -> bool {
        app_of(c).is_some_and(|k| self.held_apps.contains(&k))
            || c.tag(TAG_INCARNATION)
                .is_some_and(|i| self.held_incarnations.contains(i))
    }

    /// True if `app`'s objects are held.
    pub fn app_held(&self, app: &AppKey) -> bool {
        self.held_apps.contains(app)
    }

    /// The checks this cluster owns that are not held: the only ones a plan changes.
    pub fn owned(&self) -> impl Iterator<Item = &'a ActualCheck> + '_ {
        let actual: &'a Actual = self.actual;
        actual.checks.iter().filter(|c| self.owner.owns(c) && !self.held(c))
    }

    /// `d`'s current check: owned and made by `d`, or ours but untagged, with the
    /// CallerReference of the immutable settings `d` wants.
    pub fn current_check(&self, d: &DesiredApp, caller_reference: &str) -> Option<&'a ActualCheck> {
        let actual: &'a Actual = self.actual;
        self.owned()
            .filter(|c| made_by(c, d))
            .find(|c| c.caller_reference.starts_with(caller_reference))
            .or_else(|| {
                actual
                    .checks
                    .iter()
                    .find(|c| c.tag(TAG_CLUSTER).is_none() && c.caller_reference.starts_with(caller_reference))
            })
    }

    fn check_of(&self, r: &ActualRecord) -> Option<&'a ActualCheck> {
        r.health_check_id.as_deref().and_then(|id| self.by_id.get(id).copied())
    }

    /// The app whose owned check `r` points at (held or not).
    pub fn owner_of(&self, r: &ActualRecord) -> Option<AppKey> {
        self.check_of(r).and_then(app_of)
    }

    /// True if `r` points at an owned check that is not held: a plan may change it.
    pub fn ours(&self, r: &ActualRecord) -> bool {
        self.check_of(r).is_some_and(|c| !self.held(c))
    }

    /// A record is `d`'s when its check carries d's app tag and is not held (an
    /// earlier incarnation of d that is gone counts: d re-points the record).
    pub fn is_mine(&self, r: &ActualRecord, d: &DesiredApp) -> bool {
        self.check_of(r)
            .is_some_and(|c| app_of(c).as_ref() == Some(&d.key) && !self.held(c))
    }

    /// An untagged check of ours (our CallerReference prefix, our public hostname)
    /// that no desired app adopted: a create cut short before tagging.
    pub fn orphan(&self, c: &ActualCheck, kept: &HashSet<&str>) -> bool {
        c.tag(TAG_CLUSTER).is_none()
            && c.caller_reference.starts_with(REF_PREFIX)
            && c.config.as_ref().is_some_and(|cfg| match &cfg.alarm {
                Some(a) => a.name.starts_with(&super::alarms::alarm_prefix(&self.owner.cluster_id)),
                None => cfg.fqdn == self.owner.public_hostname.trim_end_matches('.').to_ascii_lowercase(),
            })
            && !kept.contains(c.id.as_str())
    }
}

/// The app a check's tag names.
fn app_of(c: &ActualCheck) -> Option<AppKey> {
    c.tag(TAG_APP).and_then(parse_app_tag)
}

/// A check is `d`'s when it carries d's app tag and was made by d's incarnation
/// (checks from before the incarnation tag carry none).
fn made_by(c: &ActualCheck, d: &DesiredApp) -> bool {
    c.tag(TAG_APP) == Some(app_tag(&d.key).as_str()) && c.tag(TAG_INCARNATION).is_none_or(|i| i == d.incarnation)
}
