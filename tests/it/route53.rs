//! `failover-agent route53 plan|apply` against moto: create, idempotence, update
//! in place, garbage collection, unowned objects left alone, and throttling.

use crate::moto::Moto;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, ResourceRecordSet, RrType,
};
use serde_json::json;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_failover-agent");

pub(crate) struct Fixture {
    pub moto: Moto,
    pub zone: String,
    pub alb_dns: String,
    pub alb_zone: String,
    pub dir: tempfile::TempDir,
}

pub(crate) fn fixture() -> Fixture {
    let mut moto = Moto::start();
    let alb = moto.cmd(json!({"cmd": "create_alb", "targets": ["10.0.1.10"], "zone": "example.com"}));
    Fixture {
        zone: alb["zone_id"].as_str().unwrap().into(),
        alb_dns: alb["alb_dns"].as_str().unwrap().into(),
        alb_zone: alb["alb_zone_id"].as_str().unwrap().into(),
        moto,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Fixture {
    /// A config with one Route 53 app per `(name, failureThreshold)`.
    fn config(&self, apps: &[(&str, u32)]) -> std::path::PathBuf {
        let mut y = String::from(
            "region: eu-west-1\nclusterId: prod-eu\npublicHostname: health.eu-west-1.example.com\napps:\n",
        );
        for (name, threshold) in apps {
            y += &format!(
                "  - name: {name}\n    endpoints: [\"http://127.0.0.1:1/\"]\n    route53:\n      hostedZoneId: {}\n      recordName: {name}.example.com\n      routing: {{ latency: {{ region: eu-west-1 }} }}\n      aliasTarget: {{ dnsName: {}, hostedZoneId: {} }}\n      healthCheck: {{ intervalSeconds: 10, failureThreshold: {threshold} }}\n",
                self.zone, self.alb_dns, self.alb_zone
            );
        }
        let path = self.dir.path().join("agent.yaml");
        std::fs::write(&path, y).unwrap();
        path
    }

    pub fn cli(&self, verb: &str, cfg: &std::path::Path) -> (i32, String) {
        let Output { status, stdout, stderr } = Command::new(BIN)
            .args(["route53", verb, "--config"])
            .arg(cfg)
            .envs(self.moto.env())
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&stdout).to_string() + &String::from_utf8_lossy(&stderr);
        (status.code().unwrap_or(-1), text)
    }

    pub async fn records(&self) -> Vec<ResourceRecordSet> {
        let out = self
            .moto
            .route53()
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone)
            .send()
            .await
            .unwrap();
        out.resource_record_sets()
            .iter()
            .filter(|r| *r.r#type() == RrType::A)
            .cloned()
            .collect()
    }

    pub async fn checks(&self) -> Vec<aws_sdk_route53::types::HealthCheck> {
        self.moto
            .route53()
            .list_health_checks()
            .send()
            .await
            .unwrap()
            .health_checks()
            .to_vec()
    }
}

pub(crate) fn record<'a>(rs: &'a [ResourceRecordSet], name: &str, set: &str) -> Option<&'a ResourceRecordSet> {
    rs.iter().find(|r| r.name() == name && r.set_identifier() == Some(set))
}

/// A hand-made record and health check that the agent must never touch.
async fn foreign_objects(f: &Fixture) -> String {
    let r53 = f.moto.route53();
    let hc = r53
        .create_health_check()
        .caller_reference("hand-made-1")
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Http)
                .fully_qualified_domain_name("health.eu-west-1.example.com")
                .port(80)
                .resource_path("/health/app1")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let hc_id = hc.health_check().unwrap().id().to_owned();
    let rec = |name: &str, set: &str| {
        ResourceRecordSet::builder()
            .name(name)
            .r#type(RrType::A)
            .set_identifier(set)
            .region(aws_sdk_route53::types::ResourceRecordSetRegion::UsEast1)
            .health_check_id(&hc_id)
            .alias_target(
                AliasTarget::builder()
                    .dns_name(&f.alb_dns)
                    .hosted_zone_id(&f.alb_zone)
                    .evaluate_target_health(true)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    let changes = [
        rec("app1.example.com", "us-east-1"),
        rec("app3.example.com", "eu-west-1"),
    ]
    .into_iter()
    .map(|r| {
        Change::builder()
            .action(ChangeAction::Create)
            .resource_record_set(r)
            .build()
            .unwrap()
    })
    .collect();
    r53.change_resource_record_sets()
        .hosted_zone_id(&f.zone)
        .change_batch(ChangeBatch::builder().set_changes(Some(changes)).build().unwrap())
        .send()
        .await
        .unwrap();
    hc_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_idempotence_update_in_place_gc_and_ownership() {
    let mut f = fixture();
    let foreign_hc = foreign_objects(&f).await;
    // Four names in one zone: read by listing the zone, not name by name.
    let two = f.config(&[("app1", 3), ("app2", 3), ("app3", 3), ("app4", 3)]);

    // plan: prints, changes nothing.
    f.moto.cmd(json!({"cmd": "stats_reset"}));
    let (code, out) = f.cli("plan", &two);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("+ health check  static/app1"), "{out}");
    assert!(
        out.contains("HTTP health.eu-west-1.example.com:80/health/app1 every 10s, unhealthy after 3"),
        "{out}"
    );
    assert!(
        out.contains("! conflict      static/app3") && out.contains("not owned by this agent"),
        "{out}"
    );
    assert!(
        out.contains("Plan: 7 to create, 0 to change, 0 to delete; 1 conflict(s) left alone."),
        "{out}"
    );
    for op in [
        "CreateHealthCheck",
        "ChangeResourceRecordSets",
        "ChangeTagsForResource",
        "DeleteHealthCheck",
    ] {
        assert_eq!(f.moto.count(op), 0, "plan must not call {op}");
    }

    // apply: three checks, two records; the hand-made objects are untouched.
    let (code, out) = f.cli("apply", &two);
    assert_eq!(code, 0, "{out}");
    let checks = f.checks().await;
    assert_eq!(checks.len(), 5, "four owned checks plus the hand-made one");
    let recs = f.records().await;
    let app1 = record(&recs, "app1.example.com.", "eu-west-1").expect("app1 record");
    let alias = app1.alias_target().unwrap();
    assert!(!alias.evaluate_target_health());
    assert_eq!(app1.region().map(|r| r.as_str()), Some("eu-west-1"));
    let app1_hc = app1.health_check_id().unwrap().to_owned();
    let cfg = checks
        .iter()
        .find(|c| c.id() == app1_hc)
        .unwrap()
        .health_check_config()
        .unwrap();
    assert_eq!(cfg.resource_path(), Some("/health/app1"));
    assert_eq!(cfg.fully_qualified_domain_name(), Some("health.eu-west-1.example.com"));
    assert_eq!((cfg.request_interval(), cfg.failure_threshold()), (Some(10), Some(3)));
    let hand = record(&recs, "app3.example.com.", "eu-west-1").expect("hand-made app3 record kept");
    assert_eq!(
        hand.health_check_id(),
        Some(foreign_hc.as_str()),
        "a conflicting record is never overwritten"
    );
    assert!(record(&recs, "app1.example.com.", "us-east-1").is_some());

    // Tags mark ownership.
    let tags = f
        .moto
        .route53()
        .list_tags_for_resource()
        .resource_type(aws_sdk_route53::types::TagResourceType::Healthcheck)
        .resource_id(&app1_hc)
        .send()
        .await
        .unwrap();
    let tags = tags.resource_tag_set().unwrap().tags();
    assert!(tags
        .iter()
        .any(|t| t.key() == Some("failover-agent.io/cluster") && t.value() == Some("prod-eu")));
    assert!(tags
        .iter()
        .any(|t| t.key() == Some("failover-agent.io/app") && t.value() == Some("static/app1")));

    // Idempotence: a second apply makes no change at all.
    f.moto.cmd(json!({"cmd": "stats_reset"}));
    let (code, out) = f.cli("apply", &two);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Plan: 0 to create, 0 to change, 0 to delete; 1 conflict(s)"),
        "{out}"
    );
    for op in [
        "CreateHealthCheck",
        "UpdateHealthCheck",
        "ChangeResourceRecordSets",
        "ChangeTagsForResource",
        "DeleteHealthCheck",
    ] {
        assert_eq!(f.moto.count(op), 0, "second apply called {op}: {out}");
    }

    // A changed threshold updates the same check in place.
    let (code, out) = f.cli(
        "apply",
        &f.config(&[("app1", 5), ("app2", 3), ("app3", 3), ("app4", 3)]),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("~ health check  static/app1          {app1_hc}")),
        "{out}"
    );
    let after = f.checks().await;
    let c = after
        .iter()
        .find(|c| c.id() == app1_hc)
        .expect("same ID after the update");
    assert_eq!(c.health_check_config().unwrap().failure_threshold(), Some(5));
    assert_eq!(after.len(), 5);

    // app2, app3 and app4 removed: their (owned) records and checks go; nothing else does.
    let (code, out) = f.cli("apply", &f.config(&[("app1", 5)]));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("- record        static/app2") && out.contains("(the app is gone)"),
        "{out}"
    );
    let recs = f.records().await;
    assert!(
        record(&recs, "app2.example.com.", "eu-west-1").is_none(),
        "app2's record is deleted"
    );
    assert!(record(&recs, "app1.example.com.", "eu-west-1").is_some());
    assert!(
        record(&recs, "app1.example.com.", "us-east-1").is_some(),
        "foreign record kept"
    );
    assert!(
        record(&recs, "app3.example.com.", "eu-west-1").is_some(),
        "foreign record kept"
    );
    let ids: Vec<String> = f.checks().await.iter().map(|c| c.id().to_owned()).collect();
    assert_eq!(ids.len(), 2, "app1's and the hand-made check remain: {ids:?}");
    assert!(ids.contains(&foreign_hc) && ids.contains(&app1_hc));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttles_are_retried_and_a_change_that_keeps_failing_is_reported_then_retried() {
    let mut f = fixture();
    let cfg = f.config(&[("app1", 3)]);
    // AWS slows us down twice on each write path: the apply still completes.
    f.moto
        .cmd(json!({"cmd": "throttle", "action": "CreateHealthCheck", "count": 2}));
    f.moto.cmd(
        json!({"cmd": "throttle", "action": "ChangeResourceRecordSets", "count": 2, "code": "PriorRequestNotComplete"}),
    );
    let (code, out) = f.cli("apply", &cfg);
    assert_eq!(code, 0, "{out}");
    assert_eq!(f.moto.stats()["throttled"].as_u64(), Some(4));
    assert!(record(&f.records().await, "app1.example.com.", "eu-west-1").is_some());

    // A record change refused more often than the retries allow: apply exits 1
    // and names it; the check it made is kept, and the next apply finishes the job.
    let cfg2 = f.config(&[("app1", 3), ("app2", 3)]);
    f.moto
        .cmd(json!({"cmd": "throttle", "action": "ChangeResourceRecordSets", "count": 50}));
    let (code, out) = f.cli("apply", &cfg2);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED + record        static/app2"), "{out}");
    assert!(record(&f.records().await, "app2.example.com.", "eu-west-1").is_none());
    f.moto
        .cmd(json!({"cmd": "throttle", "action": "ChangeResourceRecordSets", "count": 0}));
    f.moto.cmd(json!({"cmd": "stats_reset"}));
    let (code, out) = f.cli("apply", &cfg2);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        f.moto.count("CreateHealthCheck"),
        0,
        "the check from the failed run is reused: {out}"
    );
    assert!(record(&f.records().await, "app2.example.com.", "eu-west-1").is_some());
}
