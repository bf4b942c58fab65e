//! The drill's report: the figures a game-day record needs, as text or as one
//! JSON object with the same content. Times are seconds, to the poll's
//! resolution (0.5 s), from the moment the override was set (the way away) or put
//! back (the way back).

use super::phase::Figures;
use serde::Serialize;
use std::io::Write;
use std::time::Duration;

/// The `--output json` object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub app: String,
    /// The agent's Region (in-cluster: this Region's set identifier).
    pub region: String,
    /// This Region's record of the app's set.
    pub set_identifier: String,
    /// When the override was set to `fail` (RFC 3339).
    pub started: String,
    /// How long the override stayed `fail` (shorter if interrupted).
    pub fail_seconds: f64,
    /// The DNS answer before the drill, in words.
    pub answer_before: String,
    /// The DNS answer when it left this Region, in words.
    pub answer_away: Option<String>,
    pub verdict_unhealthy_seconds: Option<f64>,
    pub route53_unhealthy_seconds: Option<f64>,
    pub dns_left_seconds: Option<f64>,
    pub verdict_healthy_seconds: Option<f64>,
    pub route53_healthy_seconds: Option<f64>,
    pub dns_back_seconds: Option<f64>,
    /// The longest the drill waited for the way back.
    pub back_wait_seconds: f64,
    /// True when Ctrl-C cut the drill short.
    pub interrupted: bool,
    /// The override before the drill, in words.
    pub override_before: String,
    /// True once the override was put back as it was.
    pub override_restored: bool,
    /// `PASS` when traffic moved, came back, and the override was put back.
    pub result: &'static str,
    /// Why, in words.
    pub why: String,
}

/// Seconds to the millisecond.
pub fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// The six figures with their labels, the way away then the way back.
pub fn labelled(f: &Figures) -> [(&'static str, Option<Duration>); 6] {
    [
        ("verdict unhealthy", f.verdict_unhealthy),
        ("Route 53 unhealthy", f.route53_unhealthy),
        ("DNS answer left", f.dns_left),
        ("verdict healthy", f.verdict_healthy),
        ("Route 53 healthy", f.route53_healthy),
        ("DNS answer back", f.dns_back),
    ]
}

impl Report {
    /// Fills the six figures from `f`.
    pub fn with_figures(mut self, f: &Figures) -> Report {
        let s = |d: Option<Duration>| d.map(secs);
        self.verdict_unhealthy_seconds = s(f.verdict_unhealthy);
        self.route53_unhealthy_seconds = s(f.route53_unhealthy);
        self.dns_left_seconds = s(f.dns_left);
        self.verdict_healthy_seconds = s(f.verdict_healthy);
        self.route53_healthy_seconds = s(f.route53_healthy);
        self.dns_back_seconds = s(f.dns_back);
        self
    }

    fn figures(&self) -> [(&'static str, Option<f64>); 6] {
        [
            ("verdict unhealthy", self.verdict_unhealthy_seconds),
            ("Route 53 unhealthy", self.route53_unhealthy_seconds),
            ("DNS answer left", self.dns_left_seconds),
            ("verdict healthy", self.verdict_healthy_seconds),
            ("Route 53 healthy", self.route53_healthy_seconds),
            ("DNS answer back", self.dns_back_seconds),
        ]
    }

    /// The text report: a header, the six figures, and a PASS/FAIL line.
    pub fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "drill {} in {} (record {}), started {}",
            self.app, self.region, self.set_identifier, self.started
        )?;
        writeln!(out, "before: {}", self.answer_before)?;
        let figures = self.figures();
        writeln!(out, "override fail for {:.1}s; from then:", self.fail_seconds)?;
        for (label, at) in &figures[..3] {
            writeln!(out, "  {label:<20} {}", shown(*at))?;
        }
        if let Some(a) = &self.answer_away {
            writeln!(out, "  answer then: {a}")?;
        }
        writeln!(
            out,
            "override back to {}; from then (waited up to {}):",
            self.override_before,
            humantime::format_duration(Duration::from_secs_f64(self.back_wait_seconds))
        )?;
        for (label, at) in &figures[3..] {
            writeln!(out, "  {label:<20} {}", shown(*at))?;
        }
        writeln!(out, "{}: {}", self.result, self.why)
    }

    /// The report as `output` asks.
    pub fn write(&self, json: bool, out: &mut impl Write) -> Result<(), super::Error> {
        if json {
            serde_json::to_writer_pretty(&mut *out, self)?;
            writeln!(out)?;
        } else {
            self.write_text(out)?;
        }
        Ok(())
    }
}

fn shown(at: Option<f64>) -> String {
    at.map_or_else(|| "not seen".to_owned(), |s| format!("{s:.1}s"))
}
