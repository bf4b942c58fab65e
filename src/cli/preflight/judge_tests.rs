//! Unit tests of [`super::judge`]: one per mistake, on hand-made answers.

use super::*;
use crate::spec::route53::Protocol;

fn check(search: Option<&str>) -> CheckConfig {
    CheckConfig {
        protocol: Protocol::Http,
        fqdn: "health.example.com".into(),
        port: 80,
        path: "/health/app1".into(),
        search_string: search.map(Into::into),
        interval: 10,
        failure_threshold: 3,
        alarm: None,
    }
}

#[test]
fn the_agents_answers_pass() {
    let c = check(None);
    assert_eq!(judge("app1", &c, 200, None, b"HEALTHY app1\n"), Verdict::Healthy);
    let v = judge("app1", &c, 503, None, b"UNHEALTHY app1: 0/2 endpoints healthy\n");
    assert_eq!(
        v,
        Verdict::Unhealthy {
            reason: "0/2 endpoints healthy".into()
        }
    );
    assert!(v.is_ok(), "a 503 is the check working, not a mistake");
    assert!(v
        .explain("app1", &c)
        .contains("ok (unhealthy now: 0/2 endpoints healthy)"));
}

#[test]
fn a_redirect_is_named_with_its_target_and_its_effect() {
    let v = judge(
        "app1",
        &check(None),
        301,
        Some("https://health.example.com/health/app1"),
        b"",
    );
    assert_eq!(
        v,
        Verdict::Redirect {
            status: 301,
            location: "https://health.example.com/health/app1".into()
        }
    );
    assert!(!v.is_ok());
    let line = v.explain("app1", &check(None));
    assert!(
        line.starts_with("redirect (301 to https://health.example.com/health/app1)"),
        "{line}"
    );
    assert!(
        line.contains("never fail over") && line.contains("matchVerdict"),
        "{line}"
    );
    // With string matching the redirect fails the check instead: still a mistake.
    let c = check(Some("HEALTHY app1"));
    let line = judge("app1", &c, 302, None, b"HEALTHY app1").explain("app1", &c);
    assert!(
        line.contains("302 to no Location") && line.contains("never pass"),
        "{line}"
    );
}

#[test]
fn another_backend_is_not_the_agent() {
    let v = judge("app1", &check(None), 200, None, b"<html>welcome</html>");
    assert_eq!(
        v,
        Verdict::NotTheAgent {
            status: 200,
            snippet: "<html>welcome</html>".into()
        }
    );
    // Another app's answer, or an agent's answer with the wrong status, is not ours either.
    assert!(matches!(
        judge("app1", &check(None), 200, None, b"HEALTHY app10\n"),
        Verdict::NotTheAgent { .. }
    ));
    assert!(matches!(
        judge("app1", &check(None), 200, None, b"UNHEALTHY app1: x\n"),
        Verdict::NotTheAgent { .. }
    ));
    let foreign_503 = judge("app1", &check(Some("OK")), 503, None, b"Service Unavailable");
    assert!(
        matches!(foreign_503, Verdict::NotTheAgent { status: 503, .. }),
        "{foreign_503:?}"
    );
    assert!(matches!(
        judge("app1", &check(None), 404, None, b"not found\n"),
        Verdict::NotTheAgent { .. }
    ));
    let v = judge("app1", &check(None), 502, None, b"<html>\r\n502 Bad Gateway</html>");
    let line = v.explain("app1", &check(None));
    assert!(
        line.contains(r#"502 "<html>\r\n502 Bad Gateway</html>""#),
        "escaped: {line}"
    );
    assert!(line.contains("load balancer's own"), "{line}");
}

#[test]
fn a_long_foreign_body_is_cut_and_escaped() {
    let body = format!("\u{1b}{}", "x".repeat(200));
    let Verdict::NotTheAgent { snippet, .. } = judge("app1", &check(None), 200, None, body.as_bytes()) else {
        panic!("not the agent");
    };
    assert!(snippet.starts_with("\\u{1b}x") && snippet.ends_with('…'), "{snippet}");
    assert_eq!(snippet.chars().filter(|c| *c == 'x').count(), SNIPPET_CHARS - 1);
}

#[test]
fn the_agents_404_means_it_does_not_know_the_app() {
    let v = judge("app1", &check(None), 404, None, b"unknown app\n");
    assert_eq!(v, Verdict::UnknownApp);
    assert!(v.explain("app1", &check(None)).contains("does not know app1"));
}

#[test]
fn a_search_string_must_be_in_the_healthy_answer() {
    let default = check(Some("HEALTHY app1"));
    assert_eq!(judge("app1", &default, 200, None, b"HEALTHY app1\n"), Verdict::Healthy);
    // A 503 fails on its status at Route 53; the string itself is still right.
    assert!(judge("app1", &default, 503, None, b"UNHEALTHY app1: down\n").is_ok());
    let own = check(Some("OK"));
    let want = Verdict::MissingString { string: "OK".into() };
    assert_eq!(judge("app1", &own, 200, None, b"HEALTHY app1\n"), want);
    assert_eq!(
        judge("app1", &own, 503, None, b"UNHEALTHY app1: OK?\n"),
        want,
        "never passes once healthy"
    );
}

#[test]
fn only_the_first_5120_bytes_are_searched() {
    let at = |offset: usize| {
        let mut body = b"HEALTHY app1\n".to_vec();
        body.resize(offset, b' ');
        body.extend_from_slice(b"needle");
        judge("app1", &check(Some("needle")), 200, None, &body)
    };
    assert_eq!(at(MAX_BODY - 6), Verdict::Healthy);
    assert_eq!(
        at(MAX_BODY - 5),
        Verdict::MissingString {
            string: "needle".into()
        }
    );
}

#[test]
fn failures_to_answer_name_the_port() {
    let c = check(None);
    let line = Verdict::Unreachable(NoAnswer::Connect("connection refused".into())).explain("app1", &c);
    assert!(
        line.contains("port 80 is not open") && line.contains("publicPort"),
        "{line}"
    );
    let line = Verdict::Unresolved {
        why: "no such host".into(),
    }
    .explain("app1", &c);
    assert!(line.starts_with("health.example.com does not resolve"), "{line}");
}
