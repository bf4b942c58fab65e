//! The operator's settings file: parsing, validation messages, and the variables'
//! precedence over its keys.

use super::*;
use crate::spec::route53::Protocol;
use std::time::Duration;

/// design.md §4 "Operator settings (in-cluster)".
const DESIGN_EXAMPLE: &str = r#"
clusterId: prod-eu-west-1
publicHostname: health.eu-west-1.example.com
aws: { reconcileIntervalSeconds: 60 }
route53Policy:
  zones:
    - id: Z0123456789EXAMPLE
      names: ["*.example.com"]            # exact, or a leading "*."
      namespaces: ["payments", "shop-*"]  # "*" = all
"#;

fn errors(yaml: &str) -> String {
    match parse_settings(yaml) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

/// A variable lookup over `vars` (unset and empty are alike, as in the agent).
fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| {
        vars.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    }
}

#[test]
fn the_design_example_parses_and_runs_with_its_policy() {
    let s = parse_settings(DESIGN_EXAMPLE).unwrap();
    assert_eq!(s.health_listen.to_string(), "0.0.0.0:8080");
    assert_eq!(
        s.admin_listen.to_string(),
        "0.0.0.0:9090",
        "in the cluster Prometheus scrapes other nodes"
    );
    assert_eq!((s.probe_concurrency, s.region.as_deref()), (512, None));
    let c = s.in_cluster(env(&[])).unwrap();
    let o = c.aws.owner.clone().unwrap();
    assert_eq!(
        (o.cluster_id.as_str(), o.public_hostname.as_str()),
        ("prod-eu-west-1", "health.eu-west-1.example.com")
    );
    let p = c.aws.route53_policy.as_ref().unwrap();
    assert_eq!(p.check("shop-eu", "Z0123456789EXAMPLE", "www.example.com"), Ok(()));
    assert!(p.check("team-x", "Z0123456789EXAMPLE", "www.example.com").is_err());
}

#[test]
fn every_key_is_read_and_an_empty_file_is_all_defaults() {
    let s = parse_settings(
        r#"
region: eu-west-1
healthListen: 127.0.0.1:18080
adminListen: 127.0.0.1:19090
probeConcurrency: 64
clusterId: c1
publicHostname: health.example.com
publicProtocol: HTTPS
publicPort: 8443
matchVerdict: true
aws:
  targetHealthIntervalSeconds: 5
  reconcileIntervalSeconds: 30
  checkStatusIntervalSeconds: 15
  dnsViewIntervalSeconds: 0
  elbv2CallsPerSecond: 1
  route53CallsPerSecond: 2
route53Policy: { zones: [] }
probeTargets: { allowLoopback: true }
limits: { appsPerNamespace: 50, endpointsPerNamespace: 500, probesInFlightPerApp: 4 }
"#,
    )
    .unwrap();
    let c = s.in_cluster(env(&[])).unwrap();
    assert!(c.probe_targets.allow_loopback);
    assert_eq!(
        c.limits,
        Limits {
            apps_per_namespace: 50,
            endpoints_per_namespace: 500,
            probes_in_flight_per_app: 4
        }
    );
    assert_eq!(c.region.as_deref(), Some("eu-west-1"));
    assert_eq!(
        (
            c.health_listen.to_string(),
            c.admin_listen.to_string(),
            c.probe_concurrency
        ),
        ("127.0.0.1:18080".into(), "127.0.0.1:19090".into(), 64)
    );
    let a = &c.aws;
    assert_eq!(
        (a.target_health_interval, a.reconcile_interval, a.check_status_interval),
        (Duration::from_secs(5), Duration::from_secs(30), Duration::from_secs(15))
    );
    assert_eq!((a.budget.elbv2_rate, a.budget.route53_rate), (1.0, 2.0));
    assert_eq!(a.dns_view_interval, None, "0 turns the reads off");
    let l = a.owner.as_ref().unwrap().public;
    assert_eq!((l.protocol, l.port, l.match_verdict), (Protocol::Https, 8443, true));
    assert_eq!(
        a.route53_policy,
        Some(crate::spec::route53_policy::Route53Policy::default())
    );

    for empty in ["", "\n# nothing yet\n", "---\n", "{}"] {
        let c = parse_settings(empty).unwrap().in_cluster(env(&[])).unwrap();
        assert_eq!(c.aws.owner, None, "{empty:?}");
        assert_eq!(c.aws.reconcile_interval, Duration::from_secs(60));
        assert!(!c.probe_targets.allow_loopback, "loopback is never probed by default");
        assert_eq!(
            (
                c.limits.apps_per_namespace,
                c.limits.endpoints_per_namespace,
                c.limits.probes_in_flight_per_app
            ),
            (200, 2000, 8)
        );
    }
}

#[test]
fn no_file_and_no_policy_mean_deny_all_in_the_cluster() {
    let c = OperatorSettings::default().in_cluster(env(&[])).unwrap();
    assert_eq!(c.aws.route53_policy, Some(Default::default()));
    assert_eq!((c.health_listen.port(), c.admin_listen.port()), (8080, 9090));
    let c = parse_settings("clusterId: c\npublicHostname: h.example.com\n")
        .unwrap()
        .in_cluster(env(&[]))
        .unwrap();
    let e = c
        .aws
        .route53_policy
        .unwrap()
        .check("ns", "Z1", "a.example.com")
        .unwrap_err();
    assert!(e.starts_with("no route53Policy"), "{e}");
    // The static config restricts nothing: its apps are the operator's own.
    let cfg = parse("region: r\napps: [{ name: a, endpoints: [\"tcp://127.0.0.1:1\"] }]\n").unwrap();
    assert_eq!(cfg.aws.route53_policy, None);
}

#[test]
fn the_variables_win_over_the_file() {
    let s = parse_settings(
        "region: eu-west-1\nclusterId: file-id\npublicHostname: file.example.com\npublicProtocol: HTTPS\npublicPort: 8443\nmatchVerdict: true\n",
    )
    .unwrap();
    let c = s
        .in_cluster(env(&[
            ("AWS_REGION", "us-east-1"),
            ("CLUSTER_ID", "env-id"),
            ("PUBLIC_HOSTNAME", "env.example.com"),
            ("PUBLIC_PROTOCOL", "HTTP"),
            ("PUBLIC_PORT", "80"),
            ("MATCH_VERDICT", "false"),
        ]))
        .unwrap();
    let o = c.aws.owner.unwrap();
    assert_eq!(c.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        (o.cluster_id.as_str(), o.public_hostname.as_str()),
        ("env-id", "env.example.com")
    );
    assert_eq!(
        (o.public.protocol, o.public.port, o.public.match_verdict),
        (Protocol::Http, 80, false)
    );
    // One variable at a time: the rest stay the file's; an empty variable is unset.
    let c = s
        .in_cluster(env(&[("PUBLIC_PORT", "9443"), ("CLUSTER_ID", "")]))
        .unwrap();
    let o = c.aws.owner.unwrap();
    assert_eq!(
        (o.cluster_id.as_str(), o.public.protocol, o.public.port),
        ("file-id", Protocol::Https, 9443)
    );
    assert_eq!(c.region.as_deref(), Some("eu-west-1"));
    // The file may hold one of the pair and the chart's variable the other.
    let half = parse_settings("clusterId: c1\n").unwrap();
    let o = half
        .in_cluster(env(&[("PUBLIC_HOSTNAME", "h.example.com")]))
        .unwrap()
        .aws
        .owner
        .unwrap();
    assert_eq!(
        (o.cluster_id.as_str(), o.public_hostname.as_str()),
        ("c1", "h.example.com")
    );
}

#[test]
fn a_problem_names_where_the_value_came_from() {
    let half = parse_settings("clusterId: c1\n").unwrap();
    let e = half.in_cluster(env(&[])).unwrap_err().join("; ");
    assert!(
        e.contains("PUBLIC_HOSTNAME (or publicHostname in the settings file): is required"),
        "{e}"
    );
    let e = parse_settings("clusterId: Bad_Id\n")
        .unwrap()
        .in_cluster(env(&[("PUBLIC_HOSTNAME", "h.example.com")]))
        .unwrap_err()
        .join("; ");
    assert!(
        e.contains("clusterId: `Bad_Id` is not valid"),
        "only the file set it: {e}"
    );
    let e = half
        .in_cluster(env(&[("PUBLIC_HOSTNAME", "h.example.com"), ("PUBLIC_PORT", "x")]))
        .unwrap_err()
        .join("; ");
    assert!(e.contains("PUBLIC_PORT: `x` is not a port"), "{e}");
    // Without a file the messages name only the variables, as before.
    let e = OperatorSettings::default()
        .in_cluster(env(&[("CLUSTER_ID", "c1")]))
        .unwrap_err()
        .join("; ");
    assert!(e.contains("PUBLIC_HOSTNAME: is required"), "{e}");
}

#[test]
fn bad_files_name_every_field_and_the_fix() {
    let e = errors(
        r#"
region: " "
healthListen: nowhere
adminListen: "9090"
probeConcurrency: 0
clusterId: UPPER
publicHostname: not_a_host
publicPort: 0
aws: { reconcileIntervalSeconds: 1, route53CallsPerSecond: 11 }
route53Policy:
  zones:
    - { id: "Z 1", names: ["*.ex ample.com"], namespaces: [] }
limits: { appsPerNamespace: 0, endpointsPerNamespace: 10000001, probesInFlightPerApp: 2000 }
"#,
    );
    for want in [
        "region: must not be empty",
        "healthListen: `nowhere` is not IP:PORT; write e.g. `0.0.0.0:8080`",
        "adminListen: `9090` is not IP:PORT; write e.g. `0.0.0.0:9090`",
        "probeConcurrency: 0 is out of range; use 1 to 65536",
        "clusterId: `UPPER` is not valid",
        "publicHostname: `not_a_host` is not a DNS name",
        "publicPort: 0 is not a port",
        "aws.reconcileIntervalSeconds: 1 is out of range; use 10 to 86400",
        "aws.route53CallsPerSecond: 11 is out of range",
        "route53Policy.zones[0].id: `Z 1` is not a hosted zone ID",
        "route53Policy.zones[0].names[0]: `*.ex ample.com` is not a DNS name",
        "route53Policy.zones[0].namespaces: is empty",
        "limits.appsPerNamespace: 0 is out of range; use 1 to 100000 (default 200)",
        "limits.endpointsPerNamespace: 10000001 is out of range; use 1 to 10000000 (default 2000)",
        "limits.probesInFlightPerApp: 2000 is out of range; use 1 to 1024 (default 8)",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    assert!(matches!(parse_settings("probeConcurrency: 0"), Err(Error::Invalid(_))));
}

#[test]
fn unknown_keys_and_static_only_keys_are_errors() {
    for (yaml, key) in [
        ("apps: []", "apps"),
        ("allowRemoteOverride: true", "allowRemoteOverride"),
        ("route53policy: {zones: []}", "route53policy"),
        ("aws: { reconcileInterval: 60 }", "reconcileInterval"),
        (
            "route53Policy: { zones: [{ id: Z1, names: [a.example.com], namespace: [a] }] }",
            "namespace",
        ),
        ("probeTargets: { allowLoopBack: true }", "allowLoopBack"),
        ("limits: { appsPerNamespaces: 1 }", "appsPerNamespaces"),
    ] {
        let e = errors(yaml);
        assert!(e.contains(&format!("unknown field `{key}`")), "{yaml}: {e}");
    }
    assert!(matches!(parse_settings("- a list"), Err(Error::Yaml(_))));
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let e = load_settings(std::path::Path::new("/nonexistent/settings.yaml")).unwrap_err();
    assert!(
        matches!(&e, Error::Read { path, .. } if path == "/nonexistent/settings.yaml"),
        "{e}"
    );
}
