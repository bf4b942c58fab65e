//! The plan's ownership rules: one app's objects are only ever changed by that
//! app; claims, holds, unreadable zones and orphans. The property test runs
//! random sequences of desired states against the plan and a model of Route 53.

use super::tests::{app, applied, kinds, owner};
use super::*;
use crate::publish::route53::objects::ActualCheck;
use crate::publish::route53::objects::REF_PREFIX;
use crate::publish::route53::objects::TAG_APP;
use crate::publish::route53::objects::TAG_CLUSTER;
use crate::spec::route53::RecordType;
use proptest::prelude::*;

fn key(name: &str) -> AppKey {
    AppKey {
        namespace: "team".into(),
        name: name.into(),
    }
}

/// `name`, wanting the record of `record` (same zone and set identifier).
fn app_at(name: &str, record: &str) -> DesiredApp {
    let mut d = app(name);
    d.settings.record_name = format!("{record}.example.com.");
    d
}

#[test]
fn a_record_belongs_to_its_own_apps_check_not_to_any_owned_check() {
    let o = owner();
    let a = [app("app1")];
    let before = applied(&o, &a, Actual::default(), &plan(&o, &a, &Actual::default()));
    // Tenant B names A's zone and record (the set identifier defaults alike).
    let both = [app("app1"), app_at("app2", "app1")];
    let p = plan(&o, &both, &before);
    assert!(
        p.steps
            .iter()
            .all(|s| !matches!(s, Step::UpsertRecord { .. } | Step::DeleteRecord { .. })),
        "no record changes hands: {p}"
    );
    assert_eq!(p.conflicts.len(), 1, "{p}");
    assert!(p.conflicts[0].message.contains("claimed by team/app1"), "{p}");
    assert!(p.held.contains(&key("app2")), "the loser is held");
    // Alone, B still cannot take A's record: it belongs to A's check, not B's.
    let b_only = [app_at("app2", "app1")];
    let hold = Hold {
        apps: BTreeSet::from([key("app1")]),
        ..Default::default()
    };
    let p = plan_holding(&o, &b_only, &hold, &before);
    assert!(!p.steps.iter().any(|s| matches!(s, Step::UpsertRecord { .. })), "{p}");
    assert!(p.conflicts[0].message.contains("belongs to app team/app1"), "{p}");
}

#[test]
fn an_object_that_lost_its_key_still_holds_what_it_made_under_the_old_one() {
    let o = owner();
    let mut newer = app("newapp");
    newer.incarnation = "uid-b".into();
    let before = applied(
        &o,
        &[newer.clone()],
        Actual::default(),
        &plan(&o, &[newer.clone()], &Actual::default()),
    );
    // Its spec.app now collides with an older app's key: it is not served, and held by UID.
    let hold = Hold {
        incarnations: BTreeSet::from(["uid-b".to_string()]),
        ..Default::default()
    };
    assert!(
        plan_holding(&o, &[], &hold, &before).is_empty(),
        "nothing it made is collected"
    );
    assert_eq!(
        kinds(&plan(&o, &[], &before)),
        ["delete-record", "delete-check"],
        "unheld, it would be"
    );
}

#[test]
fn a_re_created_app_takes_over_its_predecessors_record_in_one_plan() {
    let o = owner();
    let first = [app("app1")];
    let before = applied(&o, &first, Actual::default(), &plan(&o, &first, &Actual::default()));
    let mut again = app("app1");
    again.incarnation = "uid-2".into();
    let p = plan(&o, &[again.clone()], &before);
    assert_eq!(kinds(&p), ["create-check", "upsert-record", "delete-check"], "{p}");
    let after = applied(&o, &[again.clone()], before, &p);
    assert!(plan(&o, &[again], &after).is_empty());
}

#[test]
fn a_claim_is_kept_by_the_first_app_for_every_reconcile() {
    let o = owner();
    let order = [app("app1"), app_at("app2", "app1")];
    let mut actual = Actual::default();
    for _ in 0..3 {
        let p = plan(&o, &order, &actual);
        actual = applied(&o, &order, actual, &p);
        let rec = actual
            .records
            .iter()
            .find(|r| r.key.name == "app1.example.com.")
            .unwrap();
        let check = actual
            .checks
            .iter()
            .find(|c| Some(&c.id) == rec.health_check_id.as_ref())
            .unwrap();
        assert_eq!(check.tag(TAG_APP), Some("team/app1"));
        assert!(
            !actual.checks.iter().any(|c| c.tag(TAG_APP) == Some("team/app2")),
            "the held loser gets no check"
        );
    }
}

#[test]
fn a_held_app_and_an_app_in_an_unreadable_zone_keep_everything() {
    let o = owner();
    let mut z2 = app("app2");
    z2.settings.zone_id = "Z2".into();
    let both = [app("app1"), z2.clone()];
    let before = applied(&o, &both, Actual::default(), &plan(&o, &both, &Actual::default()));
    let mut broken = before.clone();
    broken.unreadable.insert("Z2".into(), "AccessDenied".into());
    broken.records.retain(|r| r.key.zone != "Z2");
    // app2 wanted in the unreadable zone: held, reported as an error, nothing made twice.
    let p = plan(&o, &both, &broken);
    assert!(p.is_empty(), "{p}");
    assert_eq!(p.errors.len(), 1);
    assert!(
        p.errors[0]
            .message
            .contains("hosted zone Z2 cannot be read (AccessDenied)"),
        "{p}"
    );
    // app2 gone while its zone is unreadable: its check is not collected blind.
    let p = plan(&o, &both[..1], &broken);
    assert!(p.is_empty(), "{p}");
    assert!(p.held.contains(&key("app2")) && p.errors.len() == 1, "{p}");
    // Another app in a readable zone is planned as usual.
    let three = [app("app1"), z2, app("app3")];
    assert_eq!(kinds(&plan(&o, &three, &broken)), ["create-check", "create-record"]);
}

#[test]
fn an_untagged_check_of_a_gone_app_is_collected_and_a_foreign_one_is_not() {
    let o = owner();
    let gone = app("app9");
    let orphan = ActualCheck {
        id: "hc-orphan".into(),
        caller_reference: o.caller_reference(&gone, &o.check_for(&gone)),
        version: 1,
        config: Some(o.check_for(&gone)),
        tags: vec![],
    };
    let mut elsewhere = orphan.clone();
    elsewhere.id = "hc-other-region".into();
    if let Some(c) = elsewhere.config.as_mut() {
        c.fqdn = "health.us.example.com".into();
    }
    let actual = Actual {
        checks: vec![orphan, elsewhere],
        ..Default::default()
    };
    let p = plan(&o, &[app("app1")], &actual);
    let deleted: Vec<&str> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::DeleteCheck { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, ["hc-orphan"], "{p}");
}

#[test]
fn a_moving_record_is_named_by_its_check_at_both_ends_until_it_moved() {
    let o = owner();
    let a = [app("app1")];
    let before = applied(&o, &a, Actual::default(), &plan(&o, &a, &Actual::default()));
    let moved = [app_at("app1", "www")];
    let p = plan(&o, &moved, &before);
    // Marked first (apply runs it before the records), re-tagged after the records.
    assert_eq!(
        kinds(&p),
        ["mark-move", "retag-check", "create-record", "delete-record"],
        "{p}"
    );
    let Step::MarkMove { tags, .. } = &p.steps[0] else {
        unreachable!()
    };
    let tag = |k: &str| tags.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        tag(crate::publish::route53::objects::TAG_RECORD),
        Some("www.example.com.")
    );
    assert_eq!(
        tag(crate::publish::route53::objects::TAG_MOVING_FROM),
        Some("Z1/app1.example.com.")
    );
    let after = applied(&o, &moved, before, &p);
    assert!(plan(&o, &moved, &after).is_empty());
}

/// One app of the property test: a name, which of three records it wants, and
/// its incarnation (a deleted and re-created AppHealth has a new one).
fn arb_app() -> impl Strategy<Value = (u8, u8, u8)> {
    (0u8..5, 0u8..3, 0u8..2)
}

fn desired_of(apps: &[(u8, u8, u8)]) -> Vec<DesiredApp> {
    let mut seen = BTreeSet::new();
    apps.iter()
        .filter(|(n, _, _)| seen.insert(*n))
        .map(|(n, r, i)| {
            let mut d = app_at(&format!("app{n}"), &format!("r{r}"));
            d.incarnation = format!("uid-{n}-{i}");
            d
        })
        .collect()
}

/// Every record a step writes or deletes was, before, the stepping app's own (or
/// did not exist), so no plan moves another app's record.
fn only_own_records(o: &Owner, p: &Plan, before: &Actual) {
    let app_of = |id: &str| {
        before
            .checks
            .iter()
            .find(|c| c.id == id && o.owns(c))
            .and_then(|c| c.tag(TAG_APP))
            .map(str::to_owned)
    };
    for s in &p.steps {
        let (app, record) = match s {
            Step::UpsertRecord {
                app, before: Some(r), ..
            } => (app, r),
            Step::DeleteRecord { app, record } => (app, record),
            _ => continue,
        };
        let holder = record.health_check_id.as_deref().and_then(app_of);
        assert_eq!(
            holder.as_deref(),
            Some(format!("{}/{}", app.namespace, app.name).as_str()),
            "{s} touches a record that is not {}'s own",
            app.name
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plans_converge_and_never_touch_another_apps_record(
        steps in prop::collection::vec(prop::collection::vec(arb_app(), 0..5), 1..5),
        foreign in prop::collection::vec(0u8..3, 0..2),
        orphans in 0usize..2,
    ) {
        let o = owner();
        let mut actual = Actual::default();
        // Hand-made records the agent must never touch, and checks cut short before tagging.
        for r in foreign {
            actual.records.push(ActualRecord {
                key: RecordKey { zone: "Z1".into(), name: format!("r{r}.example.com."), set_identifier: "eu-west-1".into(), rr_type: RecordType::A },
                routing: None, alias: None, health_check_id: Some("manual".into()), evaluate_target_health: true, raw: None,
            });
        }
        for i in 0..orphans {
            let d = app(&format!("old{i}"));
            actual.checks.push(ActualCheck {
                id: format!("orphan-{i}"), caller_reference: o.caller_reference(&d, &o.check_for(&d)),
                version: 1, config: Some(o.check_for(&d)), tags: vec![],
            });
        }
        let manual: Vec<ActualRecord> = actual.records.clone();
        for apps in &steps {
            let want = desired_of(apps);
            let p = plan(&o, &want, &actual);
            only_own_records(&o, &p, &actual);
            actual = applied(&o, &want, actual, &p);
            let again = plan(&o, &want, &actual);
            prop_assert!(again.is_empty(), "not converged after one apply: {}", again);
            for m in &manual {
                prop_assert!(actual.records.contains(m), "a hand-made record was changed");
            }
            // Nothing leaks: every check with our prefix is a wanted, tagged app's.
            for c in actual.checks.iter().filter(|c| c.caller_reference.starts_with(REF_PREFIX)) {
                prop_assert!(c.tag(TAG_CLUSTER).is_some(), "an untagged check was left: {}", c.id);
                let app = c.tag(TAG_APP).unwrap_or_default();
                prop_assert!(want.iter().any(|d| format!("team/{}", d.key.name) == app), "check {} of a gone app {app} left", c.id);
            }
        }
    }
}
