//! The page's pieces: the strip's geometry from a history and a time, the SVG made
//! from it, and the rows (Region columns, DNS answer, escaping).

use super::render_views;
use super::row::{human, region_columns, Palette};
use super::strip::{dns_lane, svg, timeline, verdict_lane, Seg};
use crate::model::{AppKey, DnsView, Health, OverrideMode, RecordHealth, RegionView};
use crate::verdict::policy::Decision;
use crate::verdict::store::{App, AppView, DnsChange, History, Route53View, Shares};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A fixed now: 2027-01-15T08:00:00Z.
pub(super) fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// `m` minutes before [`now`].
pub(super) fn ago(m: u64) -> SystemTime {
    now() - Duration::from_secs(m * 60)
}

fn seg<T>(x0: f64, x1: f64, what: Option<T>) -> Seg<T> {
    Seg { x0, x1, what }
}

#[test]
fn a_lane_is_unknown_before_its_first_step_and_cut_to_the_last_hour() {
    assert_eq!(timeline::<u8>(&[], now()), vec![seg(0.0, 3600.0, None)]);
    // Started 10 minutes ago: grey for the first 50.
    assert_eq!(
        timeline(&[(ago(10), 1)], now()),
        vec![seg(0.0, 3000.0, None), seg(3000.0, 3600.0, Some(1))]
    );
    // Steps before the hour only set the state at the left edge; equal neighbours merge.
    let steps = [(ago(120), 1), (ago(90), 2), (ago(30), 2), (ago(15), 1)];
    assert_eq!(
        timeline(&steps, now()),
        vec![seg(0.0, 2700.0, Some(2)), seg(2700.0, 3600.0, Some(1))]
    );
    // A step after now is not drawn; a step out of order does not go back.
    let steps = [(ago(20), 1), (ago(40), 2), (now() + Duration::from_secs(60), 3)];
    assert_eq!(
        timeline(&steps, now()),
        vec![seg(0.0, 2400.0, None), seg(2400.0, 3600.0, Some(2))]
    );
}

pub(super) fn history(from: Option<SystemTime>, transitions: &[(SystemTime, Health)], verdict: Health) -> History {
    History {
        verdict_from: from,
        verdict,
        transitions: transitions.to_vec(),
        dns: Vec::new(),
    }
}

#[test]
fn the_verdict_lane_starts_with_the_opposite_of_the_first_kept_transition() {
    let h = history(
        Some(ago(50)),
        &[(ago(20), Health::Unhealthy), (ago(5), Health::Healthy)],
        Health::Healthy,
    );
    assert_eq!(
        verdict_lane(&h, now()),
        vec![
            seg(0.0, 600.0, None),
            seg(600.0, 2400.0, Some(Health::Healthy)),
            seg(2400.0, 3300.0, Some(Health::Unhealthy)),
            seg(3300.0, 3600.0, Some(Health::Healthy)),
        ]
    );
    // No transition: the verdict now, since it is known; not known at all: grey.
    let h = history(Some(ago(90)), &[], Health::Unhealthy);
    assert_eq!(verdict_lane(&h, now()), vec![seg(0.0, 3600.0, Some(Health::Unhealthy))]);
    assert_eq!(
        verdict_lane(&history(None, &[], Health::Healthy), now()),
        vec![seg(0.0, 3600.0, None)]
    );
}

pub(super) fn shares(s: &[(&str, f32)]) -> Shares {
    s.iter().map(|(id, v)| (Arc::from(*id), *v)).collect()
}

#[test]
fn the_dns_lane_is_unknown_before_the_first_change_and_while_no_view_was_known() {
    let mut h = history(None, &[], Health::Healthy);
    let west = shares(&[("eu-west-1", 1.0), ("eu-central-1", 0.0)]);
    h.dns = vec![
        DnsChange {
            at: ago(40),
            shares: west.clone(),
        },
        DnsChange {
            at: ago(30),
            shares: shares(&[]),
        },
        DnsChange {
            at: ago(20),
            shares: west.clone(),
        },
    ];
    assert_eq!(
        dns_lane(&h, now()),
        vec![
            seg(0.0, 1200.0, None),
            seg(1200.0, 1800.0, Some(west.clone())),
            seg(1800.0, 2400.0, None),
            seg(2400.0, 3600.0, Some(west)),
        ]
    );
}

#[test]
fn the_svg_stacks_split_answers_by_share_in_each_ids_colour_and_escapes() {
    let mut h = history(Some(ago(30)), &[(ago(10), Health::Unhealthy)], Health::Unhealthy);
    h.dns = vec![
        DnsChange {
            at: ago(30),
            shares: shares(&[("a<b", 0.5), ("c", 0.5)]),
        },
        DnsChange {
            at: ago(10),
            shares: shares(&[("a<b", 0.0), ("c", 1.0)]),
        },
    ];
    let palette = Palette::of(&[]);
    let mut out = String::new();
    svg(&mut out, "app\"1", &h, &palette, now());
    assert!(
        out.starts_with("<svg class=strip width=360 height=30 viewBox='0 0 3600 30'"),
        "{out}"
    );
    assert!(out.contains("aria-label='app&quot;1:"), "{out}");
    assert!(out.ends_with("</svg>"));
    assert!(!out.contains("a<b"), "{out}");
    // Verdict: grey 0-1800, healthy 1800-3000, unhealthy 3000-3600.
    assert!(out.contains("<rect x=0 y=0 width=1800 height=13 class=sn>"), "{out}");
    assert!(
        out.contains("<rect x=1800 y=0 width=1200 height=13 class=sh><title>healthy 07:30:00–07:50:00"),
        "{out}"
    );
    assert!(out.contains("<rect x=3000 y=0 width=600 height=13 class=su>"), "{out}");
    // DNS: split half and half (two stacked rects), then all to c.
    let split = "<title>a&lt;b 50%, c 50% 07:30:00–07:50:00</title>";
    assert_eq!(out.matches(split).count(), 2, "{out}");
    assert!(out.contains("<rect x=1800 y=16 width=1200 height=7 class=d0>"), "{out}");
    assert!(out.contains("<rect x=1800 y=22 width=1200 height=7 class=d0>"), "{out}");
    assert!(
        out.contains("<rect x=3000 y=16 width=600 height=13 class=d0><title>c 100%"),
        "{out}"
    );
    assert_eq!(out.matches("class=tk").count(), 1);
}

#[test]
fn a_short_blip_is_drawn_one_pixel_wide() {
    let h = history(
        Some(ago(60)),
        &[
            (ago(30), Health::Unhealthy),
            (now() - Duration::from_secs(1799), Health::Healthy),
        ],
        Health::Healthy,
    );
    let mut out = String::new();
    svg(&mut out, "a", &h, &Palette::of(&[]), now());
    assert!(out.contains("<rect x=1800 y=0 width=10 height=13 class=su>"), "{out}");
}

#[test]
fn durations_read_to_the_unit_that_matters() {
    let s = Duration::from_secs;
    assert_eq!(human(s(7)), "7s");
    assert_eq!(human(s(192)), "3m12s");
    assert_eq!(human(s(2 * 3600 + 5 * 60 + 9)), "2h05m");
    assert_eq!(human(s(3 * 86400 + 4 * 3600)), "3d4h");
}

pub(super) fn region(id: &str, policy: &str, route53: RecordHealth, here: bool) -> RegionView {
    RegionView {
        set_identifier: id.into(),
        policy: policy.into(),
        route53,
        health_check_id: None,
        target: String::new(),
        here,
    }
}

/// The view of a remote app `name` with verdict `health` and, if given, a DNS view.
pub(super) fn app_view(name: &str, health: Health, dns: Option<DnsView>) -> AppView {
    let m = crate::telemetry::Metrics::new("eu-west-1").unwrap();
    let key = AppKey {
        namespace: "shop".into(),
        name: name.into(),
    };
    let d = |reason: &str| Decision {
        health,
        reason: reason.into(),
    };
    let app = App::remote(key, d("awaiting"), m.for_remote_app());
    app.publish(
        d(&format!("{name}: 0/2 endpoints up <b>")),
        Default::default(),
        OverrideMode::None,
    );
    app.publish_aws(
        None,
        Some(Route53View {
            dns,
            ..Default::default()
        }),
    );
    app.view(tokio::time::Instant::now())
}

pub(super) fn failover_view(primary: RecordHealth, extra: Option<RegionView>) -> DnsView {
    let mut regions = vec![
        region("eu-west-1", "failover PRIMARY", primary, true),
        region("eu-central-1", "failover SECONDARY", RecordHealth::Healthy, false),
    ];
    regions.extend(extra);
    DnsView {
        answer: "-> eu-central-1 (primary eu-west-1 unhealthy, secondary eu-central-1 healthy)".into(),
        shares: [("eu-central-1".to_owned(), 1.0), ("eu-west-1".to_owned(), 0.0)].into(),
        since: Some(humantime::format_rfc3339_seconds(now() - Duration::from_secs(192)).to_string()),
        regions,
    }
}

#[test]
fn rows_have_a_column_per_set_identifier_of_any_app_and_a_dash_without_a_view() {
    let split = DnsView {
        answer: "weighted: a 50%, b 50%".into(),
        shares: [("a".to_owned(), 0.5), ("b".to_owned(), 0.5)].into(),
        since: None,
        regions: vec![
            region("a", "weight 1", RecordHealth::NoCheck, false),
            region("b", "weight 1", RecordHealth::Unknown, true),
        ],
    };
    let views = vec![
        app_view(
            "app1",
            Health::Unhealthy,
            Some(failover_view(RecordHealth::Unhealthy, None)),
        ),
        app_view("app2", Health::Healthy, Some(split)),
        app_view("app3", Health::Healthy, None),
    ];
    assert_eq!(region_columns(&views), vec!["a", "b", "eu-central-1", "eu-west-1"]);
    let page = render_views(&views, "eu-west-1", true, now());
    let rows: Vec<&str> = page.split("<tr class=app").skip(1).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(page.matches("<th class=region>").count(), 4);
    // app1: "-" for a and b, then Route 53's view of each failover record, this agent's marked.
    let app1 = rows[0];
    assert_eq!(app1.matches("<td class=none>-</td>").count(), 2, "{app1}");
    assert!(app1.contains("<td class='region r-bad here'>unhealthy<br><small>failover PRIMARY</small><br><span class=me>this agent</span></td>"), "{app1}");
    assert!(
        app1.contains("<td class='region r-ok'>healthy<br><small>failover SECONDARY</small></td>"),
        "{app1}"
    );
    assert!(
        app1.contains("-&gt; eu-central-1 (primary eu-west-1 unhealthy"),
        "{app1}"
    );
    assert!(app1.contains("<small>for 3m12s</small>"), "{app1}");
    assert!(app1.contains("0/2 endpoints up &lt;b&gt;"), "{app1}");
    assert!(app1.contains("<svg class=strip"));
    // app2: shares when split, "no check" and "unknown" records.
    let app2 = rows[1];
    assert!(app2.contains("a 50% "), "{app2}");
    assert!(app2.contains("b 50% "), "{app2}");
    assert!(app2.contains("class='region r-nc'>no check"), "{app2}");
    assert!(app2.contains("class='region r-unk here'>unknown"), "{app2}");
    // app3: no view, a dash in every Region column and the answer's.
    let app3 = rows[2].split("<svg").next().unwrap();
    assert_eq!(app3.matches("<td class=none>-</td>").count(), 5, "{app3}");
}

#[test]
fn everything_from_outside_is_escaped() {
    let evil = "<script>alert(1)</script>";
    let mut dns = failover_view(
        RecordHealth::Healthy,
        Some(region(evil, evil, RecordHealth::Healthy, false)),
    );
    dns.answer = evil.into();
    dns.shares.insert(evil.into(), 0.0);
    let page = render_views(&[app_view("app'\"<x>", Health::Healthy, Some(dns))], "<r>", true, now());
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<x>"));
    assert!(!page.contains("<r>"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("id=\"row-app&#39;&quot;&lt;x&gt;\""), "{page}");
}
