//! Where each app is served: its record set (every Region's record) joined with
//! Route 53's view of each record's check, and the answer that gives. Pure: both
//! modes feed it what their AWS tasks last read.

use super::answer::answer;
use super::sets::RecordSet;
use crate::model::{DnsView, RegionView};
use crate::spec::route53::{FailoverRole, Routing};
use std::collections::BTreeMap;

/// The view of `set` given the checks' `statuses` (check ID → Route 53's view,
/// `None` not known yet). `here` is the set identifier of this cluster's own record.
/// `since` is kept from `old` while the shares stay as they were, else it is `now`.
/// `None` when the set has no routed records (or mixes policies).
pub fn dns_view(
    set: &RecordSet,
    here: &str,
    statuses: &BTreeMap<String, Option<bool>>,
    old: Option<&DnsView>,
    now: impl FnOnce() -> String,
) -> Option<DnsView> {
    let records = set.with_health(statuses);
    let a = answer(&records)?;
    let regions = set
        .members
        .iter()
        .zip(&records)
        .map(|(m, r)| RegionView {
            set_identifier: m.set_identifier.clone(),
            policy: policy(&m.routing),
            route53: r.health,
            health_check_id: m.health_check_id.clone(),
            target: m.target.clone(),
            here: m.set_identifier == here,
        })
        .collect();
    // Every record has a share, 0 for those that get no answers.
    let mut shares = a.shares.clone();
    for m in &set.members {
        shares.entry(m.set_identifier.clone()).or_insert(0.0);
    }
    let since = match old {
        Some(o) if o.shares == shares => o.since.clone(),
        _ => Some(now()),
    };
    Some(DnsView {
        answer: a.to_string(),
        shares,
        since,
        regions,
    })
}

/// A record's routing policy in words.
pub fn policy(r: &Routing) -> String {
    match r {
        Routing::Failover(FailoverRole::Primary) => "failover PRIMARY".into(),
        Routing::Failover(FailoverRole::Secondary) => "failover SECONDARY".into(),
        Routing::Weighted(w) => format!("weight {w}"),
        Routing::Latency(region) => format!("latency {region}"),
    }
}

/// `cloudwatch`'s statuses, with this Region's own check as `GetHealthCheckStatus`
/// last read it (seconds fresher than the metric's minute) where it is known.
pub fn statuses_with(
    cloudwatch: &BTreeMap<String, Option<bool>>,
    own: Option<(&str, bool)>,
) -> BTreeMap<String, Option<bool>> {
    let mut s = cloudwatch.clone();
    if let Some((id, healthy)) = own {
        s.insert(id.to_owned(), Some(healthy));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RecordHealth;
    use crate::publish::route53::sets::Member;

    fn set() -> RecordSet {
        let m = |id: &str, role, check: Option<&str>| Member {
            set_identifier: id.into(),
            routing: Routing::Failover(role),
            health_check_id: check.map(str::to_owned),
            target: format!("alb-{id}.elb.amazonaws.com."),
        };
        RecordSet {
            zone: "Z".into(),
            name: "app1.example.com.".into(),
            members: vec![
                m("eu-central-1", FailoverRole::Secondary, Some("c2")),
                m("eu-west-1", FailoverRole::Primary, Some("c1")),
            ],
        }
    }

    #[test]
    fn the_view_names_every_region_and_moves_since_only_when_the_answer_moves() {
        let healthy = BTreeMap::from([("c1".to_string(), Some(true)), ("c2".to_string(), Some(true))]);
        let v = dns_view(&set(), "eu-west-1", &healthy, None, || "t0".into()).unwrap();
        assert_eq!(v.all_to(), Some("eu-west-1"));
        assert_eq!(v.since.as_deref(), Some("t0"));
        let here: Vec<(&str, bool, &str)> = v
            .regions
            .iter()
            .map(|r| (r.set_identifier.as_str(), r.here, r.policy.as_str()))
            .collect();
        assert_eq!(
            here,
            [
                ("eu-central-1", false, "failover SECONDARY"),
                ("eu-west-1", true, "failover PRIMARY")
            ]
        );
        // Same answer: `since` stays.
        let again = dns_view(&set(), "eu-west-1", &healthy, Some(&v), || "t1".into()).unwrap();
        assert_eq!(again.since.as_deref(), Some("t0"));
        // The primary's check fails (this Region's own, fresher read wins): the answer moves.
        let moved = statuses_with(&healthy, Some(("c1", false)));
        let m = dns_view(&set(), "eu-west-1", &moved, Some(&again), || "t2".into()).unwrap();
        assert_eq!(m.all_to(), Some("eu-central-1"));
        assert_eq!(m.shares["eu-west-1"], 0.0, "every record has a share");
        assert_eq!(m.since.as_deref(), Some("t2"));
        assert_eq!(m.regions[1].route53, RecordHealth::Unhealthy);
        assert!(
            m.answer.starts_with("-> eu-central-1 (primary eu-west-1 unhealthy"),
            "{}",
            m.answer
        );
    }

    #[test]
    fn an_empty_set_has_no_view() {
        let empty = RecordSet::default();
        assert_eq!(dns_view(&empty, "x", &BTreeMap::new(), None, String::new), None);
    }
}
