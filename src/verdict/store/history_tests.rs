//! Tests of `verdict/store/history.rs`.

use super::*;
use std::collections::BTreeMap;

fn view(shares: &[(&str, f64)], since: Option<&str>) -> DnsView {
    DnsView {
        answer: String::new(),
        shares: shares
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>(),
        since: since.map(str::to_owned),
        regions: Vec::new(),
    }
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn rfc(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[test]
fn records_only_changes_of_the_shares_at_their_since() {
    let mut r = DnsRing::default();
    let west = view(&[("a", 1.0), ("b", 0.0)], Some(&rfc(at(10))));
    r.record(None, at(5));
    assert!(r.snapshot().is_empty(), "nothing known, nothing recorded");
    r.record(Some(&west), at(12));
    r.record(Some(&west), at(13));
    let central = view(&[("a", 0.0), ("b", 1.0)], Some(&rfc(at(20))));
    r.record(Some(&central), at(21));
    r.record(Some(&central), at(22));
    let s = r.snapshot();
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].at, s[1].at), (at(10), at(20)));
    assert_eq!(&*s[1].shares, &[(Arc::from("a"), 0.0), (Arc::from("b"), 1.0)][..]);
    // Back to the first shares: the allocation is shared.
    r.record(Some(&west), at(30));
    let s = r.snapshot();
    assert!(Arc::ptr_eq(&s[0].shares, &s[2].shares));
    assert_eq!(s[2].at, at(30), "a since before the last change is now");
    // The view goes away: unknown from now.
    r.record(None, at(40));
    assert!(r.snapshot()[3].shares.is_empty());
    assert_eq!(r.snapshot()[3].at, at(40));
}

#[test]
fn a_since_in_the_future_or_unreadable_is_now() {
    let mut r = DnsRing::default();
    r.record(Some(&view(&[("a", 1.0)], Some(&rfc(at(100))))), at(50));
    r.record(Some(&view(&[("b", 1.0)], Some("garbage"))), at(60));
    let s = r.snapshot();
    assert_eq!((s[0].at, s[1].at), (at(50), at(60)));
}

#[test]
fn the_ring_is_bounded_and_drops_what_ended_before_the_hour() {
    let mut r = DnsRing::default();
    for i in 0..200u64 {
        let v = view(&[("a", (i % 2) as f64), ("b", ((i + 1) % 2) as f64)], None);
        r.record(Some(&v), at(i));
    }
    assert_eq!(r.snapshot().len(), DNS_CHANGES_KEPT);
    assert_eq!(r.snapshot()[0].at, at(140));
    // An hour later: only the change still in force at the window's left edge stays.
    r.record(Some(&view(&[("c", 1.0)], None)), at(199 + 3601));
    let s = r.snapshot();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].at, at(199));
}

fn remote() -> super::super::App {
    let m = crate::telemetry::Metrics::new("eu-west-1").unwrap();
    let key = crate::model::AppKey {
        namespace: "ns".into(),
        name: "app1".into(),
    };
    let awaiting = crate::verdict::policy::Decision {
        health: Health::Healthy,
        reason: "awaiting".into(),
    };
    super::super::App::remote(key, awaiting, m.for_remote_app())
}

fn publish(app: &super::super::App, health: Health) {
    let d = crate::verdict::policy::Decision {
        health,
        reason: "r".into(),
    };
    app.publish(d, Default::default(), crate::model::OverrideMode::None);
}

#[test]
fn the_store_knows_a_remote_verdict_from_the_first_one_and_back_to_the_oldest_kept_transition() {
    let app = remote();
    let now = tokio::time::Instant::now();
    assert_eq!(app.view(now).history.verdict_from, None);
    publish(&app, Health::Healthy);
    let first = app.view(now).history.verdict_from.unwrap();
    let count = super::super::TRANSITIONS_KEPT + 3;
    for i in 0..count {
        publish(&app, if i % 2 == 0 { Health::Unhealthy } else { Health::Healthy });
    }
    let h = app.view(now).history;
    assert_eq!(h.transitions.len(), super::super::TRANSITIONS_KEPT);
    assert!(h.verdict_from.unwrap() >= first);
    assert!(h.verdict_from.unwrap() <= h.transitions[0].0);
    assert_eq!(h.verdict, h.transitions.last().unwrap().1);
}

#[test]
fn the_store_records_dns_changes_from_both_ways_in_not_per_update() {
    let app = remote();
    let now = tokio::time::Instant::now();
    let r53 = |shares: &[(&str, f64)]| super::super::Route53View {
        dns: Some(view(shares, None)),
        ..Default::default()
    };
    app.publish_aws(None, Some(r53(&[("a", 1.0), ("b", 0.0)])));
    app.publish_aws(None, Some(r53(&[("a", 1.0), ("b", 0.0)])));
    app.update_route53(|v| v.route53_healthy = Some(true));
    assert_eq!(app.view(now).history.dns.len(), 1);
    app.update_route53(|v| v.dns = Some(view(&[("a", 0.5), ("b", 0.5)], None)));
    app.publish_aws(None, None);
    let dns = app.view(now).history.dns;
    assert_eq!(dns.len(), 3);
    assert_eq!(dns[1].shares[1], (Arc::from("b"), 0.5));
    assert!(dns[2].shares.is_empty());
}
