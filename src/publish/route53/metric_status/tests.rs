//! Tests of `publish/route53/metric_status/`.

use super::*;

#[test]
fn the_latest_value_wins_whatever_the_order() {
    let t = |s| DateTime::from_secs(s);
    assert_eq!(latest(&[t(60), t(180), t(120)], &[1.0, 0.0, 1.0]), Some(0.0));
    assert_eq!(latest(&[], &[]), None);
}

#[test]
fn a_spell_runs_back_to_the_last_healthy_minute() {
    let t = |s| DateTime::from_secs(s);
    let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
    // Healthy until 120, unhealthy from 180 on (values in any order).
    let s = spell(&[t(240), t(60), t(180), t(120)], &[0.0, 1.0, 0.0, 1.0]).unwrap();
    assert_eq!((s.since, s.at_least), (at(180), false));
    // Unhealthy over the whole history: at least since its start.
    let s = spell(&[t(60), t(120)], &[0.0, 0.0]).unwrap();
    assert_eq!((s.since, s.at_least), (at(60), true));
    // Healthy now: no spell.
    assert_eq!(spell(&[t(60), t(120)], &[0.0, 1.0]), None);
    assert_eq!(spell(&[], &[]), None);
}

#[test]
fn query_ids_start_with_a_letter_and_name_the_check() {
    let q = query(7, "abc-123");
    assert_eq!(q.id(), Some("q7"));
    let dims = q
        .metric_stat()
        .and_then(|s| s.metric())
        .map(|m| m.dimensions().to_vec());
    assert_eq!(dims.unwrap()[0].value(), Some("abc-123"));
}

#[test]
fn the_cost_grows_with_checks_and_shrinks_with_the_interval() {
    // 600 checks every minute: 25.9 M metrics a month, USD 259.
    let c = monthly_cost_usd(600, Duration::from_secs(60));
    assert!((c - 259.2).abs() < 0.1, "{c}");
    assert!((monthly_cost_usd(600, Duration::from_secs(300)) - c / 5.0).abs() < 0.01);
}
