//! Bad input never panics: float edge cases in every float key of the static
//! config, the settings file and the `AppHealth` spec are refused with the field
//! path, and property tests feed arbitrary YAML values to all three validators.

use super::{parse, parse_settings, Error};
use crate::cluster::kube::crd::AppHealthSpec;
use proptest::prelude::*;
use serde_yaml::{Mapping, Number, Value};

/// The float edge cases: NaN, both infinities, negative, zero, too large for a
/// `Duration`, and the extremes of `f64`.
const EDGES: &[(&str, f64)] = &[
    (".nan", f64::NAN),
    (".inf", f64::INFINITY),
    ("-.inf", f64::NEG_INFINITY),
    ("-1", -1.0),
    ("0", 0.0),
    ("-0.0", -0.0),
    ("1e300", 1e300),
    ("1.9e19", 1.9e19),
    ("1.7976931348623157e308", f64::MAX),
    ("-1.7976931348623157e308", f64::MIN),
    ("5e-324", 5e-324),
];

const BASE: &str = "region: eu-west-1\napps:\n  - name: app1\n    endpoints: [\"http://127.0.0.1:9999/\"]\n";

fn invalid(r: super::Result<impl std::fmt::Debug>) -> Vec<String> {
    match r {
        Err(Error::Invalid(v)) => v,
        other => panic!("expected invalid, got {other:?}"),
    }
}

#[test]
fn every_float_edge_case_is_refused_with_its_field_path() {
    let app_keys = [
        ("probe", "intervalSeconds"),
        ("probe", "timeoutSeconds"),
        ("policy", "startupGraceSeconds"),
    ];
    let aws_keys = [
        "targetHealthIntervalSeconds",
        "reconcileIntervalSeconds",
        "checkStatusIntervalSeconds",
        "dnsViewIntervalSeconds",
        "elbv2CallsPerSecond",
        "route53CallsPerSecond",
    ];
    for &(text, v) in EDGES {
        for (block, key) in app_keys {
            // Zero and 5e-324 are valid start-up graces; every other edge is refused.
            if key == "startupGraceSeconds" && (0.0..=86_400.0).contains(&v) {
                continue;
            }
            let yaml = format!("{BASE}    {block}: {{ {key}: {text} }}\n");
            let errs = invalid(parse(&yaml));
            let want = format!("apps[0].{block}.{key}: ");
            assert!(
                errs.len() == 1 && errs[0].starts_with(&want),
                "{key}: {text}: one message for the key itself, got {errs:?}"
            );
            // The AppHealth spec shares the rules, with `spec.` paths.
            let spec: AppHealthSpec =
                serde_yaml::from_str(&format!("services: [web]\n{block}: {{ {key}: {text} }}\n")).unwrap();
            let errs = crate::cluster::kube::spec::settings(&spec).unwrap_err().problems;
            assert!(
                errs.len() == 1 && errs[0].starts_with(&format!("spec.{block}.{key}: ")),
                "AppHealth {key}: {text}: {errs:?}"
            );
        }
        for key in aws_keys {
            // Zero turns the DNS view's reads off.
            if key == "dnsViewIntervalSeconds" && v == 0.0 {
                continue;
            }
            let want = format!("aws.{key}: ");
            let errs = invalid(parse(&format!("{BASE}aws: {{ {key}: {text} }}\n")));
            assert!(errs.len() == 1 && errs[0].starts_with(&want), "{key}: {text}: {errs:?}");
            let errs = invalid(parse_settings(&format!("aws: {{ {key}: {text} }}\n")));
            assert!(
                errs.len() == 1 && errs[0].starts_with(&want),
                "settings {key}: {text}: {errs:?}"
            );
        }
    }
}

#[test]
fn float_messages_say_what_is_wrong_and_the_fix() {
    let errs = invalid(parse(&format!("{BASE}    probe: {{ intervalSeconds: .nan }}\n")));
    assert_eq!(
        errs,
        ["apps[0].probe.intervalSeconds: .nan is not a number; use 0.1 to 3600 (default 2)"]
    );
    let errs = invalid(parse(&format!("{BASE}    probe: {{ timeoutSeconds: -.inf }}\n")));
    assert_eq!(
        errs,
        ["apps[0].probe.timeoutSeconds: -.inf is not a finite number; it must be at least 0.01 and at most intervalSeconds (2); lower it or raise the interval"]
    );
    let errs = invalid(parse(&format!("{BASE}    policy: {{ startupGraceSeconds: 1e300 }}\n")));
    assert_eq!(
        errs,
        ["apps[0].policy.startupGraceSeconds: 1e300 is out of range; use 0 to 86400 (default riseCount × intervalSeconds + timeoutSeconds)"]
    );
    let errs = invalid(parse_settings("aws: { route53CallsPerSecond: 0 }\n"));
    assert_eq!(
        errs,
        ["aws.route53CallsPerSecond: 0 is out of range; use 0.01 to 10 calls per second (default 2.5, a quarter of the account limit)"]
    );
    // A default grace over a day names the keys that make it.
    let errs = invalid(parse(&format!(
        "{BASE}    probe: {{ intervalSeconds: 3600 }}\n    policy: {{ riseCount: 100 }}\n"
    )));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with(
            "apps[0].policy.startupGraceSeconds: the default, riseCount × intervalSeconds + timeoutSeconds, is 360001"
        ),
        "{errs:?}"
    );
}

#[test]
fn edge_values_that_are_valid_still_pass() {
    let c = parse(&format!(
        "{BASE}    probe: {{ intervalSeconds: 3600, timeoutSeconds: 0.01 }}\n    policy: {{ startupGraceSeconds: 86400 }}\naws: {{ elbv2CallsPerSecond: 0.01, route53CallsPerSecond: 10 }}\n"
    ))
    .unwrap();
    assert_eq!(c.apps[0].probe.interval.as_secs(), 3600);
    assert_eq!(c.apps[0].startup_grace.as_secs(), 86_400);
    assert_eq!(c.aws.budget.elbv2_rate, 0.01);
}

// ---- property tests ----

/// Numbers, with the float edge cases well represented.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(EDGES).prop_map(|(_, v)| Value::Number(Number::from(v))),
        any::<f64>().prop_map(|v| Value::Number(Number::from(v))),
        (-10.0f64..100_000.0).prop_map(|v| Value::Number(Number::from(v))),
        any::<i64>().prop_map(|v| Value::Number(Number::from(v))),
        any::<u64>().prop_map(|v| Value::Number(Number::from(v))),
        (0i64..700).prop_map(|v| Value::Number(Number::from(v))),
    ]
}

/// Every key name the three validators know, so random maps reach into them.
const KEYS: &[&str] = &[
    "region",
    "healthListen",
    "adminListen",
    "probeConcurrency",
    "allowRemoteOverride",
    "clusterId",
    "publicHostname",
    "publicPort",
    "publicProtocol",
    "matchVerdict",
    "aws",
    "apps",
    "route53Policy",
    "targetHealthIntervalSeconds",
    "reconcileIntervalSeconds",
    "checkStatusIntervalSeconds",
    "dnsViewIntervalSeconds",
    "elbv2CallsPerSecond",
    "route53CallsPerSecond",
    "name",
    "namespace",
    "endpoints",
    "probe",
    "policy",
    "targetGroupArns",
    "route53",
    "intervalSeconds",
    "timeoutSeconds",
    "path",
    "expectedStatus",
    "bodyContains",
    "minHealthyEndpoints",
    "minHealthyPercent",
    "fallCount",
    "riseCount",
    "startupGraceSeconds",
    "minHealthyTargets",
    "minHealthyTargetPercent",
    "override",
    "services",
    "scheme",
    "port",
    "app",
    "hostedZoneId",
    "recordName",
    "routing",
    "setIdentifier",
    "aliasTarget",
    "healthCheck",
    "zones",
    "id",
    "names",
    "namespaces",
    "latency",
    "failover",
    "weighted",
    "weight",
    "role",
    "failureThreshold",
    "dnsName",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => number(),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => prop::sample::select(&[
            "", "eu-west-1", "app1", "http://127.0.0.1:9999/", "tcp://127.0.0.1:1", "/healthz", "HTTP", "HTTPS",
            "fail", "pass", "none", "TCP", "0.0.0.0:8080", "127.0.0.1:0", "Z123", "*.example.com", "nan",
            ".nan", "1e300", "arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/a/b",
        ][..])
        .prop_map(|s| Value::String(s.into())),
        1 => ".{0,12}".prop_map(Value::String),
    ]
}

fn key() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(|k| Value::String(k.into())),
        1 => "[a-zA-Z]{1,8}".prop_map(Value::String),
        1 => number(),
    ]
}

/// Arbitrary YAML trees: leaves, sequences and maps whose keys are mostly real.
fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Mapping(kv.into_iter().collect())),
        ]
    })
}

/// Every path to a leaf the validators read, in a config, a settings file or a spec.
const PATHS: &[&[&str]] = &[
    &["region"],
    &["healthListen"],
    &["adminListen"],
    &["probeConcurrency"],
    &["publicPort"],
    &["publicProtocol"],
    &["matchVerdict"],
    &["clusterId"],
    &["publicHostname"],
    &["aws", "targetHealthIntervalSeconds"],
    &["aws", "reconcileIntervalSeconds"],
    &["aws", "checkStatusIntervalSeconds"],
    &["aws", "dnsViewIntervalSeconds"],
    &["aws", "elbv2CallsPerSecond"],
    &["aws", "route53CallsPerSecond"],
    &["apps", "0", "name"],
    &["apps", "0", "namespace"],
    &["apps", "0", "endpoints"],
    &["apps", "0", "probe", "intervalSeconds"],
    &["apps", "0", "probe", "timeoutSeconds"],
    &["apps", "0", "probe", "path"],
    &["apps", "0", "probe", "expectedStatus"],
    &["apps", "0", "probe", "bodyContains"],
    &["apps", "0", "policy", "minHealthyEndpoints"],
    &["apps", "0", "policy", "minHealthyPercent"],
    &["apps", "0", "policy", "fallCount"],
    &["apps", "0", "policy", "riseCount"],
    &["apps", "0", "policy", "startupGraceSeconds"],
    &["apps", "0", "policy", "minHealthyTargets"],
    &["apps", "0", "policy", "minHealthyTargetPercent"],
    &["apps", "0", "policy", "override"],
    &["apps", "0", "targetGroupArns"],
    &["apps", "0", "route53", "healthCheck", "failureThreshold"],
    &["apps", "0", "route53", "routing", "weighted", "weight"],
    &["route53Policy", "zones"],
    &["probe", "intervalSeconds"],
    &["probe", "timeoutSeconds"],
    &["probe", "port"],
    &["probe", "scheme"],
    &["policy", "startupGraceSeconds"],
    &["policy", "riseCount"],
    &["services"],
];

/// Sets `path` in `doc` to `new`, making maps (and the first sequence item) on the way.
fn set(doc: &mut Value, path: &[&str], new: Value) {
    let Some((first, rest)) = path.split_first() else {
        *doc = new;
        return;
    };
    let next = if *first == "0" {
        if !matches!(doc, Value::Sequence(s) if !s.is_empty()) {
            *doc = Value::Sequence(vec![Value::Mapping(Mapping::new())]);
        }
        let Value::Sequence(s) = doc else { unreachable!() };
        &mut s[0]
    } else {
        if !doc.is_mapping() {
            *doc = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(m) = doc else { unreachable!() };
        m.entry(Value::String((*first).into())).or_insert(Value::Null)
    };
    set(next, rest, new);
}

const SKELETON: &str = r#"
region: eu-west-1
clusterId: prod-eu-west-1
publicHostname: health.eu-west-1.example.com
aws: { reconcileIntervalSeconds: 60 }
route53Policy: { zones: [{ id: Z123, names: ["*.example.com"], namespaces: ["*"] }] }
services: [web]
probe: { intervalSeconds: 2 }
policy: { riseCount: 2 }
apps:
  - name: app1
    endpoints: ["http://127.0.0.1:9999/"]
    probe: { intervalSeconds: 2, timeoutSeconds: 1 }
    policy: { fallCount: 3 }
    route53:
      hostedZoneId: Z123
      recordName: app1.example.com
      routing: { weighted: { weight: 10 } }
      aliasTarget: { dnsName: alb.example.com, hostedZoneId: Z456 }
"#;

/// A mostly valid document with some of its leaves replaced by arbitrary trees,
/// so most cases get past deserialisation into the validators.
fn mutated() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (prop::sample::select(PATHS), prop_oneof![3 => number(), 1 => tree()]),
        1..5,
    )
    .prop_map(|edits| {
        let mut doc: Value = serde_yaml::from_str(SKELETON).unwrap();
        for (path, v) in edits {
            set(&mut doc, path, v);
        }
        doc
    })
}

/// Feeds `doc` to the static config, the settings file and the `AppHealth` spec.
/// A panic anywhere fails the property; an `Ok` must hold usable durations.
fn feed(doc: &Value) {
    let text = serde_yaml::to_string(doc).unwrap();
    if let Ok(c) = parse(&text) {
        for a in &c.apps {
            assert!(a.probe.timeout <= a.probe.interval && a.probe.interval.as_secs() <= 3600);
            assert!(a.startup_grace.as_secs() <= 86_400);
        }
        assert!(c.aws.budget.elbv2_rate > 0.0 && c.aws.budget.elbv2_rate <= 10.0);
    }
    // The settings file has no `apps`, nor a spec's keys; drop them so more cases pass serde.
    let mut settings = doc.clone();
    if let Value::Mapping(m) = &mut settings {
        for k in ["apps", "services", "probe", "policy"] {
            m.remove(k);
        }
    }
    if let Ok(s) = parse_settings(&serde_yaml::to_string(&settings).unwrap()) {
        let _ = s.in_cluster(|_| None);
    }
    let _ = parse_settings(&text);
    if let Ok(spec) = serde_yaml::from_value::<AppHealthSpec>(doc.clone()) {
        let _ = crate::cluster::kube::spec::settings(&spec);
        if let Some(b) = &spec.route53 {
            crate::spec::route53::validate("spec.route53", b, "eu-west-1", &mut Vec::new());
        }
    }
    // The first app, as an AppHealth spec (same probe and policy keys).
    if let Some(app) = doc.get("apps").and_then(|a| a.get(0)) {
        let mut spec = app.clone();
        set(
            &mut spec,
            &["services"],
            Value::Sequence(vec![Value::String("web".into())]),
        );
        if let Ok(spec) = serde_yaml::from_value::<AppHealthSpec>(spec) {
            let _ = crate::cluster::kube::spec::settings(&spec);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 768, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_yaml_trees_never_panic_the_validators(doc in tree()) {
        feed(&doc);
    }

    #[test]
    fn arbitrary_values_in_real_keys_never_panic_the_validators(doc in mutated()) {
        feed(&doc);
    }
}
