//! The page at scale: a measurement (ignored: it prints figures and asserts
//! nothing about time; README cites it).

use super::render_views;
use super::tests::{ago, app_view, failover_view, now, region, shares};
use crate::model::{Health, RecordHealth};
use crate::verdict::store::{AppView, DnsChange, History};

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
