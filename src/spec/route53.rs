//! The `route53` block of an app, as written in the static config and in
//! `AppHealth.spec.route53`, and its validation into [`Settings`].

pub use crate::spec::record_types::RecordType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the agent keeps in Route 53 for one app: a health check of this Region's
/// `/health/<app>` and the app's alias record that uses it.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Route53Block {
    /// The hosted zone of the record, e.g. `Z0123456789ABC`.
    #[schemars(length(min = 1, max = 64))]
    pub hosted_zone_id: String,
    /// The record's name, e.g. `app1.example.com`.
    #[schemars(length(min = 1, max = 253))]
    pub record_name: String,
    /// Exactly one of `latency`, `failover` or `weighted`.
    pub routing: RoutingBlock,
    /// Default: this Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub set_identifier: Option<String>,
    /// The ALB the record points at. Required in the static config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_target: Option<AliasBlock>,
    /// `[A]`, `[AAAA]` or `[A, AAAA]`: the alias records made at the name, all
    /// using the one health check. Default: `[A]` in the static config; in-cluster,
    /// from the discovered load balancer's `IpAddressType` (`[A, AAAA]` for dual stack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_types: Option<Vec<RecordType>>,
    #[serde(default)]
    pub health_check: HealthCheckBlock,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoutingBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover: Option<FailoverBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weighted: Option<WeightedBlock>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LatencyBlock {
    /// Default: this Region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailoverBlock {
    pub role: FailoverRole,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum FailoverRole {
    Primary,
    Secondary,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightedBlock {
    #[schemars(range(min = 0, max = 255))]
    pub weight: u32,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AliasBlock {
    /// The ALB's DNS name.
    pub dns_name: String,
    /// The ALB's canonical hosted zone ID (not the record's zone).
    pub hosted_zone_id: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthCheckBlock {
    /// 10 or 30. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u32>,
    /// 1 to 10. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub failure_threshold: Option<u32>,
    /// `HTTP` or `HTTPS`. Default: the agent's public listener (`publicProtocol`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Default: the agent's public listener (`publicPort`) for its protocol, else 80 / 443.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// Also require this string in the first 5,120 bytes of the body. Default: none,
    /// or `HEALTHY <app>` when the agent's listener matches verdicts (`matchVerdict`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub search_string: Option<String>,
    /// `HTTP` (default): Route 53's checkers call this Region's `/health/<app>`.
    /// `CLOUDWATCH_METRIC`: for apps Route 53's checkers cannot reach (private hosted
    /// zones): the check follows an alarm on the verdict the agent publishes to CloudWatch.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub check_type: Option<metric::CheckType>,
    /// With `CLOUDWATCH_METRIC`: the check's status while the alarm has too little
    /// data. Default `LastKnownStatus`, so a silent agent never flips an app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insufficient_data_health_status: Option<metric::InsufficientData>,
    /// With `CLOUDWATCH_METRIC`: how many 60-second periods the verdict must be
    /// unhealthy before the alarm fires. 1 to 10, default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub evaluation_periods: Option<u32>,
}

#[path = "route53_metric.rs"]
pub mod metric;

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Http,
    Https,
}

/// A validated `route53` block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Settings {
    /// The bare zone ID (no `/hostedzone/` prefix).
    pub zone_id: String,
    /// Lowercase, with the trailing dot Route 53 returns.
    pub record_name: String,
    pub routing: Routing,
    pub set_identifier: String,
    pub alias: Option<Alias>,
    /// Sorted, non-empty; `None` until the alias's load balancer says (in-cluster):
    /// [`Settings::record_types`] reads it as `[A]`.
    pub record_types: Option<Vec<RecordType>>,
    pub interval: u32,
    pub failure_threshold: u32,
    /// `None`: the agent's public listener decides ([`crate::spec::route53::Owner::check_for`]).
    pub protocol: Option<Protocol>,
    /// `None`: the agent's public listener decides.
    pub port: Option<u16>,
    /// `None`: none, or the verdict string when the listener matches verdicts.
    pub search_string: Option<String>,
    /// `Some`: a `CLOUDWATCH_METRIC` check on an alarm on the app's published verdict,
    /// instead of an HTTP check.
    pub metric: Option<metric::MetricCheck>,
}

impl Settings {
    /// The record types to make: as given or discovered, else `[A]`.
    pub fn record_types(&self) -> &[RecordType] {
        self.record_types.as_deref().unwrap_or(&[RecordType::A])
    }
}

/// A record's routing policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum Routing {
    Latency(String),
    Failover(FailoverRole),
    Weighted(u32),
}

/// An alias target, normalised for comparison: lowercase, trailing dot, no `dualstack.`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Alias {
    pub dns_name: String,
    pub zone_id: String,
}

impl Alias {
    pub fn new(dns_name: &str, zone_id: &str) -> Alias {
        let d = fqdn(dns_name);
        let d = d.strip_prefix("dualstack.").map(str::to_owned).unwrap_or(d);
        Alias {
            dns_name: d,
            zone_id: bare_zone(zone_id),
        }
    }
}

/// `Name.Example.com` → `name.example.com.`
pub fn fqdn(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    if n.ends_with('.') {
        n
    } else {
        format!("{n}.")
    }
}

/// `/hostedzone/Z123` → `Z123`
pub fn bare_zone(id: &str) -> String {
    id.trim().trim_start_matches("/hostedzone/").to_owned()
}

fn is_dns_name(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && (l == "*" || l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        })
}

/// Validates one block found at `at` (e.g. `apps[0].route53`). `region` is the
/// agent's Region, the default for `setIdentifier` and latency routing.
pub fn validate(at: &str, b: &Route53Block, region: &str, errs: &mut Vec<String>) -> Option<Settings> {
    let before = errs.len();
    let zone_id = bare_zone(&b.hosted_zone_id);
    if zone_id.is_empty() || !zone_id.bytes().all(|c| c.is_ascii_alphanumeric()) {
        errs.push(format!("{at}.hostedZoneId: `{}` is not a hosted zone ID; use the ID from `aws route53 list-hosted-zones`, e.g. Z0123456789ABC", b.hosted_zone_id.escape_debug()));
    }
    if !is_dns_name(&b.record_name) {
        errs.push(format!(
            "{at}.recordName: `{}` is not a DNS name; use e.g. app1.example.com",
            b.record_name.escape_debug()
        ));
    }
    let routing = validate_routing(at, &b.routing, region, errs);
    let set_identifier = b.set_identifier.clone().unwrap_or_else(|| region.to_owned());
    if set_identifier.is_empty() || set_identifier.len() > 128 {
        errs.push(format!(
            "{at}.setIdentifier: must be 1 to 128 characters (default: the Region)"
        ));
    }
    let alias = b.alias_target.as_ref().map(|a| {
        if !is_dns_name(&a.dns_name) || a.hosted_zone_id.trim().is_empty() {
            errs.push(format!("{at}.aliasTarget: needs the ALB's dnsName and its canonical hostedZoneId (from `aws elbv2 describe-load-balancers`)"));
        }
        Alias::new(&a.dns_name, &a.hosted_zone_id)
    });
    let record_types = crate::spec::record_types::validate(at, b.record_types.as_deref(), errs);
    let h = &b.health_check;
    let (interval, failure_threshold) = validate_health_check(at, h, errs);
    let metric = metric::validate(at, h, region, errs);
    if errs.len() > before {
        return None;
    }
    Some(Settings {
        zone_id,
        record_name: fqdn(&b.record_name),
        routing: routing?,
        set_identifier,
        alias,
        record_types,
        interval,
        failure_threshold,
        protocol: h.protocol,
        port: h.port,
        search_string: h.search_string.clone(),
        metric,
    })
}

/// The one routing policy `r` sets (latency defaults to the agent's `region`);
/// `None`, with a message, if it sets none, several, or a weight over 255.
fn validate_routing(at: &str, r: &RoutingBlock, region: &str, errs: &mut Vec<String>) -> Option<Routing> {
    let set = [r.latency.is_some(), r.failover.is_some(), r.weighted.is_some()];
    match (&r.latency, &r.failover, &r.weighted) {
        _ if set.iter().filter(|x| **x).count() != 1 => {
            errs.push(format!("{at}.routing: set exactly one of latency: {{region: ...}}, failover: {{role: PRIMARY|SECONDARY}} or weighted: {{weight: 0-255}}"));
            None
        }
        (Some(l), _, _) => Some(Routing::Latency(l.region.clone().unwrap_or_else(|| region.to_owned()))),
        (_, Some(f), _) => Some(Routing::Failover(f.role)),
        (_, _, Some(w)) if w.weight > 255 => {
            errs.push(format!(
                "{at}.routing.weighted.weight: {} is out of range; use 0 to 255",
                w.weight
            ));
            None
        }
        (_, _, Some(w)) => Some(Routing::Weighted(w.weight)),
        _ => None,
    }
}

/// The health check's interval (10 or 30 s, default 10) and failure threshold
/// (1 to 10, default 3); one message per bad key of `h`, including its port and
/// search string, which are used as written.
fn validate_health_check(at: &str, h: &HealthCheckBlock, errs: &mut Vec<String>) -> (u32, u32) {
    let interval = h.interval_seconds.unwrap_or(10);
    if interval != 10 && interval != 30 {
        errs.push(format!(
            "{at}.healthCheck.intervalSeconds: {interval} is not allowed; Route 53 checks every 10 or 30 seconds"
        ));
    }
    let failure_threshold = h.failure_threshold.unwrap_or(3);
    if !(1..=10).contains(&failure_threshold) {
        errs.push(format!(
            "{at}.healthCheck.failureThreshold: {failure_threshold} is out of range; use 1 to 10 (default 3)"
        ));
    }
    if h.port == Some(0) {
        errs.push(format!(
            "{at}.healthCheck.port: 0 is not a port; use the public health port, e.g. 80"
        ));
    }
    if matches!(&h.search_string, Some(s) if s.is_empty() || s.len() > 255) {
        errs.push(format!(
            "{at}.healthCheck.searchString: must be 1 to 255 characters; remove it to judge on the status code alone"
        ));
    }
    (interval, failure_threshold)
}

/// Who owns what this agent writes: one cluster, serving from one hostname.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// Unique per cluster (per Region): health checks are tagged with it.
    pub cluster_id: String,
    /// This Region's public agent hostname, which Route 53's checkers call.
    pub public_hostname: String,
    /// How the load balancer in front of the agents listens: every check uses it
    /// unless the app's `healthCheck` says otherwise.
    pub public: PublicListener,
}

/// The listener Route 53's checkers reach the agents on (the NLB's or the shared
/// ALB's, not the agent's own 8080): the default protocol and port of every check,
/// and whether checks also require the agent's own answer in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicListener {
    pub protocol: Protocol,
    pub port: u16,
    /// Checks carry the search string `HEALTHY <app>` unless the app sets its own:
    /// a redirect or another backend's 200 then fails the check instead of passing it.
    pub match_verdict: bool,
}

impl Default for PublicListener {
    /// Plain HTTP on 80, no string matching: an NLB listener of the agents' own.
    fn default() -> Self {
        PublicListener {
            protocol: Protocol::Http,
            port: 80,
            match_verdict: false,
        }
    }
}

impl PublicListener {
    /// The port a check of `protocol` uses when the app names none: this listener's
    /// port for its own protocol, else the protocol's standard port.
    pub fn port_for(&self, protocol: Protocol) -> u16 {
        match protocol {
            p if p == self.protocol => self.port,
            Protocol::Http => 80,
            Protocol::Https => 443,
        }
    }
}
