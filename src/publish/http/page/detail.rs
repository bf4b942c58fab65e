//! Each app's section under the main table: its counts, ALB and override, its own
//! Route 53 check, every endpoint's last probe, and its recent transitions.

use super::{badge, esc};
use crate::model::Health;
use crate::verdict::store::AppView;
use std::fmt::Write;

/// The section of one app.
pub fn section(h: &mut String, v: &AppView) {
    let _ = write!(
        h,
        "<h2 id=\"{n}\">{n} {badge}</h2><p>{reason}{grace}{ovr}</p>\
         <table><tr><th>endpoints up/down/unknown</th><th>ALB targets healthy/total</th><th>override</th></tr>\
         <tr><td>{u}/{d}/{k}</td><td>{alb}</td><td>{o}</td></tr></table>",
        n = esc(&v.name),
        badge = badge(v.verdict),
        reason = esc(&v.reason),
        grace = if v.in_startup_grace {
            " · <i>in start-up grace</i>"
        } else {
            ""
        },
        ovr = match v.override_.source {
            "admin" => format!(
                " · override <b>{}</b> set by admin{}",
                v.override_.mode.as_str(),
                v.override_
                    .expires_at
                    .as_deref()
                    .map(|t| format!(" until {}", esc(t)))
                    .unwrap_or_default()
            ),
            _ => String::new(),
        },
        u = v.counts.up,
        d = v.counts.down,
        k = v.counts.unknown,
        alb = match v.targets {
            Some(t) => format!(
                "{}/{}{}",
                t.healthy,
                t.total,
                if t.stale { " <i>(stale)</i>" } else { "" }
            ),
            None => "-".into(),
        },
        o = v.override_.mode.as_str(),
    );
    if let Some(r) = &v.route53 {
        let _ = write!(
            h,
            "<p>Route 53 health check: {id}{sees}{problems}</p>",
            id = r
                .health_check_id
                .as_deref()
                .map(esc)
                .unwrap_or_else(|| "<i>not made yet</i>".into()),
            sees = match r.route53_healthy {
                Some(ok) => format!(
                    " · Route 53 sees {}",
                    badge(if ok { Health::Healthy } else { Health::Unhealthy })
                ),
                None => String::new(),
            },
            problems = r
                .problems
                .iter()
                .map(|p| format!("<br><b>problem:</b> {}", esc(p)))
                .collect::<String>(),
        );
    }
    endpoints(h, v);
    transitions(h, v);
}

fn endpoints(h: &mut String, v: &AppView) {
    h.push_str(
        "<table><tr><th>endpoint</th><th>state</th><th>last outcome</th><th>status</th><th>latency</th>\
         <th>successes/failures in a row</th><th>last probe</th></tr>",
    );
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
}

fn transitions(h: &mut String, v: &AppView) {
    if v.transitions.is_empty() {
        h.push_str("<p><small>no transitions since start</small></p>");
        return;
    }
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
