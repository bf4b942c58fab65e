//! The plan's rules, on hand-built Route 53 states.

use super::*;
use crate::publish::route53::alarms::{ActualAlarm, AlarmStep};
use crate::publish::route53::objects::ActualCheck;
use crate::publish::route53::objects::TAG_CLUSTER;
use crate::spec::route53::Alias;
use crate::spec::route53::RecordType;
use crate::spec::route53::Settings;

pub(crate) fn owner() -> Owner {
    Owner {
        cluster_id: "prod-eu".into(),
        public_hostname: "health.eu.example.com".into(),
        public: Default::default(),
    }
}

pub(crate) fn app(name: &str) -> DesiredApp {
    DesiredApp {
        key: AppKey {
            namespace: "team".into(),
            name: name.into(),
        },
        incarnation: "static".into(),
        settings: Settings {
            zone_id: "Z1".into(),
            record_name: format!("{name}.example.com."),
            routing: Routing::Latency("eu-west-1".into()),
            set_identifier: "eu-west-1".into(),
            alias: Some(Alias::new("alb-1.eu-west-1.elb.amazonaws.com", "Z32O12XQLNTSW2")),
            record_types: None,
            interval: 10,
            failure_threshold: 3,
            protocol: None,
            port: None,
            search_string: None,
            metric: None,
        },
    }
}

/// The state Route 53 would hold after applying `p` to `actual`, with check IDs `hc-<app>`.
pub(crate) fn applied(o: &Owner, desired: &[DesiredApp], mut actual: Actual, p: &Plan) -> Actual {
    for s in &p.steps {
        match s {
            Step::CreateCheck {
                app,
                caller_reference,
                config,
                tags,
            } => {
                let mut tags = tags.clone();
                tags.sort();
                actual.checks.push(ActualCheck {
                    // Unique like a real ID: a deleted check's ID is never reused.
                    id: format!("hc-{}-{caller_reference}", app.name),
                    caller_reference: caller_reference.clone(),
                    version: 1,
                    config: Some(config.clone()),
                    tags,
                })
            }
            Step::AdoptCheck { id, tags, .. } | Step::MarkMove { id, tags, .. } | Step::RetagCheck { id, tags, .. } => {
                let c = actual.checks.iter_mut().find(|c| &c.id == id).unwrap();
                c.tags = tags.clone();
                c.tags.sort();
            }
            Step::UpdateCheck { id, to, .. } => {
                let c = actual.checks.iter_mut().find(|c| &c.id == id).unwrap();
                c.config = Some(to.clone());
                c.version += 1;
            }
            Step::DeleteCheck { id, .. } => actual.checks.retain(|c| &c.id != id),
            Step::Alarm(AlarmStep::Put { alarm, .. }) => {
                actual.alarms.retain(|a| a.name != alarm.name);
                actual.alarms.push(ActualAlarm {
                    name: alarm.name.clone(),
                    arn: Some(format!("arn:aws:cloudwatch:eu-west-1:1:alarm:{}", alarm.name)),
                    config: Some(alarm.clone()),
                });
            }
            Step::Alarm(AlarmStep::Delete { name, .. }) => actual.alarms.retain(|a| &a.name != name),
            Step::DeleteRecord { record, .. } => actual.records.retain(|r| r.key != record.key),
            Step::UpsertRecord { app, record, check, .. } => {
                let id = match check {
                    CheckRef::Id(id) => id.clone(),
                    CheckRef::NewFor(k) => {
                        let d = desired.iter().find(|d| &d.key == k).unwrap();
                        let r = o.caller_reference(d, &o.check_for(d));
                        actual
                            .checks
                            .iter()
                            .find(|c| c.caller_reference == r)
                            .unwrap()
                            .id
                            .clone()
                    }
                };
                let _ = app;
                actual.records.retain(|r| r.key != record.key);
                actual.records.push(ActualRecord {
                    key: record.key.clone(),
                    routing: Some(record.routing.clone()),
                    alias: Some(record.alias.clone()),
                    health_check_id: Some(id),
                    evaluate_target_health: false,
                    raw: None,
                });
            }
        }
    }
    actual
}

pub(crate) fn kinds(p: &Plan) -> Vec<&'static str> {
    p.steps
        .iter()
        .map(|s| match s {
            Step::CreateCheck { .. } => "create-check",
            Step::AdoptCheck { .. } => "adopt-check",
            Step::MarkMove { .. } => "mark-move",
            Step::RetagCheck { .. } => "retag-check",
            Step::UpdateCheck { .. } => "update-check",
            Step::UpsertRecord { before: None, .. } => "create-record",
            Step::UpsertRecord { .. } => "upsert-record",
            Step::DeleteRecord { .. } => "delete-record",
            Step::DeleteCheck { .. } => "delete-check",
            Step::Alarm(AlarmStep::Put { before: None, .. }) => "create-alarm",
            Step::Alarm(AlarmStep::Put { .. }) => "update-alarm",
            Step::Alarm(AlarmStep::Delete { .. }) => "delete-alarm",
        })
        .collect()
}

#[test]
fn creates_then_converges_to_an_empty_plan() {
    let (o, want) = (owner(), vec![app("app1"), app("app2")]);
    let p = plan(&o, &want, &Actual::default());
    assert_eq!(
        kinds(&p),
        ["create-check", "create-record", "create-check", "create-record"]
    );
    let text = p.to_string();
    assert!(
        text.contains("HTTP health.eu.example.com:80/health/app1 every 10s, unhealthy after 3"),
        "{text}"
    );
    assert!(text.contains("Plan: 4 to create, 0 to change, 0 to delete"), "{text}");
    let after = applied(&o, &want, Actual::default(), &p);
    let again = plan(&o, &want, &after);
    assert!(again.is_empty(), "a second run changes nothing");
    // ...and still names each app's check, for its status and DNS view.
    let kept: Vec<&str> = again.kept.keys().map(|k| k.name.as_str()).collect();
    assert_eq!(kept, ["app1", "app2"]);
    let ids: Vec<&str> = after.checks.iter().map(|c| c.id.as_str()).collect();
    assert!(again.kept.values().all(|id| ids.contains(&id.as_str())));
}

#[test]
fn a_threshold_change_updates_in_place_and_an_interval_change_replaces() {
    let o = owner();
    let before = applied(
        &o,
        &[app("app1")],
        Actual::default(),
        &plan(&o, &[app("app1")], &Actual::default()),
    );
    let id = before.checks[0].id.clone();
    let mut changed = app("app1");
    changed.settings.failure_threshold = 5;
    let p = plan(&o, std::slice::from_ref(&changed), &before);
    assert_eq!(kinds(&p), ["update-check"]);
    assert!(matches!(&p.steps[0], Step::UpdateCheck { id: i, to, .. } if *i == id && to.failure_threshold == 5));

    let mut slower = app("app1");
    slower.settings.interval = 30;
    let p = plan(&o, std::slice::from_ref(&slower), &before);
    assert_eq!(kinds(&p), ["create-check", "upsert-record", "delete-check"]);
    let after = applied(&o, std::slice::from_ref(&slower), before, &p);
    assert!(plan(&o, &[slower], &after).is_empty());
}

#[test]
fn a_gone_app_loses_its_record_then_its_check() {
    let o = owner();
    let both = [app("app1"), app("app2")];
    let before = applied(&o, &both, Actual::default(), &plan(&o, &both, &Actual::default()));
    let p = plan(&o, &both[..1], &before);
    assert_eq!(kinds(&p), ["delete-record", "delete-check"]);
    assert!(p.steps.iter().all(|s| s.app().name == "app2"));
    assert!(p.to_string().contains("(the app is gone)"));
}

#[test]
fn what_it_does_not_own_is_left_alone() {
    let o = owner();
    let want = [app("app1")];
    let mut actual = Actual::default();
    // A hand-made record at the same name and set identifier, and two foreign checks.
    actual.records.push(ActualRecord {
        key: RecordKey {
            zone: "Z1".into(),
            name: "app1.example.com.".into(),
            set_identifier: "eu-west-1".into(),
            rr_type: RecordType::A,
        },
        routing: Some(Routing::Latency("eu-west-1".into())),
        alias: None,
        health_check_id: Some("manual-hc".into()),
        evaluate_target_health: true,
        raw: None,
    });
    actual.checks.push(ActualCheck {
        id: "other-cluster".into(),
        caller_reference: "fa1-0000000000000000".into(),
        version: 1,
        config: None,
        tags: vec![
            (TAG_CLUSTER.into(), "prod-us".into()),
            (crate::publish::route53::objects::TAG_APP.into(), "team/app9".into()),
        ],
    });
    let p = plan(&o, &want, &actual);
    assert_eq!(
        kinds(&p),
        ["create-check"],
        "the record is not ours, and nothing is deleted"
    );
    assert_eq!(p.conflicts.len(), 1);
    assert!(
        p.conflicts[0].message.contains("not owned by this agent"),
        "{:?}",
        p.conflicts
    );
    // With no apps at all, still nothing foreign is touched.
    assert!(plan(&o, &[], &actual).is_empty());
}

#[test]
fn an_untagged_check_with_our_reference_is_adopted_not_duplicated() {
    let o = owner();
    let want = [app("app1")];
    let d = &want[0];
    let actual = Actual {
        checks: vec![ActualCheck {
            id: "hc-cut-short".into(),
            caller_reference: o.caller_reference(d, &o.check_for(d)),
            version: 1,
            config: Some(o.check_for(d)),
            tags: vec![],
        }],
        ..Default::default()
    };
    let p = plan(&o, &want, &actual);
    assert_eq!(kinds(&p), ["adopt-check", "create-record"]);
    assert!(matches!(&p.steps[1], Step::UpsertRecord { check: CheckRef::Id(id), .. } if id == "hc-cut-short"));
}

#[test]
fn caller_references_are_stable_and_distinct() {
    let o = owner();
    let (a, b) = (app("app1"), app("app2"));
    let r = |d: &DesiredApp| o.caller_reference(d, &o.check_for(d));
    assert_eq!(r(&a), r(&app("app1")));
    assert_ne!(r(&a), r(&b));
    let mut again = app("app1");
    again.incarnation = "uid-2".into();
    assert_ne!(
        r(&a),
        r(&again),
        "a re-created app never reuses a deleted check's reference"
    );
    assert!(r(&a).len() <= 64 && r(&a).starts_with("fa1-"));
}

#[test]
fn a_held_app_keeps_its_objects_while_its_spec_is_invalid() {
    let o = owner();
    let both = [app("app1"), app("app2")];
    let before = applied(&o, &both, Actual::default(), &plan(&o, &both, &Actual::default()));
    let hold = Hold {
        apps: std::collections::BTreeSet::from([both[1].key.clone()]),
        ..Default::default()
    };
    assert!(
        plan_holding(&o, &both[..1], &hold, &before).is_empty(),
        "nothing of app2 is collected"
    );
    assert_eq!(kinds(&plan(&o, &both[..1], &before)), ["delete-record", "delete-check"]);
}

#[test]
fn checks_take_the_listeners_defaults_unless_the_app_sets_its_own() {
    use crate::spec::route53::Protocol;
    let mut o = owner();
    let (a, mut b) = (app("app1"), app("app2"));
    let c = o.check_for(&a);
    assert_eq!(
        (c.protocol, c.port, c.search_string.as_deref()),
        (Protocol::Http, 80, None)
    );
    // The chart's Ingress option: the shared ALB's HTTPS listener, verdict matching on.
    o.public = crate::spec::route53::PublicListener {
        protocol: Protocol::Https,
        port: 443,
        match_verdict: true,
    };
    let c = o.check_for(&a);
    assert_eq!(
        (c.type_name(), c.port, c.search_string.as_deref()),
        ("HTTPS_STR_MATCH", 443, Some("HEALTHY app1"))
    );
    // An app's own protocol gets that protocol's standard port, not the listener's.
    b.settings.protocol = Some(Protocol::Http);
    assert_eq!(o.check_for(&b).port, 80);
    // Its own port and string win.
    b.settings.port = Some(8080);
    b.settings.search_string = Some("ok".into());
    let c = o.check_for(&b);
    assert_eq!(
        (c.type_name(), c.port, c.search_string.as_deref()),
        ("HTTP_STR_MATCH", 8080, Some("ok"))
    );
}
