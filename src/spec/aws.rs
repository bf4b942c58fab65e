//! Validation of the AWS keys: `clusterId`, `publicHostname`, the `aws` pacing
//! block, and each app's `targetGroupArns` and `route53` block.

use crate::aws::Budget;
use crate::spec::route53 as spec;
use crate::spec::route53::Owner;
use crate::spec::route53::Protocol;
use crate::spec::route53::PublicListener;
use crate::spec::route53::Route53Block;
use crate::spec::route53::Settings;
use crate::spec::route53_policy::Route53Policy;
use serde::Deserialize;
use std::time::Duration;

/// AWS pacing. Defaults keep the agent to a quarter of each account limit.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FileAws {
    /// Seconds between reads of each target group. Default 10.
    pub target_health_interval_seconds: Option<f64>,
    /// Seconds between full Route 53 reconciles. Default 60.
    pub reconcile_interval_seconds: Option<f64>,
    /// Seconds between reads of each owned check's status. Default 30.
    pub check_status_interval_seconds: Option<f64>,
    /// Seconds between reads of every Region's check statuses from CloudWatch (the
    /// DNS answer); 0 turns the reads off. Default 300.
    pub dns_view_interval_seconds: Option<f64>,
    /// ELBv2 Describe calls per second. Default 2.5 (AWS allows 10 per account).
    pub elbv2_calls_per_second: Option<f64>,
    /// Route 53 calls per second. Default 2.5 (AWS allows about 10 per account).
    pub route53_calls_per_second: Option<f64>,
}

/// Validated AWS settings of one agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AwsSettings {
    /// Set when any app has a `route53` block.
    pub owner: Option<Owner>,
    pub target_health_interval: Duration,
    pub reconcile_interval: Duration,
    pub check_status_interval: Duration,
    /// Between reads of every Region's check statuses (CloudWatch); `None`: off.
    pub dns_view_interval: Option<Duration>,
    pub budget: Budget,
    /// Which zones, names and namespaces Route 53 may be managed for. `None`: no
    /// restriction (the static config, whose apps the operator writes himself).
    /// In-cluster it is always `Some` (the settings file's, or empty: deny all).
    pub route53_policy: Option<Route53Policy>,
}

impl Default for AwsSettings {
    fn default() -> Self {
        AwsSettings {
            owner: None,
            target_health_interval: Duration::from_secs(10),
            reconcile_interval: Duration::from_secs(60),
            check_status_interval: Duration::from_secs(30),
            dns_view_interval: Some(Duration::from_secs(300)),
            budget: Budget::default(),
            route53_policy: None,
        }
    }
}

fn secs(field: &str, v: Option<f64>, default: Duration, range: (f64, f64), errs: &mut Vec<String>) -> Duration {
    let Some(v) = v else { return default };
    let hint = format!(" (default {})", default.as_secs_f64());
    super::numbers::finite_secs(&format!("aws.{field}"), v, range, &hint, errs).unwrap_or(default)
}

/// Slowest call rate a key may ask for: one call every 100 s.
const MIN_RATE: f64 = 0.01;

fn rate(field: &str, v: Option<f64>, default: f64, max: f64, errs: &mut Vec<String>) -> f64 {
    let Some(v) = v else { return default };
    let hint = format!(" calls per second (default {default}, a quarter of the account limit)");
    super::numbers::finite(&format!("aws.{field}"), v, (MIN_RATE, max), &hint, errs).unwrap_or(default)
}

/// Who this agent is to Route 53, as written: `clusterId`, `publicHostname`, and the
/// public listener (`publicPort`, `publicProtocol`, `matchVerdict`).
#[derive(Clone, Debug, Default)]
pub struct Public {
    pub cluster_id: Option<String>,
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub protocol: Option<Protocol>,
    pub match_verdict: Option<bool>,
}

impl Public {
    fn listener(&self, errs: &mut Vec<String>) -> PublicListener {
        let protocol = self.protocol.unwrap_or(Protocol::Http);
        let port = self.port.unwrap_or(match protocol {
            Protocol::Http => 80,
            Protocol::Https => 443,
        });
        if port == 0 {
            errs.push("publicPort: 0 is not a port; use the load balancer's listener port, e.g. 80 (NLB) or 443 (the shared ALB's HTTPS listener)".into());
        }
        PublicListener {
            protocol,
            port,
            match_verdict: self.match_verdict.unwrap_or(false),
        }
    }
}

/// The call budget of the `aws` block's rate keys, over the defaults.
fn budget(a: &FileAws, errs: &mut Vec<String>) -> Budget {
    let mut budget = Budget::default();
    budget.elbv2_rate = rate(
        "elbv2CallsPerSecond",
        a.elbv2_calls_per_second,
        budget.elbv2_rate,
        10.0,
        errs,
    );
    budget.route53_rate = rate(
        "route53CallsPerSecond",
        a.route53_calls_per_second,
        budget.route53_rate,
        10.0,
        errs,
    );
    budget
}

/// Validates the global keys. `needs_owner` is true when any app has `route53`.
pub(super) fn settings(public: Public, a: &FileAws, needs_owner: bool, errs: &mut Vec<String>) -> AwsSettings {
    let listener = public.listener(errs);
    let (cluster_id, public_hostname) = (public.cluster_id, public.hostname);
    let d = AwsSettings::default();
    let budget = budget(a, errs);
    let owner = match (cluster_id, public_hostname) {
        (Some(c), Some(h)) => {
            if !super::valid_app_name(&c) {
                errs.push(format!("clusterId: `{}` is not valid; use 1-63 lowercase letters, digits, `-` or `.`, unique per cluster, e.g. prod-eu-west-1", c.escape_debug()));
            }
            if !h.contains('.')
                || h.parse::<std::net::IpAddr>().is_ok()
                || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            {
                errs.push(format!("publicHostname: `{}` is not a DNS name; use the hostname Route 53's checkers reach this Region's agents at, e.g. health.eu-west-1.example.com", h.escape_debug()));
            }
            Some(Owner {
                cluster_id: c,
                public_hostname: h,
                public: listener,
            })
        }
        (None, _) if needs_owner => {
            errs.push("clusterId: is required when an app has a route53 block; set a name unique per cluster, e.g. prod-eu-west-1".into());
            None
        }
        (_, None) if needs_owner => {
            errs.push("publicHostname: is required when an app has a route53 block; set this Region's public agent hostname, e.g. health.eu-west-1.example.com".into());
            None
        }
        _ => None,
    };
    AwsSettings {
        owner,
        target_health_interval: secs(
            "targetHealthIntervalSeconds",
            a.target_health_interval_seconds,
            d.target_health_interval,
            (1.0, 3600.0),
            errs,
        ),
        reconcile_interval: secs(
            "reconcileIntervalSeconds",
            a.reconcile_interval_seconds,
            d.reconcile_interval,
            (10.0, 86_400.0),
            errs,
        ),
        check_status_interval: secs(
            "checkStatusIntervalSeconds",
            a.check_status_interval_seconds,
            d.check_status_interval,
            (5.0, 3600.0),
            errs,
        ),
        dns_view_interval: match a.dns_view_interval_seconds {
            Some(0.0) => None,
            v => Some(secs(
                "dnsViewIntervalSeconds",
                v,
                d.dns_view_interval.unwrap_or(Duration::from_secs(300)),
                (1.0, 86_400.0),
                errs,
            )),
        },
        budget,
        route53_policy: None,
    }
}

/// The in-cluster settings, from the DaemonSet's environment (the chart sets them
/// from one place, so the checks' port is the Service's or the Ingress's by
/// construction): `CLUSTER_ID` and `PUBLIC_HOSTNAME` (both or neither) turn on
/// Route 53 management; `PUBLIC_PORT`, `PUBLIC_PROTOCOL` and `MATCH_VERDICT`
/// describe the load balancer's listener; pacing keeps its defaults. `var` reads
/// one variable (unset and empty are alike).
pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<AwsSettings, Vec<String>> {
    over_file(var, Public::default(), &FileAws::default(), false)
}

/// [`from_env`] over the settings file's keys (`file` and `aws`, already validated
/// on their own): each variable wins over its key, and the pacing is the file's.
/// A message names the variable, or the key when only the file set the value.
pub(super) fn over_file(
    var: impl Fn(&str) -> Option<String>,
    file: Public,
    aws: &FileAws,
    with_file: bool,
) -> Result<AwsSettings, Vec<String>> {
    let mut errs = Vec::new();
    let port = var("PUBLIC_PORT").and_then(|v| match v.trim().parse::<u16>() {
        Ok(p) => Some(p),
        Err(_) => {
            errs.push(format!(
                "PUBLIC_PORT: `{}` is not a port; set the load balancer's listener port, e.g. 80",
                v.escape_debug()
            ));
            None
        }
    });
    let protocol = var("PUBLIC_PROTOCOL").and_then(|v| match v.trim().to_ascii_uppercase().as_str() {
        "HTTP" => Some(Protocol::Http),
        "HTTPS" => Some(Protocol::Https),
        _ => {
            errs.push(format!("PUBLIC_PROTOCOL: `{}` is not HTTP or HTTPS", v.escape_debug()));
            None
        }
    });
    let match_verdict = var("MATCH_VERDICT").and_then(|v| match v.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            errs.push(format!("MATCH_VERDICT: `{}` is not true or false", v.escape_debug()));
            None
        }
    });
    // Who set what, for the messages: (key, variable, set by the variable, by the file).
    let source = [
        ("clusterId", "CLUSTER_ID", file.cluster_id.is_some()),
        ("publicHostname", "PUBLIC_HOSTNAME", file.hostname.is_some()),
        ("publicPort", "PUBLIC_PORT", file.port.is_some()),
    ]
    .map(|(key, name, in_file)| (key, name, var(name).is_some(), in_file));
    let public = Public {
        cluster_id: var("CLUSTER_ID").or(file.cluster_id),
        hostname: var("PUBLIC_HOSTNAME").or(file.hostname),
        port: port.or(file.port),
        protocol: protocol.or(file.protocol),
        match_verdict: match_verdict.or(file.match_verdict),
    };
    let both = public.cluster_id.is_some() || public.hostname.is_some();
    let s = settings(public, aws, both, &mut errs);
    if errs.is_empty() {
        return Ok(s);
    }
    Err(errs
        .into_iter()
        .map(|e| {
            source.iter().fold(e, |e, &(key, name, in_env, in_file)| {
                let to = match (in_env, in_file, with_file) {
                    (false, true, _) => return e,
                    (false, false, true) => format!("{name} (or {key} in the settings file):"),
                    _ => format!("{name}:"),
                };
                e.replace(&format!("{key}:"), &to)
            })
        })
        .collect())
}

/// True if `arn` looks like an ELBv2 target group ARN.
pub fn valid_target_group_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "elasticloadbalancing"
        && parts[5].starts_with("targetgroup/")
}

/// Validates an app's target groups.
pub(crate) fn target_groups(at: &str, arns: &[String], errs: &mut Vec<String>) -> Vec<String> {
    for (i, a) in arns.iter().enumerate() {
        if !valid_target_group_arn(a) {
            errs.push(format!("{at}.targetGroupArns[{i}]: `{}` is not a target group ARN; use arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>", a.escape_debug()));
        }
    }
    let mut v = arns.to_vec();
    v.sort();
    v.dedup();
    v
}

/// Validates an app's `route53` block (static config: `aliasTarget` required).
pub(super) fn route53(at: &str, b: Option<&Route53Block>, region: &str, errs: &mut Vec<String>) -> Option<Settings> {
    let b = b?;
    let at = format!("{at}.route53");
    if b.alias_target.is_none() {
        errs.push(format!(
            "{at}.aliasTarget: is required in the static config; give the ALB's dnsName and canonical hostedZoneId"
        ));
    }
    spec::validate(&at, b, region, errs)
}

/// Refuses two apps that want the same record (zone, name, set identifier): a
/// record belongs to one app, whose check it carries.
pub(super) fn unique_records(apps: &[super::AppConfig], errs: &mut Vec<String>) {
    let mut first: std::collections::BTreeMap<(&str, &str, &str), &str> = std::collections::BTreeMap::new();
    for a in apps {
        let Some(r) = &a.route53 else { continue };
        let key = (r.zone_id.as_str(), r.record_name.as_str(), r.set_identifier.as_str());
        if let Some(other) = first.insert(key, &a.key.name) {
            errs.push(format!(
                "apps: `{other}` and `{}` both want record {} [{}] in {}; a record belongs to one app: change one's route53.recordName or route53.setIdentifier",
                a.key.name, r.record_name, r.set_identifier, r.zone_id
            ));
        }
    }
}
