//! The judgement, pure: given what one address answered for one app's check,
//! would Route 53's checkers see what the agent means, and if not, which mistake
//! is it? No I/O here, so every mistake has a unit test.
//!
//! Route 53 passes a check on any 2xx or 3xx status that arrives within 2 s of
//! connecting (and, with a search string, when the string is in the first 5,120
//! bytes of the body). So a check can pass while measuring nothing: a redirect,
//! or another backend's 200. Those are the mistakes named here.

use crate::publish::route53::objects::verdict_string;
use crate::publish::route53::objects::CheckConfig;

/// Route 53 searches only this much of the body; preflight reads no more.
pub const MAX_BODY: usize = 5120;
/// How much of a foreign body a line quotes.
const SNIPPET_CHARS: usize = 60;

/// Why an address gave no HTTP answer at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoAnswer {
    /// The TCP connection was refused or failed (the OS's reason).
    Connect(String),
    /// No TCP connection within 4 s.
    ConnectTimeout,
    /// The TLS handshake of an HTTPS check failed.
    Tls(String),
    /// Connected, but no status line within 2 s.
    NoStatus,
    /// Something answered that is not HTTP/1.1 (or hung up).
    Http(String),
}

/// One app × address, judged. [`Verdict::is_ok`] says whether Route 53 would
/// measure the agent; [`Verdict::explain`] names the mistake and its fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 200 `HEALTHY <app>`: the check passes, and will fail when the agent says so.
    Healthy,
    /// 503 `UNHEALTHY <app>: <reason>`: the path works; the app is down right now.
    Unhealthy { reason: String },
    /// A 3xx: counted healthy by Route 53 whatever the agent says (or, with a
    /// search string, never healthy: a redirect's body is not the agent's).
    Redirect { status: u16, location: String },
    /// Something other than the agent answers this host and path.
    NotTheAgent { status: u16, snippet: String },
    /// The agent answers, but has no app by this name.
    UnknownApp,
    /// The search string is not in the body the agent sends when healthy.
    MissingString { string: String },
    /// The hostname has no IPv4 address (Route 53's checkers resolve A records).
    Unresolved { why: String },
    /// No HTTP answer.
    Unreachable(NoAnswer),
}

/// Judges one HTTP answer to `check` (for `app`): its status, its `Location`
/// header and the first bytes of its body.
///
/// The agent answers 200 `HEALTHY <app>`, 503 `UNHEALTHY <app>: <reason>` or
/// 404 `unknown app`; anything else comes from something else. A search string is
/// held against the body the agent sends when the app is healthy: on a 503 the
/// status already fails the check, and what matters is whether the check can pass
/// again once the app recovers.
pub fn judge(app: &str, check: &CheckConfig, status: u16, location: Option<&str>, body: &[u8]) -> Verdict {
    let body = &body[..body.len().min(MAX_BODY)];
    if (300..400).contains(&status) {
        let location = location.unwrap_or("no Location").to_owned();
        return Verdict::Redirect { status, location };
    }
    let text = String::from_utf8_lossy(body);
    let first = text.lines().next().unwrap_or("");
    let healthy = verdict_string(app);
    let verdict = match status {
        200 if first == healthy => Verdict::Healthy,
        503 => match first.strip_prefix(&format!("UN{healthy}: ")) {
            Some(reason) => Verdict::Unhealthy {
                reason: reason.to_owned(),
            },
            None => return not_the_agent(status, body),
        },
        404 if first == "unknown app" => return Verdict::UnknownApp,
        _ => return not_the_agent(status, body),
    };
    // What Route 53 searches when it can pass: this body on a 200, else the agent's healthy one.
    let searched = if status == 200 {
        text.into_owned()
    } else {
        format!("{healthy}\n")
    };
    match &check.search_string {
        Some(s) if !searched.contains(s.as_str()) => Verdict::MissingString { string: s.clone() },
        _ => verdict,
    }
}

fn not_the_agent(status: u16, body: &[u8]) -> Verdict {
    let text = String::from_utf8_lossy(body);
    let mut snippet: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().nth(SNIPPET_CHARS).is_some() {
        snippet.push('…');
    }
    Verdict::NotTheAgent {
        status,
        snippet: snippet.escape_debug().to_string(),
    }
}

impl Verdict {
    /// True when Route 53's checks would measure the agent's verdict.
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Healthy | Verdict::Unhealthy { .. })
    }

    /// What was seen and, for a mistake, what to change: one line's detail.
    pub fn explain(&self, app: &str, check: &CheckConfig) -> String {
        let (port, fqdn, path) = (check.port, &check.fqdn, &check.path);
        let closed = format!(
            "port {port} is not open on the load balancer at {fqdn}; \
             the check port comes from publicPort (the chart's Service, or its Ingress listener)"
        );
        match self {
            Verdict::Healthy => format!("200 {}", verdict_string(app)),
            Verdict::Unhealthy { reason } => format!("503 from the agent: ok (unhealthy now: {reason})"),
            Verdict::Redirect { status, location } => {
                let (effect, or) = match &check.search_string {
                    None => (
                        format!("Route 53 counts 2xx and 3xx as healthy, so {app} would never fail over"),
                        ", or turn on matchVerdict",
                    ),
                    Some(s) => (
                        format!("a redirect's body lacks {s:?}, so the check would never pass"),
                        "",
                    ),
                };
                format!(
                    "redirect ({status} to {location}): {effect}; use the HTTPS listener \
                     (chart: ingress.protocol=HTTPS) or a listener without the redirect{or}"
                )
            }
            Verdict::NotTheAgent { status, snippet } => {
                let lb = match status {
                    500.. => {
                        " (a 5xx page like this is often the load balancer's own: are the agents its healthy targets?)"
                    }
                    _ => "",
                };
                format!(
                    "not the agent: {status} \"{snippet}\": another backend answers host {fqdn} and path {path}; \
                     check the Ingress host rule and the listener{lb}"
                )
            }
            Verdict::UnknownApp => format!(
                "unknown app: the agent answers but does not know {app} \
                 (no AppHealth or config app with that key, or another cluster's agents behind this hostname)"
            ),
            Verdict::MissingString { string } => format!(
                "search string {string:?} is not in the agent's answer {healthy:?}, so the check would never pass; \
                 use {healthy:?} or no searchString",
                healthy = verdict_string(app)
            ),
            Verdict::Unresolved { why } => format!(
                "{fqdn} does not resolve to an IPv4 address ({why}): \
                 create its DNS record (an A or alias A record to the NLB or ALB in front of the agents)"
            ),
            Verdict::Unreachable(NoAnswer::Connect(e)) => format!("cannot connect ({e}): {closed}"),
            Verdict::Unreachable(NoAnswer::ConnectTimeout) => {
                format!("no TCP connection within 4 s: {closed}, or a security group drops the traffic")
            }
            Verdict::Unreachable(NoAnswer::Tls(e)) => format!(
                "TLS handshake failed ({e}): is port {port} an HTTPS listener? \
                 For a plain HTTP one, use protocol HTTP (publicProtocol)"
            ),
            Verdict::Unreachable(NoAnswer::NoStatus) => {
                "no status line within 2 s of connecting: Route 53 counts that as a failure".into()
            }
            Verdict::Unreachable(NoAnswer::Http(e)) => {
                format!(
                    "no HTTP answer ({e}): if port {port} is an HTTPS listener, use protocol HTTPS (publicProtocol)"
                )
            }
        }
    }
}

#[cfg(test)]
#[path = "judge_tests.rs"]
mod tests;
