//! The status page for people: every app, its verdict, reason, signals and recent
//! transitions, re-rendered on each request and refreshed by the browser every 2 s.

use super::Context;
use crate::model::Health;
use crate::verdict::store::AppView;
use std::fmt::Write;
use tokio::time::Instant;

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
.up{color:#1a7f37}.down{color:#cf222e}.unknown{color:#9a6700}small{color:#666}h2{margin-bottom:.2em}";

/// Renders the whole page.
pub fn render(ctx: &Context, now: Instant) -> String {
    let views: Vec<AppView> = ctx.apps.list().iter().map(|a| a.view(now)).collect();
    let healthy = views.iter().filter(|v| v.verdict == Health::Healthy).count();
    let mut h = String::with_capacity(4096 + views.len() * 2048);
    let _ = write!(
        h,
        "<!doctype html><html><head><meta charset=utf-8><meta http-equiv=refresh content=2>\
         <title>failover-agent {region}</title><style>{STYLE}</style></head><body>\
         <h1>failover-agent <small>{region}</small></h1><p>{healthy}/{total} apps healthy · ready: {ready} · \
         <a href=/apps>/apps</a> · <a href=/metrics>/metrics</a></p>",
        region = esc(&ctx.region),
        total = views.len(),
        ready = ctx.ready.is_ready(),
    );
    h.push_str("<table><tr><th>app</th><th>namespace</th><th>verdict</th><th>reason</th><th>endpoints up/down/unknown</th><th>ALB targets healthy/total</th><th>Route 53 sees</th><th>override</th><th>since</th></tr>");
    for v in &views {
        let _ = write!(
            h,
            "<tr><td><a href=#{n}>{n}</a></td><td>{ns}</td><td>{badge}</td><td>{reason}</td><td>{u}/{d}/{k}</td><td>{alb}</td><td>{r53}</td><td>{o}</td><td>{since}</td></tr>",
            n = esc(&v.name),
            ns = esc(&v.namespace),
            badge = badge(v.verdict),
            reason = esc(&v.reason),
            u = v.counts.up,
            d = v.counts.down,
            k = v.counts.unknown,
            alb = match v.targets {
                Some(t) => format!("{}/{}{}", t.healthy, t.total, if t.stale { " <i>(stale)</i>" } else { "" }),
                None => "-".into(),
            },
            r53 = match v.route53.as_ref().and_then(|r| r.route53_healthy) {
                Some(h) => badge(if h { Health::Healthy } else { Health::Unhealthy }),
                None => "-",
            },
            o = v.override_.mode.as_str(),
            since = esc(&v.last_transition_time),
        );
    }
    h.push_str("</table>");
    for v in &views {
        app_section(&mut h, v);
    }
    h.push_str("</body></html>");
    h
}

fn badge(health: Health) -> &'static str {
    match health {
        Health::Healthy => "<span class='v ok'>HEALTHY</span>",
        Health::Unhealthy => "<span class='v bad'>UNHEALTHY</span>",
    }
}

fn app_section(h: &mut String, v: &AppView) {
    let _ = write!(
        h,
        "<h2 id={n}>{n} {badge}</h2><p>{reason}{grace}{ovr}</p>\
         <table><tr><th>endpoint</th><th>state</th><th>last outcome</th><th>status</th><th>latency</th><th>successes/failures in a row</th><th>last probe</th></tr>",
        n = esc(&v.name),
        badge = badge(v.verdict),
        reason = esc(&v.reason),
        grace = if v.in_startup_grace { " · <i>in start-up grace</i>" } else { "" },
        ovr = match v.override_.source {
            "admin" => format!(" · override <b>{}</b> set by admin{}", v.override_.mode.as_str(), v.override_.expires_at.as_deref().map(|t| format!(" until {}", esc(t))).unwrap_or_default()),
            _ => String::new(),
        },
    );
    if let Some(r) = &v.route53 {
        let _ = write!(
            h,
            "<p>Route 53 health check: {id}{problems}</p>",
            id = r
                .health_check_id
                .as_deref()
                .map(esc)
                .unwrap_or_else(|| "<i>not made yet</i>".into()),
            problems = r
                .problems
                .iter()
                .map(|p| format!("<br><b>problem:</b> {}", esc(p)))
                .collect::<String>(),
        );
    }
    for e in &v.endpoints {
        let _ = write!(
            h,
            "<tr><td>{t}</td><td class={s}>{s}</td><td>{o}</td><td>{st}</td><td>{l}</td><td>{cs}/{cf}</td><td>{at}</td></tr>",
            t = esc(&e.target),
            s = e.state.as_str(),
            o = e.last_outcome.map(|o| o.as_str()).unwrap_or("-"),
            st = e.last_status.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
            l = e.last_latency_ms.map(|l| format!("{l:.1} ms")).unwrap_or_else(|| "-".into()),
            cs = e.consecutive_successes,
            cf = e.consecutive_failures,
            at = e.last_probe_time.as_deref().map(esc).unwrap_or_else(|| "-".into()),
        );
    }
    h.push_str("</table>");
    if v.transitions.is_empty() {
        h.push_str("<p><small>no transitions since start</small></p>");
    } else {
        h.push_str("<table><tr><th>at</th><th>to</th><th>reason</th></tr>");
        for t in v.transitions.iter().rev() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&t.at),
                badge(t.to),
                esc(&t.reason)
            );
        }
        h.push_str("</table>");
    }
}
