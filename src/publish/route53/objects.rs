//! The Route 53 objects the reconciler compares: what the apps want
//! ([`DesiredApp`], via [`Owner`]) and what Route 53 holds ([`Actual`]).

pub use super::alarms::{ActualAlarm, AlarmRef};
use crate::model::AppKey;
use crate::spec::route53::Alias;
use crate::spec::route53::Protocol;
use crate::spec::route53::RecordType;
use crate::spec::route53::Routing;
use crate::spec::route53::Settings;
pub use crate::spec::route53::{Owner, PublicListener};
use serde::Serialize;
use std::fmt;

/// Tag keys that mark a health check as owned, and say which record uses it.
pub const TAG_CLUSTER: &str = "failover-agent.io/cluster";
pub const TAG_APP: &str = "failover-agent.io/app";
pub const TAG_ZONE: &str = "failover-agent.io/zone";
pub const TAG_RECORD: &str = "failover-agent.io/record";
pub const TAG_SET: &str = "failover-agent.io/set";
/// The incarnation (the `AppHealth` UID) that made the check: an object that loses
/// its app key still holds what it made under the old one.
pub const TAG_INCARNATION: &str = "failover-agent.io/incarnation";
/// While an app's record moves (a new name, zone or set identifier), the record it
/// moves from, `zone/name`: every read looks at both until the move is done, so a
/// crash or a failed call at any step leaves no record that is never read again.
pub const TAG_MOVING_FROM: &str = "failover-agent.io/moving-from";

/// The value of [`TAG_MOVING_FROM`] for a record in `zone` named `name`.
pub fn moving_from(zone: &str, name: &str) -> String {
    format!("{zone}/{name}")
}
/// Every CallerReference the agent makes starts with this.
pub const REF_PREFIX: &str = "fa1-";

/// The search string of `app`'s check when the listener matches verdicts. The
/// status code still decides a 503 (Route 53 fails anything outside 200-399), so
/// it need not tell `HEALTHY` from `UNHEALTHY`: it tells the agent from a redirect
/// or a foreign page.
pub fn verdict_string(app: &str) -> String {
    format!("HEALTHY {app}")
}

/// One app that wants Route 53 objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredApp {
    pub key: AppKey,
    /// Distinguishes a re-created app from a deleted one of the same name: the
    /// `AppHealth` UID in the cluster, `static` for the file.
    pub incarnation: String,
    pub settings: Settings,
}

/// Everything a reconcile wants: the apps' objects, and the apps whose objects must
/// be left as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    pub apps: Vec<DesiredApp>,
    pub hold: Hold,
}

/// Objects a reconcile leaves exactly as they are, neither kept up to date nor
/// collected: a held app is not served right now (an invalid spec, a lost app key
/// or record, a zone the operator does not allow), and a typo or a newer tenant
/// must never delete its DNS record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hold {
    /// By app key: the objects tagged `namespace/app`.
    pub apps: std::collections::BTreeSet<AppKey>,
    /// By incarnation: the objects an `AppHealth` made, whatever app key it had then.
    pub incarnations: std::collections::BTreeSet<String>,
}

/// A health check's settings, as far as the agent sets them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckConfig {
    pub protocol: Protocol,
    /// No trailing dot, lowercase.
    pub fqdn: String,
    pub port: u16,
    pub path: String,
    pub search_string: Option<String>,
    pub interval: u32,
    pub failure_threshold: u32,
    /// `Some`: a `CLOUDWATCH_METRIC` check on this alarm (the HTTP fields above are
    /// then empty: no endpoint is called).
    pub alarm: Option<AlarmRef>,
}

impl CheckConfig {
    /// The Route 53 check type.
    pub fn type_name(&self) -> &'static str {
        if self.alarm.is_some() {
            return "CLOUDWATCH_METRIC";
        }
        match (self.protocol, self.search_string.is_some()) {
            (Protocol::Http, false) => "HTTP",
            (Protocol::Https, false) => "HTTPS",
            (Protocol::Http, true) => "HTTP_STR_MATCH",
            (Protocol::Https, true) => "HTTPS_STR_MATCH",
        }
    }

    /// `UpdateHealthCheck` cannot change the type or the interval: a change to
    /// either replaces the check.
    pub fn can_update_to(&self, other: &CheckConfig) -> bool {
        self.type_name() == other.type_name() && self.interval == other.interval
    }
}

impl fmt::Display for CheckConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(a) = &self.alarm {
            return write!(f, "CLOUDWATCH_METRIC on {a}");
        }
        write!(
            f,
            "{} {}:{}{} every {}s, unhealthy after {}",
            self.type_name(),
            self.fqdn,
            self.port,
            self.path,
            self.interval,
            self.failure_threshold
        )?;
        if let Some(s) = &self.search_string {
            write!(f, ", body contains {s:?}")?;
        }
        Ok(())
    }
}

/// Where an alias record lives: zone, name, set identifier and type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordKey {
    pub zone: String,
    pub name: String,
    pub set_identifier: String,
    #[serde(rename = "type")]
    pub rr_type: RecordType,
}

impl fmt::Display for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} [{}] in {}",
            self.name, self.rr_type, self.set_identifier, self.zone
        )
    }
}

/// A record as Route 53 holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ActualRecord {
    pub key: RecordKey,
    pub routing: Option<Routing>,
    pub alias: Option<Alias>,
    pub health_check_id: Option<String>,
    pub evaluate_target_health: bool,
    /// The record exactly as read, for a DELETE (which must match it).
    pub raw: Option<aws_sdk_route53::types::ResourceRecordSet>,
}

/// A health check as Route 53 holds it (only those with our CallerReference prefix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActualCheck {
    pub id: String,
    pub caller_reference: String,
    pub version: i64,
    /// `None` when the check's type is one the agent never makes.
    pub config: Option<CheckConfig>,
    /// Its tags, as (key, value).
    pub tags: Vec<(String, String)>,
}

impl ActualCheck {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// What Route 53 holds that the plan looks at.
#[derive(Clone, Debug, Default)]
pub struct Actual {
    pub checks: Vec<ActualCheck>,
    pub records: Vec<ActualRecord>,
    /// Zones whose records could not be read, with AWS's error: the apps there
    /// are held (planned from nothing, they would be recreated or collected).
    pub unreadable: std::collections::BTreeMap<String, String>,
    /// The agent's CloudWatch alarms (named with its prefix) in its Region.
    pub alarms: Vec<ActualAlarm>,
    /// Why the alarms could not be read, if they could not: the apps with
    /// `CLOUDWATCH_METRIC` checks are then held, and no alarm is collected.
    pub alarms_unreadable: Option<String>,
}

impl Owner {
    /// The check `app` should have: its own `healthCheck` settings, and this
    /// listener's protocol, port and verdict matching where it sets none.
    pub fn check_for(&self, app: &DesiredApp) -> CheckConfig {
        let s = &app.settings;
        if let Some(m) = &s.metric {
            return super::alarms::metric_check(self, app, m);
        }
        let protocol = s.protocol.unwrap_or(self.public.protocol);
        let default_search = self.public.match_verdict.then(|| verdict_string(&app.key.name));
        CheckConfig {
            protocol,
            fqdn: self.public_hostname.trim_end_matches('.').to_ascii_lowercase(),
            port: s.port.unwrap_or_else(|| self.public.port_for(protocol)),
            path: format!("/health/{}", app.key.name),
            search_string: s.search_string.clone().or(default_search),
            interval: s.interval,
            failure_threshold: s.failure_threshold,
            alarm: None,
        }
    }

    /// The deterministic CallerReference of `app`'s check. It covers what cannot be
    /// updated in place (type, interval), so a replacement gets a new one, and the
    /// app's incarnation, so a re-created app never reuses a deleted check's.
    pub fn caller_reference(&self, app: &DesiredApp, cfg: &CheckConfig) -> String {
        let mut h = Fnv::default();
        for part in [
            self.cluster_id.as_str(),
            &app.key.namespace,
            &app.key.name,
            &app.incarnation,
            cfg.type_name(),
            &cfg.interval.to_string(),
        ] {
            h.write(part.as_bytes());
            h.write(&[0]);
        }
        format!("{REF_PREFIX}{:016x}", h.0)
    }

    /// The tags that mark `app`'s check as ours and name its record.
    pub fn tags_for(&self, app: &DesiredApp) -> Vec<(String, String)> {
        let s = &app.settings;
        vec![
            (TAG_CLUSTER.into(), self.cluster_id.clone()),
            (TAG_APP.into(), app_tag(&app.key)),
            (TAG_ZONE.into(), s.zone_id.clone()),
            (TAG_RECORD.into(), s.record_name.clone()),
            (TAG_SET.into(), s.set_identifier.clone()),
            (TAG_INCARNATION.into(), app.incarnation.clone()),
            (
                "Name".into(),
                format!("failover-agent {} {}", self.cluster_id, app.key.name),
            ),
        ]
    }

    /// True if the check carries this cluster's ownership tag.
    pub fn owns(&self, c: &ActualCheck) -> bool {
        c.tag(TAG_CLUSTER) == Some(self.cluster_id.as_str())
    }
}

/// `namespace/app`, the value of the app tag.
pub fn app_tag(key: &AppKey) -> String {
    format!("{}/{}", key.namespace, key.name)
}

/// Parses an app tag back into a key.
pub fn parse_app_tag(v: &str) -> Option<AppKey> {
    let (ns, name) = v.split_once('/')?;
    Some(AppKey {
        namespace: ns.to_owned(),
        name: name.to_owned(),
    })
}

/// 64-bit FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// FNV-1a of `parts`, each followed by a zero byte.
pub(super) fn fnv(parts: &[&str]) -> u64 {
    let mut h = Fnv::default();
    for p in parts {
        h.write(p.as_bytes());
        h.write(&[0]);
    }
    h.0
}
