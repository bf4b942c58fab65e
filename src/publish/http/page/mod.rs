//! The status page for people, re-rendered on each request and refreshed by the
//! browser every 2 s: one row per app with its verdict, every Region's record as
//! Route 53 sees it, the DNS answer and a strip of the last hour, then each app's
//! endpoints and transitions. Plain HTML and inline SVG made here: no script and no
//! external asset, within the admin listener's CSP (`default-src 'none';
//! style-src 'unsafe-inline'`). Everything that comes from outside is escaped.

mod detail;
mod row;
mod strip;

use super::Context;
use crate::model::Health;
use crate::verdict::store::AppView;
use row::Palette;
use std::fmt::Write;
use std::time::SystemTime;
use tokio::time::Instant;

/// `s` with `& < > " '` escaped, for text and quoted attributes.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.3em 0 1.2em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
.ok{background:#1a7f37;color:#fff}.bad{background:#cf222e;color:#fff}.v{font-weight:bold;padding:.1em .5em;border-radius:3px}\
.up{color:#1a7f37}.down{color:#cf222e}.unknown{color:#9a6700}small{color:#666}h2{margin-bottom:.2em}\
.main td{vertical-align:middle}.main th{white-space:nowrap}.none{color:#999;text-align:center}\
.r-ok{background:#dafbe1}.r-bad{background:#ffebe9;color:#a40e26;font-weight:bold}.r-unk{background:#fff8c5}.r-nc{background:#f6f8fa}\
td.here{box-shadow:inset 0 0 0 2px #0969da}.me{font-size:11px;color:#0969da;font-weight:bold}\
.dns{max-width:28em}.strip{display:block}.sw{display:inline-block;width:.9em;height:.9em;vertical-align:middle;border-radius:2px}\
.sh{fill:#1a7f37;background:#1a7f37}.su{fill:#cf222e;background:#cf222e}.sn{fill:#d0d7de;background:#d0d7de}.tk{stroke:#fff;stroke-width:1px;vector-effect:non-scaling-stroke;opacity:.7}\
.d0{fill:#0969da;background:#0969da}.d1{fill:#bc4c00;background:#bc4c00}.d2{fill:#8250df;background:#8250df}\
.d3{fill:#1b7c83;background:#1b7c83}.d4{fill:#bf3989;background:#bf3989}.d5{fill:#7d4e00;background:#7d4e00}\
.d6{fill:#0550ae;background:#0550ae}.d7{fill:#6e7781;background:#6e7781}.legend span.sw{margin-left:.6em}";

/// Renders the whole page for `ctx`'s apps at `now`.
pub fn render(ctx: &Context, now: Instant) -> String {
    let stale = ctx.apps.is_stale();
    let views: Vec<AppView> = ctx.apps.list().iter().map(|a| a.view(now).stale(stale)).collect();
    render_views(&views, &ctx.region, ctx.ready.is_ready(), SystemTime::now())
}

/// The page for `views` (in display order) served by the agent of `region`, with
/// the strips' right edge at `now`.
pub fn render_views(views: &[AppView], region: &str, ready: bool, now: SystemTime) -> String {
    let healthy = views.iter().filter(|v| v.verdict == Health::Healthy).count();
    let mut h = String::with_capacity(4096 + views.len() * 4096);
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=2>\
         <title>failover-agent {region}</title><style>{STYLE}</style></head><body>\
         <h1>failover-agent <small>{region}</small></h1><p>{healthy}/{total} apps healthy · ready: {ready} · \
         <a href=/apps>/apps</a> · <a href=/metrics>/metrics</a></p>",
        region = esc(region),
        total = views.len(),
    );
    let columns = row::region_columns(views);
    let palette = Palette::of(views);
    legend(&mut h, &palette);
    row::head(&mut h, &columns);
    if views.is_empty() {
        let _ = write!(h, "<tr><td colspan={}>no apps</td></tr>", columns.len() + 4);
    }
    for v in views {
        row::row(&mut h, v, &columns, &palette, now);
    }
    h.push_str("</table>");
    for v in views {
        detail::section(&mut h, v);
    }
    h.push_str("</body></html>");
    h
}

/// What the Region columns and the strips' colours mean.
fn legend(h: &mut String, palette: &Palette) {
    h.push_str(
        "<p class=legend><b>Regions:</b> Route 53's view of each record of the app's set \
         (healthy, unhealthy, unknown, no check) and its policy; <span class=me>this agent</span> \
         marks this agent's own record.<br><b>Last hour</b> (now at the right, ticks every 15 min, \
         times UTC): verdict <span class='sw sh'></span> healthy <span class='sw su'></span> unhealthy \
         <span class='sw sn'></span> unknown · DNS answered",
    );
    for (id, i) in palette.entries() {
        let _ = write!(h, " <span class='sw d{i}'></span> {}", esc(id));
    }
    h.push_str(" <span class='sw sn'></span> unknown.</p>");
}

fn badge(health: Health) -> &'static str {
    match health {
        Health::Healthy => "<span class='v ok'>HEALTHY</span>",
        Health::Unhealthy => "<span class='v bad'>UNHEALTHY</span>",
    }
}

#[cfg(test)]
mod scale_tests;
#[cfg(test)]
mod tests;
