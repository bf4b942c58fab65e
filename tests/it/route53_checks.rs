//! The checks the agent makes follow the load balancer's listener (`publicPort`,
//! `publicProtocol`) and, with `matchVerdict`, require the agent's own answer: against
//! moto, through `failover-agent route53 apply`, as an operator would run it.

use crate::route53::{fixture, record, Fixture};
use aws_sdk_route53::types::HealthCheckConfig;

/// A config for app1 (no `healthCheck` of its own) and app2 (its own port and string),
/// behind a listener of `listener` (YAML keys).
fn config(f: &Fixture, listener: &str) -> std::path::PathBuf {
    let mut y = format!(
        "region: eu-west-1\nclusterId: prod-eu\npublicHostname: health.eu-west-1.example.com\n{listener}\napps:\n"
    );
    for (name, check) in [("app1", "{}"), ("app2", "{ port: 8443, searchString: ok }")] {
        y += &format!(
            "  - name: {name}\n    endpoints: [\"http://127.0.0.1:1/\"]\n    route53:\n      hostedZoneId: {}\n      recordName: {name}.example.com\n      routing: {{ failover: {{ role: PRIMARY }} }}\n      aliasTarget: {{ dnsName: {}, hostedZoneId: {} }}\n      healthCheck: {check}\n",
            f.zone, f.alb_dns, f.alb_zone
        );
    }
    let path = f.dir.path().join("listener.yaml");
    std::fs::write(&path, y).unwrap();
    path
}

/// The config of the check that app's record points at.
async fn check_of(f: &Fixture, app: &str) -> (String, HealthCheckConfig) {
    let recs = f.records().await;
    let rec = record(&recs, &format!("{app}.example.com."), "eu-west-1").expect("the app's record");
    let id = rec.health_check_id().expect("the record has a check").to_owned();
    let checks = f.checks().await;
    let c = checks.iter().find(|c| c.id() == id).expect("the record's check exists");
    (id, c.health_check_config().unwrap().clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_follow_the_listener_and_match_the_verdict_behind_a_shared_alb() {
    let f = fixture();
    // The chart's Ingress option: the shared ALB's HTTPS listener, verdict matching on.
    let alb = config(&f, "publicProtocol: HTTPS\npublicPort: 443\nmatchVerdict: true");
    let (code, out) = f.cli("plan", &alb);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "HTTPS_STR_MATCH health.eu-west-1.example.com:443/health/app1 every 10s, unhealthy after 3, body contains \"HEALTHY app1\""
        ),
        "{out}"
    );
    let (code, out) = f.cli("apply", &alb);
    assert_eq!(code, 0, "{out}");
    let (app1_id, c) = check_of(&f, "app1").await;
    assert_eq!(c.r#type().as_str(), "HTTPS_STR_MATCH");
    assert_eq!(
        c.port(),
        Some(443),
        "the check uses the listener's port, not the agent's 8080"
    );
    assert_eq!(c.search_string(), Some("HEALTHY app1"));
    assert_eq!(
        c.enable_sni(),
        Some(true),
        "SNI on, so the ALB picks the certificate for the host"
    );
    // An app's own settings win over the listener's defaults.
    let (_, c) = check_of(&f, "app2").await;
    assert_eq!(
        (c.r#type().as_str(), c.port(), c.search_string()),
        ("HTTPS_STR_MATCH", Some(8443), Some("ok"))
    );

    // Applying the same config again changes nothing.
    let (code, out) = f.cli("apply", &alb);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Plan: 0 to create, 0 to change, 0 to delete"), "{out}");

    // The operator moves to an NLB of the agents' own (HTTP on 80, no matching): a check's
    // type cannot change in place, so app1 gets a new check, its record follows, and the
    // old check is deleted. app2 keeps its own string and port, now over HTTP.
    let nlb = config(&f, "publicProtocol: HTTP\npublicPort: 80\nmatchVerdict: false");
    let (code, out) = f.cli("apply", &nlb);
    assert_eq!(code, 0, "{out}");
    let (new_id, c) = check_of(&f, "app1").await;
    assert_ne!(new_id, app1_id, "a new check replaces the old type");
    assert_eq!(
        (c.r#type().as_str(), c.port(), c.search_string()),
        ("HTTP", Some(80), None)
    );
    let (_, c) = check_of(&f, "app2").await;
    assert_eq!(
        (c.r#type().as_str(), c.port(), c.search_string()),
        ("HTTP_STR_MATCH", Some(8443), Some("ok"))
    );
    assert!(
        f.checks().await.iter().all(|c| c.id() != app1_id),
        "the replaced check is deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_zone_holds_only_its_own_app_and_apply_exits_1_naming_it() {
    let f = fixture();
    let app = |name: &str, zone: &str| {
        format!(
            "  - name: {name}\n    endpoints: [\"http://127.0.0.1:1/\"]\n    route53:\n      hostedZoneId: {zone}\n      recordName: {name}.example.com\n      routing: {{ latency: {{ region: eu-west-1 }} }}\n      aliasTarget: {{ dnsName: {}, hostedZoneId: {} }}\n",
            f.alb_dns, f.alb_zone
        )
    };
    let yaml = format!(
        "region: eu-west-1\nclusterId: prod-eu\npublicHostname: health.eu-west-1.example.com\napps:\n{}{}",
        app("app1", "ZWRONG0000000"),
        app("app2", &f.zone)
    );
    let path = f.dir.path().join("wrong-zone.yaml");
    std::fs::write(&path, yaml).unwrap();
    let (code, out) = f.cli("apply", &path);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("! error         static/app1") && out.contains("hosted zone ZWRONG0000000 cannot be read"),
        "{out}"
    );
    assert!(out.contains("NoSuchHostedZone"), "AWS's error is shown: {out}");
    // app2's objects are made in the same run; app1 gets nothing, not even a check.
    assert!(record(&f.records().await, "app2.example.com.", "eu-west-1").is_some());
    assert_eq!(f.checks().await.len(), 1, "only app2's check: {out}");
    // Fixed, the next apply completes.
    let fixed = std::fs::read_to_string(&path)
        .unwrap()
        .replace("ZWRONG0000000", &f.zone);
    std::fs::write(&path, fixed).unwrap();
    let (code, out) = f.cli("apply", &path);
    assert_eq!(code, 0, "{out}");
    assert!(record(&f.records().await, "app1.example.com.", "eu-west-1").is_some());
}
