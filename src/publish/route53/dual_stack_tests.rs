//! Tests of the plan for dual-stack apps (`route53.recordTypes: [A, AAAA]`).

use super::tests::{app, applied, kinds, owner};
use super::*;
use crate::spec::route53::RecordType::{self, Aaaa, A};

fn typed(name: &str, types: &[RecordType]) -> DesiredApp {
    let mut d = app(name);
    d.settings.record_types = Some(types.to_vec());
    d
}

/// The record keys `actual` holds for `name`, with the check each points at.
fn records_of<'a>(actual: &'a Actual, name: &str) -> Vec<(RecordType, &'a str)> {
    let mut out: Vec<(RecordType, &str)> = actual
        .records
        .iter()
        .filter(|r| r.key.name.starts_with(&format!("{name}.")))
        .map(|r| (r.key.rr_type, r.health_check_id.as_deref().unwrap_or("")))
        .collect();
    out.sort();
    out
}

#[test]
fn both_types_share_one_check_and_converge() {
    let o = owner();
    let want = [typed("app1", &[A, Aaaa])];
    let p = plan(&o, &want, &Actual::default());
    assert_eq!(kinds(&p), ["create-check", "create-record", "create-record"]);
    let text = p.to_string();
    assert!(text.contains("app1.example.com. A [eu-west-1]"), "{text}");
    assert!(text.contains("app1.example.com. AAAA [eu-west-1]"), "{text}");
    let after = applied(&o, &want, Actual::default(), &p);
    let recs = records_of(&after, "app1");
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].1, recs[1].1, "the A and AAAA records use the app's one check");
    assert_eq!(after.checks.len(), 1);
    assert!(plan(&o, &want, &after).is_empty(), "a second run changes nothing");
}

#[test]
fn dropping_a_type_deletes_only_that_record_and_gone_apps_lose_both() {
    let o = owner();
    let both = [typed("app1", &[A, Aaaa])];
    let after = applied(&o, &both, Actual::default(), &plan(&o, &both, &Actual::default()));
    // Back to IPv4 only: the AAAA record goes, the A record and the check stay.
    let v4 = [typed("app1", &[A])];
    let p = plan(&o, &v4, &after);
    assert_eq!(kinds(&p), ["delete-record"]);
    let Step::DeleteRecord { record, .. } = &p.steps[0] else {
        unreachable!()
    };
    assert_eq!(record.key.rr_type, Aaaa);
    // Adding it back creates only the AAAA record.
    let v4_only = applied(&o, &v4, after.clone(), &p);
    assert_eq!(kinds(&plan(&o, &both, &v4_only)), ["create-record"]);
    // The app is gone: both records first, then the check.
    let p = plan(&o, &[], &after);
    assert_eq!(kinds(&p), ["delete-record", "delete-record", "delete-check"]);
}

#[test]
fn another_apps_aaaa_record_is_left_to_it() {
    let o = owner();
    // app1 is dual stack; app2, newer, wants the same name and set identifier.
    let mut rival = typed("app2", &[Aaaa]);
    rival.settings.record_name = "app1.example.com.".into();
    let want = [typed("app1", &[A, Aaaa]), rival];
    let p = plan(&o, &want, &Actual::default());
    assert!(p.held.iter().any(|k| k.name == "app2"), "{:?}", p.held);
    assert!(p.steps.iter().all(|s| s.app().name == "app1"), "{}", p);
    assert!(
        p.conflicts.iter().any(|c| c.message.contains("claimed by team/app1")),
        "{:?}",
        p.conflicts
    );
}

#[test]
fn a_hand_made_aaaa_record_at_the_name_is_a_conflict_not_a_takeover() {
    let o = owner();
    let want = [typed("app1", &[A, Aaaa])];
    let mut actual = Actual::default();
    actual.records.push(ActualRecord {
        key: RecordKey {
            zone: "Z1".into(),
            name: "app1.example.com.".into(),
            set_identifier: "eu-west-1".into(),
            rr_type: Aaaa,
        },
        routing: Some(crate::spec::route53::Routing::Latency("eu-west-1".into())),
        alias: None,
        health_check_id: Some("manual-hc".into()),
        evaluate_target_health: true,
        raw: None,
    });
    let p = plan(&o, &want, &actual);
    assert_eq!(
        kinds(&p),
        ["create-check", "create-record"],
        "only the A record is made"
    );
    assert!(
        p.conflicts
            .iter()
            .any(|c| c.message.contains("AAAA [eu-west-1]") && c.message.contains("not owned")),
        "{:?}",
        p.conflicts
    );
}
