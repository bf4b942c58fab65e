//! Tests of `cluster/kube/spec.rs`.

use super::*;
use crate::spec::policy::MinHealthy;

fn spec(v: serde_json::Value) -> AppHealthSpec {
    serde_json::from_value(v).unwrap()
}

#[test]
fn defaults_match_the_static_config() {
    let s = settings(&spec(serde_json::json!({ "services": ["web"] }))).unwrap();
    assert_eq!(s.probe.interval, Duration::from_secs(2));
    assert_eq!(s.probe.timeout, Duration::from_secs(1));
    assert_eq!(
        s.policy,
        Policy {
            min_healthy: MinHealthy::Count(1),
            fall_count: 3,
            rise_count: 2,
            min_healthy_targets: MinHealthy::Count(1),
        }
    );
    assert_eq!(s.startup_grace, Duration::from_secs(5));
    assert_eq!((s.scheme, s.path.as_str(), s.port), (ProbeScheme::Http, "/", None));
}

#[test]
fn problems_name_the_spec_field() {
    let e = settings(&spec(serde_json::json!({
        "services": [],
        "probe": { "intervalSeconds": 1, "timeoutSeconds": 2 },
        "policy": { "minHealthyEndpoints": 1, "minHealthyPercent": 50 },
    })))
    .unwrap_err()
    .problems
    .join("\n");
    for want in [
        "spec.probe.timeoutSeconds",
        "spec.policy: set only one of",
        "spec.services: is empty",
    ] {
        assert!(e.contains(want), "missing {want} in {e}");
    }
}

#[test]
fn the_keys_are_the_static_configs_and_unknown_ones_still_parse() {
    let s = settings(&spec(serde_json::json!({
        "services": ["web"],
        "probe": { "scheme": "TCP", "port": 81, "intervalSeconds": 4, "newProbeKey": 1 },
        "policy": { "fallCount": 5, "newPolicyKey": true },
    })))
    .unwrap();
    assert_eq!(
        (s.scheme, s.port, s.probe.interval),
        (ProbeScheme::Tcp, Some(81), Duration::from_secs(4))
    );
    assert_eq!(s.policy.fall_count, 5);
    let e = settings(&spec(serde_json::json!({
        "services": ["web"],
        "policy": { "override": "pass" },
    })))
    .unwrap_err();
    assert_eq!(
        e.problems,
        ["spec.policy.override: is the static config's key; set `spec.override` instead"]
    );
}

#[test]
fn an_invalid_spec_holds_the_verdict_it_had() {
    let invalid = Invalid {
        problems: vec!["spec.a: x".into(), "spec.b: y".into()],
    };
    assert_eq!(invalid.kept_verdict(Some(Health::Unhealthy)), Health::Unhealthy);
    assert_eq!(
        invalid.kept_verdict(None),
        Health::Healthy,
        "a typo never fails an app over"
    );
    assert_eq!(
        invalid.status_reason(),
        "invalid spec, verdict kept: spec.a: x; spec.b: y"
    );
    assert_eq!(Invalid::REASON, "InvalidSpec");
}

#[test]
fn a_spec_is_validated_once_per_generation() {
    let mut ah = AppHealth::new("web", spec(serde_json::json!({ "services": ["web"] })));
    ah.metadata.uid = Some("u1".into());
    ah.metadata.generation = Some(1);
    let mut specs = Specs::default();
    let first = specs.of(&ah, "eu-west-1");
    assert!(first.settings.is_ok() && first.route53.is_none());
    assert!(
        Arc::ptr_eq(&first, &specs.of(&ah, "eu-west-1")),
        "same generation: kept"
    );
    ah.spec.services.clear();
    ah.metadata.generation = Some(2);
    let second = specs.of(&ah, "eu-west-1");
    assert!(second.settings.is_err(), "a new generation is validated again");
    specs.sweep();
    specs.sweep();
    assert!(
        !Arc::ptr_eq(&second, &specs.of(&ah, "eu-west-1")),
        "swept when not asked about"
    );
}
