//! The price table and a plan's cost change.

use super::*;
use crate::model::AppKey;
use crate::publish::route53::objects::ActualCheck;
use crate::publish::route53::plan::Step;

fn check(protocol: Protocol, search: bool, interval: u32) -> CheckConfig {
    CheckConfig {
        protocol,
        fqdn: "health.eu.example.com".into(),
        port: 80,
        path: "/health/a".into(),
        search_string: search.then(|| "HEALTHY a".into()),
        interval,
        failure_threshold: 3,
        alarm: None,
    }
}

fn key() -> AppKey {
    AppKey {
        namespace: "team".into(),
        name: "a".into(),
    }
}

#[test]
fn the_table_prices_each_option_as_the_readme_does() {
    let price = |c: &CheckConfig| billed(c).monthly(AWS_ENDPOINT);
    assert_eq!(price(&check(Protocol::Http, false, 30)), 50);
    assert_eq!(price(&check(Protocol::Http, false, 10)), 150);
    assert_eq!(price(&check(Protocol::Https, true, 10)), 350);
    let all = Billed {
        features: vec![
            Feature::Https,
            Feature::StringMatching,
            Feature::FastInterval,
            Feature::LatencyMeasurement,
        ],
        alarm: false,
    };
    assert_eq!(all.monthly(AWS_ENDPOINT), 450);
    assert_eq!(all.monthly(NON_AWS_ENDPOINT), 875);
    // A CLOUDWATCH_METRIC check: a basic check, its alarm and its metric.
    let on_alarm = Billed {
        features: vec![],
        alarm: true,
    };
    assert_eq!(on_alarm.monthly(AWS_ENDPOINT), 90);
    assert_eq!(
        billed(&check(Protocol::Https, true, 10)).to_string(),
        "HTTPS, string matching, fast interval"
    );
}

#[test]
fn a_plans_cost_counts_creates_deletes_and_updates() {
    let c = |cfg: CheckConfig| Step::CreateCheck {
        app: key(),
        caller_reference: "fa1-x".into(),
        config: cfg,
        tags: vec![],
    };
    let plan = Plan {
        steps: vec![
            c(check(Protocol::Http, false, 10)),
            c(check(Protocol::Http, false, 10)),
            c(check(Protocol::Https, true, 10)),
            Step::UpdateCheck {
                app: key(),
                id: "hc-u".into(),
                version: 1,
                from: check(Protocol::Http, false, 30),
                to: check(Protocol::Http, false, 30),
            },
            Step::DeleteCheck {
                app: key(),
                id: "hc-old".into(),
                why: "the app is gone",
            },
            Step::DeleteCheck {
                app: key(),
                id: "hc-unknown".into(),
                why: "the app is gone",
            },
        ],
        ..Plan::default()
    };
    let actual = Actual {
        checks: vec![ActualCheck {
            id: "hc-old".into(),
            caller_reference: "fa1-y".into(),
            version: 1,
            config: Some(check(Protocol::Http, false, 30)),
            tags: vec![],
        }],
        ..Actual::default()
    };
    let cost = of_plan(&plan, &actual);
    assert_eq!(cost.total(), 150 + 150 + 350 - 50);
    assert_eq!((cost.updated, cost.unpriced), (1, 1));
    let text = cost.to_string();
    assert!(
        text.contains("Cost: 2 check(s) created (fast interval, $1.50 each): +$3.00 a month"),
        "{text}"
    );
    assert!(
        text.contains("Cost: 1 check(s) deleted (basic, $0.50 each): -$0.50 a month"),
        "{text}"
    );
    assert!(text.contains("Cost change: +$6.00 a month"), "{text}");
    assert!(text.contains("2026-12-03"), "{text}");
}

#[test]
fn a_metric_check_is_a_basic_check_plus_its_alarm_and_metric() {
    let mut c = check(Protocol::Https, true, 10);
    c.alarm = Some(crate::publish::route53::alarms::AlarmRef {
        region: "eu-west-1".into(),
        name: "failover-agent-0a1b2c3d-team-a".into(),
        insufficient_data: crate::spec::route53::metric::InsufficientData::LastKnownStatus,
    });
    let b = billed(&c);
    assert_eq!(
        b,
        Billed {
            features: vec![],
            alarm: true
        },
        "no HTTP option applies"
    );
    assert_eq!(b.monthly(AWS_ENDPOINT), 50 + 10 + 30);
    assert_eq!(b.to_string(), "CloudWatch alarm and metric");
}
