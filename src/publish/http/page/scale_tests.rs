//! The page at scale, and a sample to look at (both ignored: they print or write,
//! and assert nothing about time).

use super::render_views;
use super::tests::{ago, app_view, failover_view, now, region, shares};
use crate::model::{DnsView, Health, RecordHealth};
use crate::verdict::store::{AppView, DnsChange, History};
use std::time::{Duration, SystemTime};

/// The page at 1,000 apps, each with a DNS view over 3 Regions and a full history
/// (60 DNS changes, 20 transitions in the last hour): `cargo test --lib -- --ignored
/// page_at_1000_apps --nocapture`.
#[test]
#[ignore]
fn page_at_1000_apps() {
    let n = 1000;
    let dns = failover_view(
        RecordHealth::Unhealthy,
        Some(region("us-east-1", "failover SECONDARY", RecordHealth::Healthy, false)),
    );
    let views: Vec<AppView> = (0..n)
        .map(|i| {
            let mut v = app_view(&format!("app{i}"), Health::Healthy, Some(dns.clone()));
            v.history = History {
                verdict_from: Some(ago(120)),
                verdict: Health::Healthy,
                transitions: (0..20)
                    .map(|t| {
                        (
                            ago(60 - t * 3),
                            if t % 2 == 0 { Health::Unhealthy } else { Health::Healthy },
                        )
                    })
                    .collect(),
                dns: (0..60)
                    .map(|t| DnsChange {
                        at: ago(60 - t),
                        shares: shares(&[("eu-central-1", (t % 2) as f32), ("eu-west-1", ((t + 1) % 2) as f32)]),
                    })
                    .collect(),
            };
            v
        })
        .collect();
    let t = std::time::Instant::now();
    let page = render_views(&views, "eu-west-1", true, now());
    let took = t.elapsed();
    println!("1000 apps, full history: render {took:?}, {} bytes", page.len());
    // The usual case: one DNS answer all hour, no transition.
    let quiet: Vec<AppView> = views
        .into_iter()
        .map(|mut v| {
            v.history.transitions.clear();
            v.history.dns.truncate(1);
            v
        })
        .collect();
    let t = std::time::Instant::now();
    let page = render_views(&quiet, "eu-west-1", true, now());
    let took = t.elapsed();
    let strips: usize = page
        .split("<svg")
        .skip(1)
        .map(|s| s.find("</svg>").unwrap_or(0) + 10)
        .sum();
    println!(
        "1000 apps, quiet hour: render {took:?}, {} bytes ({strips} in strips)",
        page.len()
    );
}

fn rfc(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A page after an hour of a game day, written to `STATUS_PAGE_SAMPLE` (an HTML file):
/// app1 failed over 12 minutes ago, app2 stayed, app3's weighted answers lost a
/// Region for a quarter of an hour, app4 has no Route 53 record.
/// `STATUS_PAGE_SAMPLE=/tmp/page.html cargo test --lib -- --ignored status_page_sample`
#[test]
#[ignore]
fn status_page_sample() {
    let Some(path) = std::env::var_os("STATUS_PAGE_SAMPLE") else {
        return;
    };
    let now = SystemTime::now();
    let ago = |m: u64| now - Duration::from_secs(m * 60);
    let started = ago(50);
    let (west, central) = ("eu-west-1", "eu-central-1");
    let hist = |transitions: Vec<(SystemTime, Health)>, verdict, dns: Vec<(SystemTime, Vec<(&str, f32)>)>| History {
        verdict_from: Some(started),
        verdict,
        transitions,
        dns: dns
            .into_iter()
            .map(|(at, s)| DnsChange { at, shares: shares(&s) })
            .collect(),
    };
    let mut app1 = app_view(
        "app1",
        Health::Unhealthy,
        Some(failover_view(RecordHealth::Unhealthy, None)),
    );
    app1.reason = "0/3 endpoints healthy, need 2".into();
    app1.last_transition_time = rfc(ago(12));
    if let Some(d) = app1.dns.as_mut() {
        d.since = Some(rfc(ago(11)));
    }
    app1.history = hist(
        vec![(ago(12), Health::Unhealthy)],
        Health::Unhealthy,
        vec![
            (started, vec![(central, 0.0), (west, 1.0)]),
            (ago(11), vec![(central, 1.0), (west, 0.0)]),
        ],
    );
    let mut steady = failover_view(RecordHealth::Healthy, None);
    steady.answer = "-> eu-west-1 (primary eu-west-1 healthy)".into();
    steady.shares = [(central.to_owned(), 0.0), (west.to_owned(), 1.0)].into();
    steady.since = Some(rfc(started));
    let mut app2 = app_view("app2", Health::Healthy, Some(steady));
    app2.reason = "3/3 endpoints healthy".into();
    app2.last_transition_time = rfc(started);
    app2.history = hist(
        vec![],
        Health::Healthy,
        vec![(started, vec![(central, 0.0), (west, 1.0)])],
    );
    let weighted = DnsView {
        answer: "weighted: eu-central-1 50%, eu-west-1 50%".into(),
        shares: [(central.to_owned(), 0.5), (west.to_owned(), 0.5)].into(),
        since: Some(rfc(ago(15))),
        regions: vec![
            region(central, "weight 1", RecordHealth::Healthy, false),
            region(west, "weight 1", RecordHealth::Healthy, true),
        ],
    };
    let mut app3 = app_view("app3", Health::Healthy, Some(weighted));
    app3.reason = "2/2 endpoints healthy".into();
    app3.last_transition_time = rfc(started);
    let half = vec![(central, 0.5), (west, 0.5)];
    app3.history = hist(
        vec![],
        Health::Healthy,
        vec![
            (started, half.clone()),
            (ago(30), vec![(central, 0.0), (west, 1.0)]),
            (ago(15), half),
        ],
    );
    let mut app4 = app_view("app4", Health::Healthy, None);
    app4.reason = "1/1 endpoints healthy".into();
    app4.last_transition_time = rfc(started);
    app4.history = hist(vec![], Health::Healthy, vec![]);
    let page = render_views(&[app1, app2, app3, app4], west, true, now);
    std::fs::write(path, page).unwrap();
}
