//! What a plan changes in the monthly bill: each check created or deleted, by its
//! billed options, from a price table in the code.
//!
//! Prices: Route 53's list prices for health checks, per check per month, as read
//! on 2026-12-03 from <https://aws.amazon.com/route53/pricing/> ("Health checks"),
//! the figures the README's "What the checks cost" also uses: a basic check on an
//! AWS endpoint USD 0.50, each optional feature (HTTPS, string matching, the fast
//! 10 s interval, latency measurement) USD 1.00; outside AWS 0.75 and 2.00. The
//! first 50 checks of an account on AWS endpoints are free; a plan's cost is the
//! marginal one, so the free tier is left out.
//!
//! **Which column.** The checks call the agent's `publicHostname`, which resolves
//! to an AWS load balancer (the chart's NLB, or the shared ALB): AWS bills a check
//! as an AWS endpoint when its endpoint is an AWS resource such as an ELB load
//! balancer or an EC2 instance, so every check the agent makes is priced from
//! [`AWS_ENDPOINT`]. [`NON_AWS_ENDPOINT`] is kept for a listener outside AWS.
//!
//! A `CLOUDWATCH_METRIC` check is a basic check on an alarm: [`billed`] gives it
//! `alarm: true`, which adds [`CLOUDWATCH_ALARM`] and [`CUSTOM_METRIC`] (CloudWatch's
//! list prices, read the same day from <https://aws.amazon.com/cloudwatch/pricing/>).

use super::objects::{Actual, CheckConfig};
use super::plan::{Plan, Step};
use crate::spec::route53::Protocol;
use std::collections::BTreeMap;
use std::fmt;

/// US cents a month.
pub type Cents = i64;

/// Where the price table was read, and when.
pub const SOURCE: &str = "list prices of 2026-12-03, https://aws.amazon.com/route53/pricing/";

/// One column of the price table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prices {
    /// A check with no optional feature.
    pub basic: Cents,
    /// Each optional feature it has.
    pub feature: Cents,
}

/// Checks of endpoints in AWS (the agent's: see the module docs).
pub const AWS_ENDPOINT: Prices = Prices {
    basic: 50,
    feature: 100,
};
/// Checks of endpoints outside AWS.
pub const NON_AWS_ENDPOINT: Prices = Prices {
    basic: 75,
    feature: 200,
};
/// A standard-resolution CloudWatch alarm (USD 0.10 a month), which a
/// `CLOUDWATCH_METRIC` check watches.
pub const CLOUDWATCH_ALARM: Cents = 10;
/// The custom metric the alarm watches (`FailoverAgent/AppHealthy` of one app:
/// USD 0.30 a month in CloudWatch's first tier of 10,000 metrics). Its
/// `PutMetricData` calls, one a minute for up to 1,000 apps, are left out: about
/// USD 0.44 a month for all of them.
pub const CUSTOM_METRIC: Cents = 30;

/// An optional feature Route 53 bills per check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Feature {
    Https,
    StringMatching,
    FastInterval,
    LatencyMeasurement,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::Https => "HTTPS",
            Feature::StringMatching => "string matching",
            Feature::FastInterval => "fast interval",
            Feature::LatencyMeasurement => "latency measurement",
        }
    }
}

/// What a check is billed for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Billed {
    pub features: Vec<Feature>,
    /// It watches a CloudWatch alarm the agent owns (billed with the check).
    pub alarm: bool,
}

impl Billed {
    /// Its price a month, from `prices`.
    pub fn monthly(&self, prices: Prices) -> Cents {
        let alarm = if self.alarm {
            CLOUDWATCH_ALARM + CUSTOM_METRIC
        } else {
            0
        };
        prices.basic + prices.feature * self.features.len() as Cents + alarm
    }
}

impl fmt::Display for Billed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<&str> = self.features.iter().map(|x| x.as_str()).collect();
        if self.alarm {
            parts.push("CloudWatch alarm and metric");
        }
        if parts.is_empty() {
            return write!(f, "basic");
        }
        write!(f, "{}", parts.join(", "))
    }
}

/// What `c` is billed for. The agent never turns on latency measurement.
pub fn billed(c: &CheckConfig) -> Billed {
    if c.alarm.is_some() {
        // A basic check on an alarm: none of the HTTP check's options apply.
        return Billed {
            features: Vec::new(),
            alarm: true,
        };
    }
    let mut features = Vec::new();
    if c.protocol == Protocol::Https {
        features.push(Feature::Https);
    }
    if c.search_string.is_some() {
        features.push(Feature::StringMatching);
    }
    if c.interval == 10 {
        features.push(Feature::FastInterval);
    }
    Billed { features, alarm: false }
}

/// The monthly cost change of a plan, by billed options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CostChange {
    /// Checks created (+1) and deleted (-1), by what they are billed for: the net count.
    pub by_option: BTreeMap<Billed, (i64, i64)>,
    /// Checks updated in place (their type and interval, so their price, stay).
    pub updated: usize,
    /// Deleted checks whose settings were not read (a type the agent does not make).
    pub unpriced: usize,
}

impl CostChange {
    /// The net change a month.
    pub fn total(&self) -> Cents {
        let created: Cents = self
            .by_option
            .iter()
            .map(|(b, (n, _))| n * b.monthly(AWS_ENDPOINT))
            .sum();
        let deleted: Cents = self
            .by_option
            .iter()
            .map(|(b, (_, n))| n * b.monthly(AWS_ENDPOINT))
            .sum();
        created - deleted
    }
}

/// The cost change of `plan`, whose deleted checks are looked up in `actual`.
pub fn of_plan(plan: &Plan, actual: &Actual) -> CostChange {
    let mut c = CostChange::default();
    for s in &plan.steps {
        match s {
            Step::CreateCheck { config, .. } => c.by_option.entry(billed(config)).or_default().0 += 1,
            Step::DeleteCheck { id, .. } => {
                match actual
                    .checks
                    .iter()
                    .find(|a| a.id == *id)
                    .and_then(|a| a.config.as_ref())
                {
                    Some(config) => c.by_option.entry(billed(config)).or_default().1 += 1,
                    None => c.unpriced += 1,
                }
            }
            Step::UpdateCheck { .. } => c.updated += 1,
            _ => {}
        }
    }
    c
}

fn dollars(c: Cents) -> String {
    let sign = if c < 0 { "-" } else { "+" };
    format!("{sign}${}.{:02}", c.abs() / 100, c.abs() % 100)
}

/// The cost lines of `route53 plan`.
impl fmt::Display for CostChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (b, (created, deleted)) in &self.by_option {
            let each = b.monthly(AWS_ENDPOINT);
            for (n, sign) in [(*created, 1), (*deleted, -1)] {
                if n > 0 {
                    let verb = if sign > 0 { "created" } else { "deleted" };
                    let price = format!("${}.{:02}", each / 100, each % 100);
                    let total = dollars(sign * n * each);
                    writeln!(f, "Cost: {n} check(s) {verb} ({b}, {price} each): {total} a month")?;
                }
            }
        }
        if self.updated > 0 {
            writeln!(f, "Cost: {} check(s) updated in place: no change", self.updated)?;
        }
        if self.unpriced > 0 {
            writeln!(
                f,
                "Cost: {} deleted check(s) of an unknown type: not priced",
                self.unpriced
            )?;
        }
        writeln!(
            f,
            "Cost change: {} a month (health checks on AWS endpoints, {SOURCE}; an account's first 50 such checks are free).",
            dollars(self.total())
        )
    }
}

#[cfg(test)]
#[path = "cost_tests.rs"]
mod tests;
