//! The fixture of the `route53 answer` tests: moto with one public zone, record
//! sets and checks made by hand, the command run in-process or as the binary.

use crate::moto::Moto;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, HealthCheckConfig, HealthCheckType, HostedZoneConfig, ResourceRecord,
    ResourceRecordSet, ResourceRecordSetFailover, ResourceRecordSetRegion, RrType, Vpc, VpcRegion,
};
use failover_agent::aws::{Budget, Caller};
use failover_agent::cli::route53_answer::{read, Report};
use serde_json::json;
use std::collections::BTreeMap;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_failover-agent");

/// The only Route 53 operations `route53 answer` may call.
pub const READS: [&str; 5] = [
    "ListHostedZonesByName",
    "GetHostedZone",
    "ListResourceRecordSets",
    "GetHealthCheckStatus",
    "GetMetricData",
];

/// How a test record routes.
pub enum R {
    Primary,
    Secondary,
    Weight(i64),
    Latency(ResourceRecordSetRegion),
}

pub struct World {
    pub moto: Moto,
    pub r53: aws_sdk_route53::Client,
    pub zone: String,
    caller: Caller,
}

impl World {
    pub async fn new() -> World {
        let moto = Moto::start();
        let r53 = moto.route53();
        let zone = create_zone(&r53, "example.com", None).await;
        // A fast budget: the defaults pace GetHealthCheckStatus at 0.5 call/s.
        let budget = Budget {
            check_status_rate: 1000.0,
            route53_rate: 1000.0,
            ..Budget::default()
        };
        let caller = Caller::new(budget, failover_agent::telemetry::Metrics::new("test").unwrap().aws);
        World {
            moto,
            r53,
            zone,
            caller,
        }
    }

    pub async fn check(&self, region: &str) -> String {
        let c = HealthCheckConfig::builder()
            .r#type(HealthCheckType::Http)
            .fully_qualified_domain_name(format!("health.{region}.example.com"))
            .port(80)
            .resource_path("/health/app1")
            .build()
            .unwrap();
        let out = self
            .r53
            .create_health_check()
            .caller_reference(format!("by-hand-{}", fastrand::u64(..)))
            .health_check_config(c)
            .send()
            .await
            .unwrap();
        out.health_check().unwrap().id().to_owned()
    }

    /// Creates `name`'s records: (set identifier, routing, check, address).
    pub async fn records(&self, name: &str, recs: Vec<(&str, R, Option<&str>, &str)>) {
        let changes = recs
            .into_iter()
            .map(|(set, routing, check, ip)| {
                let b = ResourceRecordSet::builder()
                    .name(name)
                    .r#type(RrType::A)
                    .ttl(60)
                    .set_identifier(set)
                    .set_health_check_id(check.map(str::to_owned))
                    .resource_records(ResourceRecord::builder().value(ip).build().unwrap());
                let b = match routing {
                    R::Primary => b.failover(ResourceRecordSetFailover::Primary),
                    R::Secondary => b.failover(ResourceRecordSetFailover::Secondary),
                    R::Weight(w) => b.weight(w),
                    R::Latency(region) => b.region(region),
                };
                let rrset = b.build().unwrap();
                Change::builder()
                    .action(ChangeAction::Create)
                    .resource_record_set(rrset)
                    .build()
                    .unwrap()
            })
            .collect();
        self.r53
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone)
            .change_batch(ChangeBatch::builder().set_changes(Some(changes)).build().unwrap())
            .send()
            .await
            .unwrap();
    }

    pub fn status(&mut self, check: &str, failing: u32) {
        let cmd = if failing == 0 {
            json!({"cmd": "check_status", "id": check, "status": "Success"})
        } else {
            json!({"cmd": "check_status", "id": check, "status": "Failure", "failing": failing})
        };
        self.moto.cmd(cmd);
    }

    pub async fn answer(&self, name: &str) -> Report {
        read(&self.r53, &self.caller, name, None).await.expect("an answer")
    }

    /// `failover-agent route53 answer <args>`: exit code, stdout, stderr.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let Output { status, stdout, stderr } = Command::new(BIN)
            .args(["route53", "answer"])
            .args(args)
            .envs(self.moto.env())
            .env("RUST_LOG", "error")
            .output()
            .unwrap();
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).to_string();
        (status.code().unwrap_or(-1), text(stdout), text(stderr))
    }

    /// The operations called since the last `stats_reset` that are not reads.
    pub fn writes(&mut self) -> Vec<String> {
        let stats = self.moto.stats();
        let ops = stats.as_object().cloned().unwrap_or_default();
        ops.into_iter()
            .filter(|(op, n)| !READS.contains(&op.as_str()) && op != "throttled" && op != "injected" && n != &json!(0))
            .map(|(op, _)| op)
            .collect()
    }
}

pub async fn create_zone(r53: &aws_sdk_route53::Client, name: &str, vpc: Option<&str>) -> String {
    let mut req = r53
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!("zone-{}", fastrand::u64(..)));
    if let Some(vpc) = vpc {
        req = req
            .vpc(Vpc::builder().vpc_id(vpc).vpc_region(VpcRegion::EuWest1).build())
            .hosted_zone_config(HostedZoneConfig::builder().private_zone(true).build());
    }
    let out = req.send().await.unwrap();
    out.hosted_zone()
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned()
}

pub fn shares(r: &Report) -> BTreeMap<String, String> {
    r.records
        .iter()
        .map(|row| (row.set_identifier.clone(), format!("{:.0}%", row.share * 100.0)))
        .collect()
}

pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
