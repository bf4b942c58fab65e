//! The answer for one record name, as text (a summary line and one row per record)
//! or as one JSON object with the same content.

use super::{health_word, CheckView, Zone};
use crate::publish::route53::answer::{Answer, Health, SetRecord};
use crate::publish::route53::metric_status::Spell;
use crate::publish::route53::sets::RecordSet;
use crate::spec::route53::{FailoverRole, Routing};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::SystemTime;

/// How the answer is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// What Route 53 answers for one name, and why (the `--output json` object).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The record name, without the trailing dot.
    pub name: String,
    pub zone: Zone,
    /// `failover`, `weighted` or `latency`.
    pub policy: &'static str,
    /// The set identifiers that get answers now (share above 0), by set identifier.
    pub to: Vec<String>,
    /// Why, by Route 53's rules.
    pub why: String,
    /// The summary as printed: `-> eu-central-1 (primary eu-west-1 unhealthy, ...)`.
    pub summary: String,
    /// One per record of the set, ordered by set identifier.
    pub records: Vec<Row>,
    /// Latency sets only: per Region, the set identifiers its nearest clients get.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub nearest: BTreeMap<String, Vec<String>>,
}

/// One record of the set.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub set_identifier: String,
    /// `failover primary`, `failover secondary`, `weight 10` or `latency eu-west-1`.
    pub routing: String,
    pub health_check_id: Option<String>,
    /// Route 53's view: `healthy`, `unhealthy`, `unknown` (no checker reported yet,
    /// or the check does not exist) or `noCheck` (counted healthy).
    pub health: &'static str,
    /// For a record with a check: its checkers whose latest report succeeded, of those
    /// that reported (healthy when more than 18%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkers_ok: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkers: Option<u32>,
    /// True when the record names a check that Route 53 does not have.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub check_missing: bool,
    /// The share of Route 53's answers this record gets, 0 to 1.
    pub share: f64,
    /// The alias target's DNS name, or the record's values.
    pub target: String,
    /// How long its check has been unhealthy, from Route 53's CloudWatch metric
    /// (to the minute), when that could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy_for_seconds: Option<u64>,
    /// True when the metric's 3 hours of history hold no healthy value: unhealthy
    /// for at least `unhealthyForSeconds`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unhealthy_at_least: bool,
}

impl Report {
    /// The report for `set`, whose `records` (with health) gave `answer`.
    pub fn new(
        zone: Zone,
        set: &RecordSet,
        records: &[SetRecord],
        views: &BTreeMap<String, CheckView>,
        answer: Answer,
    ) -> Report {
        let rows = set
            .members
            .iter()
            .zip(records)
            .map(|(m, r)| {
                let view = m.health_check_id.as_ref().and_then(|id| views.get(id));
                Row {
                    set_identifier: m.set_identifier.clone(),
                    routing: routing(&m.routing),
                    health_check_id: m.health_check_id.clone(),
                    health: match r.health {
                        Health::NoCheck => "noCheck",
                        h => health_word(h),
                    },
                    checkers_ok: view.filter(|v| !v.missing).map(|v| v.checkers_ok),
                    checkers: view.filter(|v| !v.missing).map(|v| v.checkers),
                    check_missing: view.is_some_and(|v| v.missing),
                    share: answer.shares.get(&m.set_identifier).copied().unwrap_or(0.0),
                    target: m.target.clone(),
                    unhealthy_for_seconds: None,
                    unhealthy_at_least: false,
                }
            })
            .collect();
        let policy = match records.first().map(|r| &r.routing) {
            Some(Routing::Weighted(_)) => "weighted",
            Some(Routing::Latency(_)) => "latency",
            _ => "failover",
        };
        Report {
            name: set.name.trim_end_matches('.').to_owned(),
            zone,
            policy,
            to: answer
                .shares
                .iter()
                .filter(|(_, s)| **s > 0.0)
                .map(|(id, _)| id.clone())
                .collect(),
            why: answer.why.clone(),
            summary: answer.to_string(),
            records: rows,
            nearest: answer.by_region,
        }
    }

    /// The checks of the rows Route 53 counts unhealthy.
    pub fn unhealthy_checks(&self) -> std::collections::BTreeSet<String> {
        let bad = self.records.iter().filter(|r| r.health == "unhealthy");
        bad.filter_map(|r| r.health_check_id.clone()).collect()
    }

    /// Adds how long each unhealthy record's check has been unhealthy (`spells`, by
    /// check ID), at `now`, to its row and to the summary's reason.
    pub fn with_spells(mut self, spells: &BTreeMap<String, Spell>, now: SystemTime) -> Report {
        for r in &mut self.records {
            let Some(s) = r.health_check_id.as_ref().and_then(|id| spells.get(id)) else {
                continue;
            };
            let secs = now.duration_since(s.since).map(|d| d.as_secs()).unwrap_or(0);
            r.unhealthy_for_seconds = Some(secs);
            r.unhealthy_at_least = s.at_least;
            let was = format!("{} unhealthy", r.set_identifier);
            let now = format!("{was} {}", spell_words(secs, s.at_least));
            self.why = self.why.replacen(&was, &now, 1);
            self.summary = self.summary.replacen(&was, &now, 1);
        }
        self
    }

    /// Writes the report to `out` as `format`.
    pub fn write(&self, format: Output, out: &mut impl Write) -> Result<(), super::Error> {
        match format {
            Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(self)?)?,
            Output::Text => write!(out, "{}", self.text())?,
        }
        Ok(())
    }

    /// The text output: the summary line, a table of the records, the nearest
    /// clients' answers (latency sets) and the zone.
    pub fn text(&self) -> String {
        let mut s = format!("{}  {}  {}\n", self.name, self.policy, self.summary);
        let mut rows = vec![[
            "SET IDENTIFIER".to_owned(),
            "ROUTING".into(),
            "HEALTH CHECK".into(),
            "ROUTE 53".into(),
            "SHARE".into(),
            "TARGET".into(),
        ]];
        for r in &self.records {
            rows.push([
                r.set_identifier.clone(),
                r.routing.clone(),
                r.health_check_id.clone().unwrap_or_else(|| "-".into()),
                view(r),
                format!("{:.0}%", r.share * 100.0),
                r.target.clone(),
            ]);
        }
        let width = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(0);
        let w: Vec<usize> = (0..6).map(width).collect();
        for r in &rows {
            let line = format!(
                "  {:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {:>w4$}  {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2],
                w3 = w[3],
                w4 = w[4]
            );
            s += line.trim_end();
            s += "\n";
        }
        for (region, to) in &self.nearest {
            s += &format!("  clients nearest {region} get {}\n", to.join(", "));
        }
        let kind = if self.zone.private { "private" } else { "public" };
        s += &format!("  zone {} {} ({kind})\n", self.zone.id, self.zone.name);
        s
    }
}

/// Route 53's view of a row's record, as the text output shows it.
fn view(r: &Row) -> String {
    let mut v = match (r.health, r.checkers_ok, r.checkers) {
        ("noCheck", _, _) => "no check".into(),
        (_, _, _) if r.check_missing => "unknown (no such check)".into(),
        (h, Some(ok), Some(n)) if n > 0 => format!("{h} {ok}/{n}"),
        (h, _, _) => h.to_string(),
    };
    if let Some(secs) = r.unhealthy_for_seconds {
        v = format!("{v} {}", spell_words(secs, r.unhealthy_at_least));
    }
    v
}

/// `for 3m12s`, `for 1h05m`, or `for at least 41s`.
pub fn spell_words(secs: u64, at_least: bool) -> String {
    let d = match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    };
    if at_least {
        format!("for at least {d}")
    } else {
        format!("for {d}")
    }
}

fn routing(r: &Routing) -> String {
    match r {
        Routing::Failover(FailoverRole::Primary) => "failover primary".into(),
        Routing::Failover(FailoverRole::Secondary) => "failover secondary".into(),
        Routing::Weighted(w) => format!("weight {w}"),
        Routing::Latency(region) => format!("latency {region}"),
    }
}
