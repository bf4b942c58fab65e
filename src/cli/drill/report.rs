//! The drill's report: the figures a game-day record needs, as text or as one
//! JSON object with the same content. Times are seconds, to the poll's
//! resolution (0.5 s), from the moment the override was set (the way away) or put
//! back (the way back).

use super::phase::{Figures, Start};
use super::target::Prior;
use serde::Serialize;
use std::io::Write;
use std::time::{Duration, SystemTime};

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
    /// A report of a drill about to start: no figures yet, FAIL.
    pub fn new(app: &str, start: &Start, prior: &Prior, started: SystemTime, back_wait: Duration) -> Report {
        Report {
            app: app.to_owned(),
            region: String::new(),
            set_identifier: start.here.clone(),
            started: humantime::format_rfc3339_millis(started).to_string(),
            fail_seconds: 0.0,
            answer_before: start.answer.clone(),
            answer_away: None,
            verdict_unhealthy_seconds: None,
            route53_unhealthy_seconds: None,
            dns_left_seconds: None,
            verdict_healthy_seconds: None,
            route53_healthy_seconds: None,
            dns_back_seconds: None,
            back_wait_seconds: secs(back_wait),
            interrupted: false,
            override_before: prior.to_string(),
            override_restored: false,
            result: "FAIL",
            why: String::new(),
        }
    }

    /// Fills in PASS (traffic moved, came back, and the override was put back) or
    /// FAIL, and why. `duration` is `--for`.
    pub fn judge(mut self, f: &Figures, duration: Duration) -> Report {
        let back_wait = Duration::from_secs_f64(self.back_wait_seconds);
        let r = &mut self;
        let fmt = |d: Duration| humantime::format_duration(d).to_string();
        let here = r.set_identifier.clone();
        r.why = if !r.override_restored {
            "the override could not be put back (see above)".to_owned()
        } else if !f.moved() {
            let during = if r.interrupted {
                "before the drill was interrupted".to_owned()
            } else {
                format!("in {}", fmt(duration))
            };
            format!("DNS answers never left {here} {during}")
        } else if f.dns_back.is_none() {
            let within = if r.interrupted {
                "before the drill was interrupted".to_owned()
            } else {
                format!("within {}", fmt(back_wait))
            };
            format!("DNS answers left {here} but did not come back {within}")
        } else {
            r.result = "PASS";
            format!("DNS answers left {here} and came back; the override is as it was")
        };
        self
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(restored: bool) -> Report {
        let start = Start {
            here: "eu-west-1".into(),
            share: 1.0,
            answer: "-> eu-west-1".into(),
        };
        let prior = Prior::Config("none".into());
        let mut r = Report::new("app1", &start, &prior, SystemTime::UNIX_EPOCH, Duration::from_secs(300));
        r.override_restored = restored;
        r
    }

    #[test]
    fn passes_only_when_traffic_moved_came_back_and_the_override_is_back() {
        let s = Duration::from_secs;
        let mut moved_back = Figures::default();
        moved_back.verdict_unhealthy = Some(s(0));
        moved_back.route53_unhealthy = Some(s(2));
        moved_back.dns_left = Some(s(2));
        moved_back.verdict_healthy = Some(s(0));
        moved_back.route53_healthy = Some(s(1));
        moved_back.dns_back = Some(s(1));
        let r = report(true).with_figures(&moved_back).judge(&moved_back, s(15));
        assert_eq!(r.result, "PASS");
        assert_eq!(r.dns_left_seconds, Some(2.0));
        assert_eq!(report(false).judge(&moved_back, s(15)).result, "FAIL");
        let mut never = Figures::default();
        never.verdict_unhealthy = Some(s(0));
        let r = report(true).with_figures(&never).judge(&never, s(15));
        assert_eq!(
            (r.result, r.why.as_str()),
            ("FAIL", "DNS answers never left eu-west-1 in 15s")
        );
        let mut text = Vec::new();
        r.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("  DNS answer left      not seen\n"), "{text}");
        assert!(
            text.ends_with("FAIL: DNS answers never left eu-west-1 in 15s\n"),
            "{text}"
        );
    }
}
