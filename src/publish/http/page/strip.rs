//! The strip of the last hour drawn for each app: its verdict (top lane) and where
//! DNS answered (bottom lane, one colour per set identifier, stacked by share when
//! answers are split), as inline SVG made here (no script, no external asset).
//! Grey is unknown: before the agent started, or before the oldest change kept.
//! The left edge is now minus [`HISTORY_WINDOW`], the right edge now; one unit of
//! the view box is one second.

use super::{esc, Palette};
use crate::model::Health;
use crate::verdict::store::{History, Shares, HISTORY_WINDOW};
use std::fmt::Write;
use std::time::SystemTime;

/// A stretch of a lane, in seconds after the strip's left edge; `what` is `None`
/// where nothing is known.
#[derive(Clone, Debug, PartialEq)]
pub struct Seg<T> {
    pub x0: f64,
    pub x1: f64,
    pub what: Option<T>,
}

/// The strip's width in view box units (seconds).
const W: f64 = HISTORY_WINDOW.as_secs() as f64;
/// Drawn size in pixels.
const PX_W: u32 = 360;
const PX_H: u32 = 30;
/// The narrowest stretch drawn: one pixel, so a short blip still shows.
const MIN_W: f64 = W / PX_W as f64;
/// Lanes: (top, height).
const VERDICT_LANE: (u32, u32) = (0, 13);
const DNS_LANE: (u32, u32) = (16, 13);

/// The lane drawn from `steps` (each holds from its time until the next one's,
/// the last until `now`), cut to the last hour: unknown before the first step,
/// adjacent equal stretches merged, empty ones dropped. Steps must be in time order;
/// a step after `now` is not drawn.
pub fn timeline<T: Clone + PartialEq>(steps: &[(SystemTime, T)], now: SystemTime) -> Vec<Seg<T>> {
    let left = now.checked_sub(HISTORY_WINDOW).unwrap_or(SystemTime::UNIX_EPOCH);
    let offset = |t: SystemTime| t.duration_since(left).map_or(0.0, |d| d.as_secs_f64().min(W));
    let mut segs: Vec<Seg<T>> = Vec::new();
    let (mut cursor, mut current): (f64, Option<&T>) = (0.0, None);
    let mut push = |x0: f64, x1: f64, what: Option<&T>| {
        if x1 <= x0 {
            return;
        }
        match segs.last_mut() {
            Some(last) if last.what.as_ref() == what => last.x1 = x1,
            _ => segs.push(Seg {
                x0,
                x1,
                what: what.cloned(),
            }),
        }
    };
    for (at, v) in steps {
        let x = offset(*at).max(cursor);
        push(cursor, x, current);
        (cursor, current) = (x, Some(v));
    }
    push(cursor, W, current);
    segs
}

/// The verdict lane of `h`: unknown before `verdict_from`, then the verdict before
/// the oldest kept transition (its opposite), then each transition.
pub fn verdict_lane(h: &History, now: SystemTime) -> Vec<Seg<Health>> {
    let Some(from) = h.verdict_from else {
        return timeline::<Health>(&[], now);
    };
    let first = match h.transitions.first() {
        Some((_, Health::Healthy)) => Health::Unhealthy,
        Some((_, Health::Unhealthy)) => Health::Healthy,
        None => h.verdict,
    };
    let mut steps = Vec::with_capacity(h.transitions.len() + 1);
    steps.push((from, first));
    steps.extend(h.transitions.iter().filter(|(at, _)| *at >= from).copied());
    timeline(&steps, now)
}

/// The DNS lane of `h`: unknown before the first change kept and while no view was known.
pub fn dns_lane(h: &History, now: SystemTime) -> Vec<Seg<Shares>> {
    let steps: Vec<(SystemTime, Shares)> = h.dns.iter().map(|c| (c.at, c.shares.clone())).collect();
    let mut segs = timeline(&steps, now);
    for s in &mut segs {
        if s.what.as_ref().is_some_and(|sh| sh.is_empty()) {
            s.what = None;
        }
    }
    segs
}

/// The `HH:MM:SS` (UTC, as the legend says) of the strip's `x`.
fn clock(now: SystemTime, x: f64) -> String {
    let t = now
        .checked_sub(std::time::Duration::from_secs_f64((W - x).max(0.0)))
        .unwrap_or(now);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.get(11..19).unwrap_or(&s).to_owned()
}

fn rect(h: &mut String, x0: f64, x1: f64, (y, height): (u32, u32), class: &str, title: &str, now: SystemTime) {
    let _ = write!(
        h,
        "<rect x={x:.0} y={y} width={w:.0} height={height} class={class}><title>{title} {a}–{b}</title></rect>",
        x = x0,
        w = (x1 - x0).max(MIN_W),
        a = clock(now, x0),
        b = clock(now, x1),
    );
}

/// The SVG strip of the last hour for the app named `name`, from its history `h`.
pub fn svg(h: &mut String, name: &str, hist: &History, palette: &Palette, now: SystemTime) {
    let _ = write!(
        h,
        "<svg class=strip width={PX_W} height={PX_H} viewBox='0 0 {W} {PX_H}' preserveAspectRatio=none \
         role=img aria-label='{n}: last hour'>",
        n = esc(name),
    );
    for s in verdict_lane(hist, now) {
        let (class, title) = match s.what {
            Some(Health::Healthy) => ("sh", "healthy"),
            Some(Health::Unhealthy) => ("su", "unhealthy"),
            None => ("sn", "verdict unknown"),
        };
        rect(h, s.x0, s.x1, VERDICT_LANE, class, title, now);
    }
    for s in dns_lane(hist, now) {
        let Some(shares) = &s.what else {
            rect(h, s.x0, s.x1, DNS_LANE, "sn", "DNS answer unknown", now);
            continue;
        };
        let title = shares_text(shares);
        let (top, height) = DNS_LANE;
        let mut y = top as f32;
        for (id, share) in shares.iter().filter(|(_, s)| *s > 0.0) {
            let lane_h = (share * height as f32).round().max(1.0) as u32;
            let class = format!("d{}", palette.index(id));
            rect(h, s.x0, s.x1, (y as u32, lane_h), &class, &title, now);
            y += share * height as f32;
        }
    }
    // Quarter-hour ticks.
    h.push_str("<path d='M900 0V30M1800 0V30M2700 0V30' class=tk></path></svg>");
}

/// `eu-west-1 100%` or `eu-west-1 50%, eu-central-1 50%` (records with a share only).
pub fn shares_text(shares: &[(std::sync::Arc<str>, f32)]) -> String {
    let parts: Vec<String> = shares
        .iter()
        .filter(|(_, s)| *s > 0.0)
        .map(|(id, s)| format!("{} {:.0}%", esc(id), s * 100.0))
        .collect();
    if parts.is_empty() {
        "no answer".into()
    } else {
        parts.join(", ")
    }
}
