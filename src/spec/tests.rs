//! Config parsing, defaults and validation messages.

use super::*;
use crate::model::Target;
use crate::spec::policy::MinHealthy;
use crate::spec::route53::Protocol;
use std::time::Duration;

const DESIGN_EXAMPLE: &str = r#"
region: eu-west-1
apps:
  - name: app1
    endpoints: ["http://127.0.0.1:18081/healthz", "http://127.0.0.1:18082/healthz"]
    probe: { intervalSeconds: 1, timeoutSeconds: 1 }
    policy: { minHealthyEndpoints: 1, fallCount: 2, riseCount: 2 }
  - name: app2
    endpoints: ["http://127.0.0.1:18083/healthz"]
"#;

fn errors(yaml: &str) -> String {
    match parse(yaml) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_design_example_parses_with_documented_defaults() {
    let cfg = parse(DESIGN_EXAMPLE).unwrap();
    assert_eq!(cfg.region, "eu-west-1");
    assert_eq!(cfg.health_listen.to_string(), "0.0.0.0:8080");
    assert_eq!(cfg.admin_listen.to_string(), "127.0.0.1:9090");
    assert_eq!(cfg.probe_concurrency, 512);
    let app1 = &cfg.apps[0];
    assert_eq!(app1.key.namespace, "static");
    assert_eq!(app1.policy.fall_count, 2);
    assert_eq!(app1.probe.interval, Duration::from_secs(1));
    // Default grace: riseCount × interval + timeout.
    assert_eq!(app1.startup_grace, Duration::from_secs(3));
    let app2 = &cfg.apps[1];
    assert_eq!(app2.probe.interval, Duration::from_secs(2));
    assert_eq!(app2.probe.timeout, Duration::from_secs(1));
    assert_eq!((app2.policy.fall_count, app2.policy.rise_count), (3, 2));
    assert_eq!(app2.policy.min_healthy, MinHealthy::Count(1));
    assert!(app2.probe.status_passes(204) && app2.probe.status_passes(302) && !app2.probe.status_passes(404));
    assert!(matches!(&app2.targets[0], Target::Http { uri, .. } if uri == "http://127.0.0.1:18083/healthz"));
}

#[test]
fn tcp_probes_paths_and_expected_status() {
    let cfg = parse(
        r#"
region: r
apps:
  - name: db
    endpoints: ["tcp://10.0.0.5:5432", "tcp://[::1]:5432"]
  - name: web
    endpoints: ["http://10.0.0.6:8080", "http://10.0.0.7:8080/other", "http://localhost:9000"]
    probe: { path: /ready, expectedStatus: [200, 204], bodyContains: OK }
    policy: { minHealthyPercent: 50, override: fail }
"#,
    )
    .unwrap();
    assert_eq!(
        cfg.apps[0].targets[0],
        Target::Tcp {
            addr: "10.0.0.5:5432".parse().unwrap()
        }
    );
    assert_eq!(
        cfg.apps[0].targets[1],
        Target::Tcp {
            addr: "[::1]:5432".parse().unwrap()
        }
    );
    let web = &cfg.apps[1];
    let uris: Vec<String> = web.targets.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        uris,
        [
            "http://10.0.0.6:8080/ready",
            "http://10.0.0.7:8080/other",
            "http://localhost:9000/ready"
        ]
    );
    assert_eq!(web.targets[2].addr().to_string(), "127.0.0.1:9000");
    assert!(web.probe.status_passes(204) && !web.probe.status_passes(301));
    assert_eq!(web.policy.min_healthy, MinHealthy::Percent(50));
    assert_eq!(web.override_mode, crate::model::OverrideMode::Fail);
}

#[test]
fn typos_are_errors_that_name_the_key() {
    let e = errors(
        "region: r\napps:\n  - name: a\n    endpoints: [\"http://127.0.0.1:1\"]\n    policy: { fallcount: 2 }\n",
    );
    assert!(
        e.contains("unknown field `fallcount`") && e.contains("fallCount"),
        "{e}"
    );
}

#[test]
fn every_problem_is_reported_with_field_and_fix() {
    let e = errors(
        r#"
region: ""
apps:
  - name: App_1
    endpoints: ["http://169.254.169.254/latest/meta-data", "https://169.254.169.254/", "http://db.internal:80/", "ftp://1.2.3.4/"]
    probe: { intervalSeconds: 1, timeoutSeconds: 5, expectedStatus: 700 }
    policy: { minHealthyEndpoints: 1, minHealthyPercent: 50, fallCount: 0 }
  - name: b
    endpoints: []
  - name: b
    endpoints: ["tcp://127.0.0.1"]
    policy: { minHealthyEndpoints: 3 }
"#,
    );
    for want in [
        "region: must not be empty",
        "apps[0].name: `App_1` is not a valid app name",
        "apps[0].endpoints[0]: `http://169.254.169.254/latest/meta-data` points at 169.254.169.254",
        "apps[0].endpoints[1]: `https://169.254.169.254/` points at 169.254.169.254",
        "apps[0].endpoints[2]: `http://db.internal:80/` uses host name `db.internal`",
        "apps[0].endpoints[3]: `ftp://1.2.3.4/` has no supported scheme",
        "apps[0].probe.timeoutSeconds: 5 must be at least 0.01 and at most intervalSeconds (1)",
        "apps[0].probe.expectedStatus: [700]",
        "apps[0].policy: set only one of minHealthyEndpoints and minHealthyPercent",
        "apps[0].policy.fallCount: 0 is out of range; use 1 to 100",
        "apps[1].endpoints: is empty",
        "apps[2].name: `b` is used twice",
        "apps[2].endpoints[0]: `tcp://127.0.0.1` has no port",
        "apps[2].policy.minHealthyEndpoints: 3 is more than the 1 endpoints listed",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

#[test]
fn load_names_the_missing_file() {
    let e = load(std::path::Path::new("/nonexistent/agent.yaml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/agent.yaml"), "{e}");
}

#[test]
fn the_aws_example_parses_with_its_route53_block() {
    let cfg = parse(include_str!("../../deploy/examples/static-aws.yaml")).unwrap();
    let owner = cfg.aws.owner.as_ref().unwrap();
    assert_eq!(
        (owner.cluster_id.as_str(), owner.public_hostname.as_str()),
        ("prod-eu-west-1", "health.eu-west-1.example.com")
    );
    let app = &cfg.apps[0];
    assert_eq!(app.target_groups.len(), 1);
    let r = app.route53.as_ref().unwrap();
    assert_eq!(r.record_name, "app1.example.com.");
    assert_eq!(r.routing, crate::spec::route53::Routing::Latency("eu-west-1".into()));
    assert_eq!((r.interval, r.failure_threshold, r.port), (10, 3, None));
    assert_eq!(
        owner.public,
        crate::spec::route53::PublicListener::default(),
        "the example spells out the defaults"
    );
    assert_eq!(app.policy.min_healthy_targets, MinHealthy::Count(1));
}

#[test]
fn bad_aws_keys_name_the_field_and_the_fix() {
    let e = errors(
        r#"
region: eu-west-1
aws: { elbv2CallsPerSecond: 50 }
apps:
  - name: a
    endpoints: ["tcp://127.0.0.1:1"]
    targetGroupArns: ["tg-1"]
    policy: { minHealthyTargets: 1, minHealthyTargetPercent: 50 }
    route53:
      hostedZoneId: "/hostedzone/Z 1"
      recordName: "bad name"
      routing: { latency: {}, weighted: { weight: 1 } }
      healthCheck: { intervalSeconds: 15, failureThreshold: 11 }
"#,
    );
    for want in [
        "aws.elbv2CallsPerSecond: 50 is out of range",
        "clusterId: is required when an app has a route53 block",
        "apps[0].targetGroupArns[0]: `tg-1` is not a target group ARN",
        "apps[0].policy: set only one of minHealthyTargets and minHealthyTargetPercent",
        "apps[0].route53.aliasTarget: is required in the static config",
        "apps[0].route53.hostedZoneId: `/hostedzone/Z 1` is not a hosted zone ID",
        "apps[0].route53.recordName: `bad name` is not a DNS name",
        "apps[0].route53.routing: set exactly one of",
        "apps[0].route53.healthCheck.intervalSeconds: 15 is not allowed; Route 53 checks every 10 or 30 seconds",
        "apps[0].route53.healthCheck.failureThreshold: 11 is out of range; use 1 to 10",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    // Unknown keys inside the block are errors too.
    let e = errors("region: r\nclusterId: c\npublicHostname: h.example.com\napps:\n  - name: a\n    endpoints: [\"tcp://127.0.0.1:1\"]\n    route53: { hostedZoneId: Z1, recordName: a.example.com, routing: { latency: {} }, ttl: 60 }\n");
    assert!(e.contains("unknown field `ttl`"), "{e}");
}

#[test]
fn the_public_listener_defaults_to_http_80_and_follows_its_protocol() {
    let base = "region: eu-west-1\nclusterId: c1\npublicHostname: health.example.com\napps:\n  - { name: a, endpoints: [\"tcp://127.0.0.1:1\"] }\n";
    let owner = |extra: &str| parse(&format!("{extra}\n{base}")).unwrap().aws.owner.unwrap().public;
    let d = owner("");
    assert_eq!((d.protocol, d.port, d.match_verdict), (Protocol::Http, 80, false));
    let tls = owner("publicProtocol: HTTPS\nmatchVerdict: true");
    assert_eq!(
        (tls.protocol, tls.port, tls.match_verdict),
        (Protocol::Https, 443, true)
    );
    assert_eq!(owner("publicPort: 8443\npublicProtocol: HTTPS").port, 8443);
    let e = errors(&format!("publicPort: 0\n{base}"));
    assert!(e.contains("publicPort: 0 is not a port"), "{e}");
}

#[test]
fn the_in_cluster_listener_comes_from_the_env_and_bad_values_name_the_variable() {
    let env = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        aws_from_env(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    };
    let on = [("CLUSTER_ID", "c1"), ("PUBLIC_HOSTNAME", "health.example.com")];
    let s = env(&on).unwrap();
    assert_eq!(s.owner.unwrap().public, crate::spec::route53::PublicListener::default());
    let s = env(&[
        on[0],
        on[1],
        ("PUBLIC_PROTOCOL", "HTTPS"),
        ("PUBLIC_PORT", "443"),
        ("MATCH_VERDICT", "true"),
    ])
    .unwrap();
    let p = s.owner.unwrap().public;
    assert_eq!((p.protocol, p.port, p.match_verdict), (Protocol::Https, 443, true));
    let e = env(&[
        on[0],
        on[1],
        ("PUBLIC_PORT", "eighty"),
        ("PUBLIC_PROTOCOL", "ftp"),
        ("MATCH_VERDICT", "yes"),
    ])
    .unwrap_err()
    .join("; ");
    for want in [
        "PUBLIC_PORT: `eighty` is not a port",
        "PUBLIC_PROTOCOL: `ftp` is not HTTP or HTTPS",
        "MATCH_VERDICT: `yes` is not true or false",
    ] {
        assert!(e.contains(want), "{e}");
    }
    let e = env(&[on[0], on[1], ("PUBLIC_PORT", "0")]).unwrap_err().join("; ");
    assert!(e.contains("PUBLIC_PORT: 0 is not a port"), "{e}");
}

#[test]
fn two_apps_that_want_one_record_are_refused_naming_both() {
    let app = |name: &str| {
        format!(
            "  - name: {name}\n    endpoints: [\"tcp://127.0.0.1:1\"]\n    route53:\n      hostedZoneId: Z1\n      recordName: shop.example.com\n      routing: {{ weighted: {{ weight: 10 }} }}\n      aliasTarget: {{ dnsName: alb.example.com, hostedZoneId: Z2 }}\n"
        )
    };
    let yaml = format!(
        "region: eu-west-1\nclusterId: c1\npublicHostname: health.example.com\napps:\n{}{}",
        app("app1"),
        app("app2")
    );
    let e = errors(&yaml);
    assert!(
        e.contains("`app1` and `app2` both want record shop.example.com. [eu-west-1] in Z1"),
        "{e}"
    );
}

#[test]
fn https_endpoints_are_probed_over_tls_on_443_by_default() {
    let cfg = parse(
        "region: r\napps:\n  - name: a\n    endpoints: [\"https://10.0.0.1/ready\", \"https://10.0.0.2:8443\"]\n",
    )
    .unwrap();
    let t: Vec<String> = cfg.apps[0].targets.iter().map(|t| t.to_string()).collect();
    assert_eq!(t, ["https://10.0.0.1/ready", "https://10.0.0.2:8443/"]);
    let addrs: Vec<String> = cfg.apps[0].targets.iter().map(|t| t.addr().to_string()).collect();
    assert_eq!(addrs, ["10.0.0.1:443", "10.0.0.2:8443"]);
}
