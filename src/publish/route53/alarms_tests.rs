//! The alarm rules of the plan, on hand-built states.

use super::*;
use crate::publish::route53::objects::{Actual, DesiredApp};
use crate::publish::route53::plan::plan;
use crate::publish::route53::plan::plan_holding;
use crate::publish::route53::plan::tests::{app, applied, kinds, owner};
use crate::publish::route53::plan::Step;
use crate::spec::route53::metric::MetricCheck;

fn metric(name: &str) -> DesiredApp {
    let mut d = app(name);
    d.settings.metric = Some(MetricCheck {
        region: "eu-west-1".into(),
        insufficient_data: InsufficientData::LastKnownStatus,
        evaluation_periods: 2,
    });
    d
}

/// Plans `want` against `actual`, applies it, and checks that the next plan is empty.
fn converge(want: &[DesiredApp], actual: Actual) -> (Vec<&'static str>, Actual) {
    let o = owner();
    let p = plan(&o, want, &actual);
    let k = kinds(&p);
    let after = applied(&o, want, actual, &p);
    let again = plan(&o, want, &after);
    assert!(again.is_empty(), "a second plan is empty:\n{again}");
    (k, after)
}

#[test]
fn a_metric_app_gets_its_alarm_a_check_on_it_and_its_record() {
    let (k, after) = converge(&[metric("app1")], Actual::default());
    assert_eq!(k, ["create-check", "create-record", "create-alarm"]);
    let c = after.checks[0].config.as_ref().expect("a config");
    assert_eq!(c.type_name(), "CLOUDWATCH_METRIC");
    let a = c.alarm.as_ref().expect("an alarm");
    assert_eq!(a.name, after.alarms[0].name);
    assert_eq!(a.region, "eu-west-1");
    assert_eq!(a.insufficient_data, InsufficientData::LastKnownStatus);
    let alarm = after.alarms[0].config.as_ref().expect("ours");
    assert_eq!((alarm.cluster.as_str(), alarm.app.as_str()), ("prod-eu", "team/app1"));
    assert!(alarm.name.starts_with(&alarm_prefix("prod-eu")));
}

#[test]
fn alarm_names_are_per_cluster_and_bounded() {
    let key = |n: &str| AppKey {
        namespace: "team".into(),
        name: n.into(),
    };
    let a = alarm_name("prod", &key("app1"));
    assert!(a.starts_with("failover-agent-") && a.ends_with("-team-app1"), "{a}");
    // No cluster's prefix is another's: `prod` and `prod-eu` differ in the hash.
    assert!(!alarm_name("prod-eu", &key("app1")).starts_with(&alarm_prefix("prod")));
    let long = alarm_name("prod", &key(&"x".repeat(300)));
    assert_eq!(long.len(), 255);
    assert_ne!(long, alarm_name("prod", &key(&"x".repeat(301))));
}

#[test]
fn changing_the_type_replaces_the_check_record_first_and_collects_the_alarm_last() {
    let (_, http) = converge(&[app("app1")], Actual::default());
    let (k, meter) = converge(&[metric("app1")], http);
    assert_eq!(k, ["create-check", "upsert-record", "delete-check", "create-alarm"]);
    let (k, back) = converge(&[app("app1")], meter);
    assert_eq!(k, ["create-check", "upsert-record", "delete-check", "delete-alarm"]);
    assert!(back.alarms.is_empty());
}

#[test]
fn settings_changes_update_the_alarm_and_the_check_in_place() {
    let (_, before) = converge(&[metric("app1")], Actual::default());
    let mut d = metric("app1");
    if let Some(m) = d.settings.metric.as_mut() {
        m.evaluation_periods = 5;
        m.insufficient_data = InsufficientData::Unhealthy;
    }
    let (k, _) = converge(&[d], before);
    assert_eq!(k, ["update-check", "update-alarm"]);
}

#[test]
fn a_gone_app_loses_record_check_and_alarm_and_a_held_one_keeps_them() {
    let (_, before) = converge(&[metric("app1"), metric("app2")], Actual::default());
    let o = owner();
    let mut hold = crate::publish::route53::objects::Hold::default();
    hold.apps.insert(metric("app2").key);
    let p = plan_holding(&o, &[], &hold, &before);
    assert_eq!(kinds(&p), ["delete-record", "delete-check", "delete-alarm"]);
    assert!(p.steps.iter().all(|s| s.app().name == "app1"), "{p}");
}

#[test]
fn another_clusters_alarms_and_foreign_ones_are_never_touched() {
    let (_, mut before) = converge(&[metric("app1")], Actual::default());
    let mut other = before.alarms[0].clone();
    other.name = alarm_name("prod-us", &metric("app1").key);
    if let Some(c) = other.config.as_mut() {
        c.cluster = "prod-us".into();
        c.name.clone_from(&other.name);
    }
    let foreign = ActualAlarm {
        name: format!("{}team-hand-made", alarm_prefix("prod-eu")),
        arn: None,
        config: None,
    };
    before.alarms.extend([other, foreign]);
    let p = plan(&owner(), &[], &before);
    let deleted: Vec<_> = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Alarm(AlarmStep::Delete { name, .. }) => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, [alarm_name("prod-eu", &metric("app1").key)]);
}

#[test]
fn unreadable_alarms_hold_only_the_metric_apps() {
    let actual = Actual {
        alarms_unreadable: Some("AccessDenied".into()),
        ..Actual::default()
    };
    let p = plan(&owner(), &[metric("app1"), app("app2")], &actual);
    assert_eq!(kinds(&p), ["create-check", "create-record"]);
    assert!(p.steps.iter().all(|s| s.app().name == "app2"), "{p}");
    assert_eq!(p.errors.len(), 1);
    assert!(p.errors[0].message.contains("AccessDenied"), "{:?}", p.errors);
}

#[test]
fn the_plan_prints_the_alarm_and_the_check_on_it() {
    let p = plan(&owner(), &[metric("app1")], &Actual::default());
    let text = p.to_string();
    assert!(text.contains("+ alarm         team/app1"), "{text}");
    assert!(
        text.contains("on FailoverAgent/AppHealthy {Cluster=prod-eu, App=team/app1} < 1 for 2 x 60s"),
        "{text}"
    );
    assert!(
        text.contains("+ health check  team/app1            CLOUDWATCH_METRIC on alarm failover-agent-"),
        "{text}"
    );
    assert!(text.contains("insufficient data: LastKnownStatus"), "{text}");
    assert!(text.contains("Plan: 3 to create, 0 to change, 0 to delete"), "{text}");
}

#[test]
fn an_untagged_metric_check_on_our_alarm_is_adopted_or_collected() {
    let o = owner();
    let d = metric("app1");
    let cut_short = crate::publish::route53::objects::ActualCheck {
        id: "hc-cut-short".into(),
        caller_reference: o.caller_reference(&d, &o.check_for(&d)),
        version: 1,
        config: Some(o.check_for(&d)),
        tags: vec![],
    };
    let actual = Actual {
        checks: vec![cut_short],
        ..Actual::default()
    };
    let p = plan(&o, std::slice::from_ref(&d), &actual);
    assert_eq!(kinds(&p), ["adopt-check", "create-record", "create-alarm"]);
    let p = plan(&o, &[], &actual);
    assert_eq!(kinds(&p), ["delete-check"], "{p}");
}
