//! The page's main table: one row per app with its verdict, one column per Region
//! (every set identifier of every app's record set, as Route 53 sees each record),
//! the DNS answer, and the strip of the last hour.

use super::{badge, esc, strip};
use crate::model::{DnsView, RecordHealth, RegionView};
use crate::verdict::store::AppView;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::time::{Duration, SystemTime};

/// How many DNS colours the style sheet has (`.d0` to `.d7`); more set identifiers
/// reuse them in turn.
pub const COLOURS: usize = 8;

/// A colour per set identifier: the same in every row, the legend and every strip.
#[derive(Debug, Default)]
pub struct Palette(BTreeMap<String, usize>);

impl Palette {
    /// Colours for every set identifier in `views`' DNS views and DNS histories, in order.
    pub fn of(views: &[AppView]) -> Palette {
        let mut ids: BTreeSet<&str> = region_columns(views).into_iter().collect();
        for v in views {
            for c in &v.history.dns {
                ids.extend(c.shares.iter().map(|(id, _)| &**id));
            }
        }
        Palette(
            ids.into_iter()
                .enumerate()
                .map(|(i, id)| (id.to_owned(), i % COLOURS))
                .collect(),
        )
    }

    /// The colour index of `id` (0 for one not seen).
    pub fn index(&self, id: &str) -> usize {
        self.0.get(id).copied().unwrap_or(0)
    }

    /// Every set identifier with its colour index, in order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, usize)> {
        self.0.iter().map(|(id, i)| (id.as_str(), *i))
    }
}

/// The Region columns: the union of set identifiers over every app's records, sorted.
pub fn region_columns(views: &[AppView]) -> Vec<&str> {
    let ids: BTreeSet<&str> = views
        .iter()
        .filter_map(|v| v.dns.as_ref())
        .flat_map(|d| d.regions.iter().map(|r| r.set_identifier.as_str()))
        .collect();
    ids.into_iter().collect()
}

/// `3m12s`, `2h05m`, `3d4h`: how long, to the unit that matters.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

/// `for 3m12s` since the RFC 3339 time `since`; empty if it does not read.
fn for_since(since: Option<&str>, now: SystemTime) -> String {
    since
        .and_then(|s| humantime::parse_rfc3339_weak(s).ok())
        .map(|t| format!("for {}", human(now.duration_since(t).unwrap_or_default())))
        .unwrap_or_default()
}

/// The table's head.
pub fn head(h: &mut String, columns: &[&str]) {
    h.push_str("<table class=main><tr><th>app</th><th>verdict</th>");
    for c in columns {
        let _ = write!(h, "<th class=region>{}</th>", esc(c));
    }
    h.push_str("<th>DNS answer</th><th>last hour <small>(verdict / DNS)</small></th></tr>");
}

/// One app's row.
pub fn row(h: &mut String, v: &AppView, columns: &[&str], palette: &Palette, now: SystemTime) {
    let n = esc(&v.name);
    let _ = write!(
        h,
        "<tr class=app id=\"row-{n}\"><td><a href=\"#{n}\">{n}</a><br><small>{ns}</small></td>\
         <td class=verdict>{badge} <small>{for_}</small><br>{reason}{ovr}{stale}</td>",
        ns = esc(&v.namespace),
        badge = badge(v.verdict),
        for_ = for_since(Some(&v.last_transition_time), now),
        reason = esc(&v.reason),
        ovr = match v.override_.mode.as_str() {
            "none" => String::new(),
            m => format!("<br><b>override {m}</b> <small>({})</small>", v.override_.source),
        },
        stale = if v.stale { "<br><i>stale</i>" } else { "" },
    );
    for c in columns {
        match v
            .dns
            .as_ref()
            .and_then(|d| d.regions.iter().find(|r| r.set_identifier == *c))
        {
            Some(r) => region_cell(h, r),
            None => h.push_str("<td class=none>-</td>"),
        }
    }
    match &v.dns {
        Some(d) => dns_cell(h, d, palette, now),
        None => h.push_str("<td class=none>-</td>"),
    }
    h.push_str("<td>");
    strip::svg(h, &v.name, &v.history, palette, now);
    h.push_str("</td></tr>");
}

/// Route 53's view of one Region's record, its policy, and whether it is this agent's.
fn region_cell(h: &mut String, r: &RegionView) {
    let class = match r.route53 {
        RecordHealth::Healthy => "r-ok",
        RecordHealth::Unhealthy => "r-bad",
        RecordHealth::Unknown => "r-unk",
        RecordHealth::NoCheck => "r-nc",
    };
    let _ = write!(
        h,
        "<td class='region {class}{here_c}'>{state}<br><small>{policy}</small>{here}</td>",
        here_c = if r.here { " here" } else { "" },
        state = r.route53.as_str(),
        policy = esc(&r.policy),
        here = if r.here {
            "<br><span class=me>this agent</span>"
        } else {
            ""
        },
    );
}

/// Where answers go, the shares when split, and for how long.
fn dns_cell(h: &mut String, d: &DnsView, palette: &Palette, now: SystemTime) {
    h.push_str("<td class=dns>");
    if let Some(to) = d.all_to() {
        let _ = write!(h, "<span class='sw d{}'></span> ", palette.index(to));
    }
    let _ = write!(h, "{}", esc(&d.answer));
    if d.all_to().is_none() {
        h.push_str("<br>");
        for (id, s) in d.shares.iter().filter(|(_, s)| **s > 0.0) {
            let _ = write!(
                h,
                "<span class='sw d{}'></span> {} {:.0}% ",
                palette.index(id),
                esc(id),
                s * 100.0
            );
        }
    }
    let _ = write!(h, "<br><small>{}</small></td>", for_since(d.since.as_deref(), now));
}
