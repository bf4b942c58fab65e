//! Every app's record set as Route 53 holds it: the records at the app's zone and
//! name, this Region's and every other Region's (an agent's or anyone's). The
//! reconcile reads them anyway; this groups them per app, and joins them with
//! their checks' statuses into what [`super::answer`] needs.

use super::answer::{Health, SetRecord};
use super::objects::ActualRecord;
use crate::spec::route53::RecordType;
use crate::spec::route53::Routing;
use serde::Serialize;
use std::collections::BTreeMap;

/// One record of a set, as Route 53 holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub set_identifier: String,
    pub routing: Routing,
    /// The record's health check, if it has one.
    pub health_check_id: Option<String>,
    /// Where it points: the alias target's DNS name, or the values of a plain record.
    pub target: String,
}

/// One app's record set: its zone, name and records, ordered by set identifier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordSet {
    pub zone: String,
    pub name: String,
    pub members: Vec<Member>,
}

/// An app's record set, and which of its records is this cluster's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppSet {
    pub set: RecordSet,
    /// The set identifier of this cluster's record.
    pub here: String,
}

impl RecordSet {
    /// The set at `zone` and `name` among `records`: those with a routing policy
    /// (a plain record is no member of a set), of one type: `A` if the name has
    /// any, else `AAAA`. A dual-stack app's `AAAA` records share its `A` records'
    /// checks, so they answer alike.
    pub fn of(zone: &str, name: &str, records: &[ActualRecord]) -> RecordSet {
        let at = |r: &&ActualRecord| r.key.zone == zone && r.key.name == name;
        let rr_type = if records.iter().filter(at).any(|r| r.key.rr_type == RecordType::A) {
            RecordType::A
        } else {
            RecordType::Aaaa
        };
        let mut members: Vec<Member> = records
            .iter()
            .filter(at)
            .filter(|r| r.key.rr_type == rr_type)
            .filter_map(|r| {
                Some(Member {
                    set_identifier: r.key.set_identifier.clone(),
                    routing: r.routing.clone()?,
                    health_check_id: r.health_check_id.clone(),
                    target: target(r),
                })
            })
            .collect();
        members.sort_by(|a, b| a.set_identifier.cmp(&b.set_identifier));
        RecordSet {
            zone: zone.to_owned(),
            name: name.to_owned(),
            members,
        }
    }

    /// Puts `m` in the set, in place of the record with its set identifier if any.
    pub fn put(&mut self, m: Member) {
        self.members.retain(|x| x.set_identifier != m.set_identifier);
        self.members.push(m);
        self.members.sort_by(|a, b| a.set_identifier.cmp(&b.set_identifier));
    }

    /// Every check the set's records use.
    pub fn check_ids(&self) -> impl Iterator<Item = &str> {
        self.members.iter().filter_map(|m| m.health_check_id.as_deref())
    }

    /// The set's records with their health: a record without a check is
    /// [`Health::NoCheck`]; one whose check `status` does not know (or knows as
    /// `None`, no report yet) is [`Health::Unknown`].
    pub fn with_health(&self, status: &BTreeMap<String, Option<bool>>) -> Vec<SetRecord> {
        self.members
            .iter()
            .map(|m| SetRecord {
                set_identifier: m.set_identifier.clone(),
                routing: m.routing.clone(),
                health: match &m.health_check_id {
                    None => Health::NoCheck,
                    Some(id) => match status.get(id).copied().flatten() {
                        Some(true) => Health::Healthy,
                        Some(false) => Health::Unhealthy,
                        None => Health::Unknown,
                    },
                },
            })
            .collect()
    }
}

fn target(r: &ActualRecord) -> String {
    if let Some(a) = &r.alias {
        return a.dns_name.clone();
    }
    let values: Vec<&str> = r
        .raw
        .as_ref()
        .map(|raw| raw.resource_records().iter().map(|v| v.value()).collect())
        .unwrap_or_default();
    values.join(",")
}

#[cfg(test)]
#[path = "sets_tests.rs"]
mod tests;
