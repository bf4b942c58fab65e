//! An app's verdict policy as validated: how many endpoints must be healthy.

use serde::Serialize;

/// How many endpoints must be healthy for the app to be healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MinHealthy {
    /// At least this many endpoints.
    Count(u32),
    /// At least this percentage of endpoints, rounded up, and at least one.
    Percent(u8),
}

impl MinHealthy {
    /// The number of healthy endpoints needed out of `total`.
    pub fn required(self, total: usize) -> usize {
        match self {
            MinHealthy::Count(n) => n as usize,
            MinHealthy::Percent(p) => (total * p as usize).div_ceil(100).max(1),
        }
    }
}

/// An app's policy, validated. See `config` for the YAML keys and defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub min_healthy: MinHealthy,
    pub fall_count: u32,
    pub rise_count: u32,
    /// Healthy ALB targets needed, over the app's target groups. Used only for apps
    /// with target groups. Default one.
    pub min_healthy_targets: MinHealthy,
}
