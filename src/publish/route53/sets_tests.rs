//! Tests of `publish/route53/sets.rs`.

use super::*;
use crate::publish::route53::objects::RecordKey;
use crate::spec::route53::{Alias, FailoverRole};

fn rec(zone: &str, name: &str, id: &str, routing: Option<Routing>, check: Option<&str>) -> ActualRecord {
    ActualRecord {
        key: RecordKey {
            zone: zone.into(),
            name: name.into(),
            set_identifier: id.into(),
            rr_type: RecordType::A,
        },
        routing,
        alias: Some(Alias::new(&format!("{id}.elb.amazonaws.com"), "Z1")),
        health_check_id: check.map(str::to_owned),
        evaluate_target_health: false,
        raw: None,
    }
}

#[test]
fn a_set_is_its_name_s_routed_records_joined_with_their_checks_status() {
    let p = Some(Routing::Failover(FailoverRole::Primary));
    let s = Some(Routing::Failover(FailoverRole::Secondary));
    let records = vec![
        rec("Z", "app1.example.com.", "eu-west-1", p.clone(), Some("c1")),
        rec("Z", "app1.example.com.", "eu-central-1", s, None),
        rec("Z", "app2.example.com.", "eu-west-1", p.clone(), Some("c2")),
        rec("Z", "app1.example.com.", "", None, None),
        rec("OTHER", "app1.example.com.", "x", p, Some("c3")),
    ];
    let set = RecordSet::of("Z", "app1.example.com.", &records);
    let ids: Vec<&str> = set.members.iter().map(|m| m.set_identifier.as_str()).collect();
    assert_eq!(
        ids,
        ["eu-central-1", "eu-west-1"],
        "other names, zones and plain records are left out"
    );
    assert_eq!(set.check_ids().collect::<Vec<_>>(), ["c1"]);
    let h: Vec<Health> = set.with_health(&BTreeMap::new()).iter().map(|r| r.health).collect();
    assert_eq!(h, [Health::NoCheck, Health::Unknown]);
    let status = BTreeMap::from([("c1".to_string(), Some(false))]);
    let h: Vec<Health> = set.with_health(&status).iter().map(|r| r.health).collect();
    assert_eq!(h, [Health::NoCheck, Health::Unhealthy]);
    // This cluster's record as the plan made it replaces the one read before.
    let mut set = set;
    set.put(Member {
        set_identifier: "eu-central-1".into(),
        routing: Routing::Failover(FailoverRole::Secondary),
        health_check_id: Some("c9".into()),
        target: "x".into(),
    });
    assert_eq!(set.members.len(), 2);
    assert_eq!(set.check_ids().collect::<Vec<_>>(), ["c9", "c1"]);
}
