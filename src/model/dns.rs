//! Where an app is served: every Region's record of its set as Route 53 judges it,
//! and what DNS answers now. Written by the leader (into `AppHealth.status.dns`
//! in-cluster), served in `/apps/<app>`, on the status page and as
//! `failover_agent_dns_share`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A record's health as Route 53 counts it when it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum RecordHealth {
    /// The record has no health check: always counted healthy.
    NoCheck,
    Healthy,
    Unhealthy,
    /// It has a check whose status is not known yet (counted healthy, as Route 53
    /// counts a new check).
    Unknown,
}

impl RecordHealth {
    /// Whether Route 53 counts the record healthy when it answers.
    pub fn counts_healthy(self) -> bool {
        self != RecordHealth::Unhealthy
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordHealth::NoCheck => "no check",
            RecordHealth::Healthy => "healthy",
            RecordHealth::Unhealthy => "unhealthy",
            RecordHealth::Unknown => "unknown",
        }
    }
}

/// One record of the app's set: one Region's view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegionView {
    /// The record's set identifier (the agents use their Region, or the cluster).
    pub set_identifier: String,
    /// Its routing policy, in words: `failover PRIMARY`, `weight 10`, `latency eu-west-1`.
    pub policy: String,
    /// Route 53's view of the record's health check.
    pub route53: RecordHealth,
    /// The record's health check, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_id: Option<String>,
    /// Where the record points (an alias target's DNS name, or its values).
    #[serde(default)]
    pub target: String,
    /// True for the record this agent's cluster owns.
    #[serde(default)]
    pub here: bool,
}

/// Where an app's DNS answers go now, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsView {
    /// In words, e.g. `-> eu-central-1 (primary eu-west-1 unhealthy, secondary
    /// eu-central-1 healthy)`.
    pub answer: String,
    /// The share of answers (0 to 1) per set identifier; 0 for records that get none.
    pub shares: BTreeMap<String, f64>,
    /// When the shares last changed, as far as this leader saw (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Every record of the set, this Region's and the others'.
    pub regions: Vec<RegionView>,
}

impl DnsView {
    /// The set identifier that gets every answer, if one does.
    pub fn all_to(&self) -> Option<&str> {
        self.shares.iter().find(|(_, s)| **s >= 1.0).map(|(id, _)| id.as_str())
    }
}
