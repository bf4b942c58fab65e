//! What Route 53 answers for one record set, by its documented rules: the share of
//! answers each record gets, and why. Pure: the records and their checks' statuses
//! (as Route 53 judges them) go in, the answer comes out.
//!
//! - **Failover**: the primary if it is healthy, else the secondary if it is healthy,
//!   else the primary.
//! - **Weighted**: each healthy record its weight's share of the healthy records'
//!   weights (equal shares when those weights are all 0); if none is healthy, every
//!   record, as if all were.
//! - **Latency**: clients nearest each Region get that Region's record if it is
//!   healthy; else one of the healthy Regions, which Route 53's latency data picks (the
//!   agent cannot see it, so the answer names them all); if none is healthy, every
//!   Region's own record.
//!
//! Shares of a latency set assume clients spread evenly over its Regions.
//!
//! A record without a health check counts as healthy. A check whose status is not
//! known yet counts as healthy too (Route 53 treats a new check as healthy), and the
//! answer says so.

use crate::spec::route53::{FailoverRole, Routing};
use std::collections::BTreeMap;
use std::fmt;

pub use crate::model::RecordHealth as Health;

/// One record of the set: its set identifier, routing and health.
#[derive(Clone, Debug, PartialEq)]
pub struct SetRecord {
    pub set_identifier: String,
    pub routing: Routing,
    pub health: Health,
}

/// Where answers go: the share (0 to 1) of answers per set identifier, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub shares: BTreeMap<String, f64>,
    /// For latency sets: per Region, the set identifiers its nearest clients get.
    pub by_region: BTreeMap<String, Vec<String>>,
    pub why: String,
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to: Vec<String> = self
            .shares
            .iter()
            .filter(|(_, s)| **s > 0.0)
            .map(|(id, s)| {
                if *s >= 1.0 {
                    id.clone()
                } else {
                    format!("{id} {:.0}%", s * 100.0)
                }
            })
            .collect();
        write!(f, "-> {} ({})", to.join(", "), self.why)
    }
}

/// The answer for `records`, one record set (same zone, name and type). `None` for
/// an empty set or one that mixes routing policies, which Route 53 refuses.
pub fn answer(records: &[SetRecord]) -> Option<Answer> {
    let first = records.first()?;
    let same = |r: &SetRecord| std::mem::discriminant(&r.routing) == std::mem::discriminant(&first.routing);
    if !records.iter().all(same) {
        return None;
    }
    let mut a = match first.routing {
        Routing::Failover(_) => failover(records)?,
        Routing::Weighted(_) => weighted(records),
        Routing::Latency(_) => latency(records),
    };
    if records.iter().any(|r| r.health == Health::Unknown) {
        a.why
            .push_str("; some checks' status is not known yet (counted healthy)");
    }
    Some(a)
}

fn one(id: &str, why: String) -> Answer {
    Answer {
        shares: BTreeMap::from([(id.to_owned(), 1.0)]),
        by_region: BTreeMap::new(),
        why,
    }
}

fn failover(records: &[SetRecord]) -> Option<Answer> {
    let role = |want| {
        records
            .iter()
            .find(|r| matches!(r.routing, Routing::Failover(role) if role == want))
    };
    let (primary, secondary) = (role(FailoverRole::Primary), role(FailoverRole::Secondary));
    Some(match (primary, secondary) {
        (Some(p), _) if p.health.counts_healthy() => {
            one(&p.set_identifier, format!("primary {} healthy", p.set_identifier))
        }
        (Some(p), Some(s)) if s.health.counts_healthy() => one(
            &s.set_identifier,
            format!(
                "primary {} unhealthy, secondary {} healthy",
                p.set_identifier, s.set_identifier
            ),
        ),
        (Some(p), Some(_)) => one(
            &p.set_identifier,
            "primary and secondary unhealthy: Route 53 answers the primary".into(),
        ),
        (Some(p), None) => one(
            &p.set_identifier,
            "primary unhealthy and no secondary: Route 53 answers the primary".into(),
        ),
        (None, Some(s)) => one(&s.set_identifier, "no primary: only the secondary can answer".into()),
        (None, None) => return None,
    })
}

fn weighted(records: &[SetRecord]) -> Answer {
    let weight = |r: &SetRecord| match r.routing {
        Routing::Weighted(w) => f64::from(w),
        _ => 0.0,
    };
    let healthy: Vec<&SetRecord> = records.iter().filter(|r| r.health.counts_healthy()).collect();
    let (pool, why) = if healthy.is_empty() {
        (
            records.iter().collect(),
            "no record healthy: Route 53 answers as if all were".to_string(),
        )
    } else {
        let n = records.len() - healthy.len();
        (
            healthy,
            if n == 0 {
                "every record healthy".into()
            } else {
                format!("{n} record(s) unhealthy, left out")
            },
        )
    };
    let total: f64 = pool.iter().map(|r| weight(r)).sum();
    let shares = pool
        .iter()
        .map(|r| {
            let s = if total > 0.0 {
                weight(r) / total
            } else {
                1.0 / pool.len() as f64
            };
            (r.set_identifier.clone(), s)
        })
        .collect();
    Answer {
        shares,
        by_region: BTreeMap::new(),
        why,
    }
}

fn latency(records: &[SetRecord]) -> Answer {
    let region = |r: &SetRecord| match &r.routing {
        Routing::Latency(region) => region.clone(),
        _ => String::new(),
    };
    let healthy: Vec<&SetRecord> = records.iter().filter(|r| r.health.counts_healthy()).collect();
    let mut by_region = BTreeMap::new();
    let mut down = Vec::new();
    for r in records {
        let to = if r.health.counts_healthy() || healthy.is_empty() {
            vec![r.set_identifier.clone()]
        } else {
            down.push(region(r));
            healthy.iter().map(|h| h.set_identifier.clone()).collect()
        };
        by_region.insert(region(r), to);
    }
    let shares = if healthy.is_empty() {
        records
            .iter()
            .map(|r| (r.set_identifier.clone(), 1.0 / records.len() as f64))
            .collect()
    } else {
        let healthy_len = healthy.len() as f64;
        records
            .iter()
            .map(|r| {
                let s = if r.health.counts_healthy() {
                    1.0 / healthy_len
                } else {
                    0.0
                };
                (r.set_identifier.clone(), s)
            })
            .collect()
    };
    let why = if healthy.is_empty() {
        "no Region healthy: each Region's clients get its own record".to_string()
    } else if down.is_empty() {
        "every Region healthy: clients get their nearest".to_string()
    } else {
        format!(
            "{} unhealthy: its clients go to the nearest healthy Region",
            down.join(", ")
        )
    };
    Answer { shares, by_region, why }
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
