//! The quota preflight, on hand-built plans and Route 53 states.

use super::*;
use crate::publish::route53::objects::{ActualCheck, ActualRecord};
use crate::publish::route53::plan::{plan, CheckRef};
use crate::spec::route53::{validate, Route53Block};

pub(super) fn owner() -> Owner {
    Owner {
        cluster_id: "prod-eu".into(),
        public_hostname: "health.eu.example.com".into(),
        public: Default::default(),
    }
}

/// An app with a route53 block, validated as the config's would be.
pub(super) fn app(name: &str, interval: u32) -> DesiredApp {
    let yaml = format!(
        "hostedZoneId: Z1\nrecordName: {name}.example.com\nrouting: {{ latency: {{ region: eu-west-1 }} }}\naliasTarget: {{ dnsName: alb-1.eu-west-1.elb.amazonaws.com, hostedZoneId: Z32O12XQLNTSW2 }}\nhealthCheck: {{ intervalSeconds: {interval} }}\n"
    );
    let block: Route53Block = serde_yaml::from_str(&yaml).expect("a valid block");
    let mut errs = Vec::new();
    let settings = validate("route53", &block, "eu-west-1", &mut errs).expect("valid settings");
    DesiredApp {
        key: AppKey {
            namespace: "team".into(),
            name: name.into(),
        },
        incarnation: "static".into(),
        settings,
    }
}

/// `actual` after applying `p`'s creates and record upserts (enough for these tests).
pub(super) fn applied(mut actual: Actual, p: &Plan) -> Actual {
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
                    id: format!("hc-{}", app.name),
                    caller_reference: caller_reference.clone(),
                    version: 1,
                    config: Some(config.clone()),
                    tags,
                });
            }
            Step::UpsertRecord { app, record, check, .. } => {
                let id = match check {
                    CheckRef::Id(id) => id.clone(),
                    CheckRef::NewFor(_) => format!("hc-{}", app.name),
                };
                actual.records.push(ActualRecord {
                    key: record.key.clone(),
                    routing: Some(record.routing.clone()),
                    alias: Some(record.alias.clone()),
                    health_check_id: Some(id),
                    evaluate_target_health: false,
                    raw: None,
                });
            }
            _ => {}
        }
    }
    actual
}

fn usage(limit: u64, count: u64) -> Usage {
    Usage {
        account: Some(Account { limit, count }),
        ours: 0,
        created_today: 0,
    }
}

fn apps_of(p: &Plan) -> Vec<String> {
    let mut v: Vec<String> = p.steps.iter().map(|s| s.app().name.clone()).collect();
    v.dedup();
    v
}

#[test]
fn the_room_is_the_smaller_of_the_quota_and_the_days_creates() {
    assert_eq!(usage(200, 198).room(), (2, Bound::Quota));
    assert_eq!(usage(200, 250).room(), (0, Bound::Quota));
    let mut u = usage(5000, 0);
    u.created_today = 990;
    assert_eq!(u.room(), (10, Bound::DailyCreates));
    u.account = None;
    assert_eq!(u.room(), (10, Bound::DailyCreates));
}

#[test]
fn the_newest_apps_that_do_not_fit_are_held_whole_and_running_apps_keep_being_reconciled() {
    let o = owner();
    let running = app("running", 10);
    let before = applied(
        Actual::default(),
        &plan(&o, std::slice::from_ref(&running), &Actual::default()),
    );
    // The running app's check changes in place; three new apps, room for one.
    let mut changed = running.clone();
    changed.settings.failure_threshold = 5;
    let desired = vec![changed, app("new1", 10), app("new2", 10), app("new3", 10)];
    let (p, v) = plan_within(&o, &desired, &Hold::default(), &before, &usage(10, 9));
    assert_eq!(apps_of(&p), ["running", "new1"]);
    assert!(matches!(p.steps[0], Step::UpdateCheck { .. }));
    let names: Vec<&str> = v.held.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["new2", "new3"]);
    assert!(p.held.contains(&v.held[0]) && p.held.contains(&v.held[1]));
    assert_eq!((v.creates, v.wanting), (1, 3));
    let errors: Vec<&str> = p.errors.iter().map(|c| c.app.name.as_str()).collect();
    assert_eq!(errors, ["new2", "new3"]);
    assert_eq!(
        p.errors[0].message,
        "health check quota: 2 of 3 app(s) needing a new check do not fit (account uses 9 of 10 MAX_HEALTH_CHECKS_BY_OWNER); ask AWS to raise the quota"
    );
    assert_eq!(
        v.to_string(),
        "Quota: account uses 9 of 10 MAX_HEALTH_CHECKS_BY_OWNER, 0 ours; 0 of 1000 creates a day used by this process; this plan creates 1: 2 of 3 app(s) needing a new check do not fit."
    );
}

#[test]
fn a_held_replacement_keeps_the_apps_old_check_and_record() {
    let o = owner();
    let before = applied(Actual::default(), &plan(&o, &[app("a", 30)], &Actual::default()));
    // A new interval replaces the check: no room, so nothing of the app moves.
    let (p, v) = plan_within(&o, &[app("a", 10)], &Hold::default(), &before, &usage(1, 1));
    assert!(p.steps.is_empty(), "{p}");
    assert_eq!(v.held.len(), 1);
    // With room, the replacement goes ahead and the old check is collected after.
    let (p, v) = plan_within(&o, &[app("a", 10)], &Hold::default(), &before, &usage(2, 1));
    assert!(v.fits());
    assert!(p
        .steps
        .iter()
        .any(|s| matches!(s, Step::DeleteCheck { id, .. } if id == "hc-a")));
}

#[test]
fn a_held_apps_objects_are_never_collected_even_when_other_apps_go() {
    let o = owner();
    let before = applied(
        Actual::default(),
        &plan(&o, &[app("a", 30), app("gone", 10)], &Actual::default()),
    );
    let (p, _) = plan_within(&o, &[app("a", 10)], &Hold::default(), &before, &usage(2, 2));
    // "gone" is collected (record, then check); "a" (held) keeps everything.
    assert_eq!(apps_of(&p), ["gone"]);
    assert_eq!(p.steps.len(), 2);
}

#[test]
fn the_day_budget_binds_when_the_quota_is_ample() {
    let o = owner();
    let mut u = usage(10_000, 0);
    u.created_today = DAILY_CREATES - 1;
    let (p, v) = plan_within(
        &o,
        &[app("a", 10), app("b", 10)],
        &Hold::default(),
        &Actual::default(),
        &u,
    );
    assert_eq!(apps_of(&p), ["a"]);
    assert!(v
        .message()
        .is_some_and(|m| m.starts_with("health check create budget: 1 of 2")));
    // Unknown quota: only the day's budget bounds the plan.
    u.account = None;
    u.created_today = 0;
    let (_, v) = plan_within(
        &o,
        &[app("a", 10), app("b", 10)],
        &Hold::default(),
        &Actual::default(),
        &u,
    );
    assert!(v.fits());
    assert!(v.to_string().contains("unknown"));
}

#[test]
fn creates_age_out_of_the_day() {
    let mut log = CreateLog::default();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    log.record(3, t0);
    log.record(2, t0 + Duration::from_secs(3600));
    assert_eq!(log.count(t0 + Duration::from_secs(60)), 5);
    assert_eq!(log.count(t0 + DAY), 2);
    assert_eq!(log.count(t0 + DAY + Duration::from_secs(3600)), 0);
}

#[test]
fn preflight_admits_whole_apps_in_desired_order() {
    let o = owner();
    let desired = vec![app("a", 10), app("b", 10), app("c", 10)];
    let p = plan(&o, &desired, &Actual::default());
    assert!(preflight(&p, &desired, 3).is_empty());
    let held: Vec<String> = preflight(&p, &desired, 1).into_iter().map(|k| k.name).collect();
    assert_eq!(held, ["b", "c"]);
    assert_eq!(preflight(&p, &desired, 0).len(), 3);
}
