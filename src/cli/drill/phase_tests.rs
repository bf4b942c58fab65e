use super::*;
use std::collections::BTreeMap;

fn region(id: &str, health: RecordHealth, here: bool) -> RegionView {
    RegionView {
        set_identifier: id.into(),
        policy: "failover".into(),
        route53: health,
        health_check_id: Some(format!("hc-{id}")),
        target: String::new(),
        here,
    }
}

/// eu-west-1 (here, primary) and eu-central-1, with `west_share` of the answers.
fn snap(verdict: bool, west: RecordHealth, central: RecordHealth, west_share: f64) -> Snapshot {
    let shares = BTreeMap::from([
        ("eu-west-1".into(), west_share),
        ("eu-central-1".into(), 1.0 - west_share),
    ]);
    Snapshot {
        verdict_healthy: Some(verdict),
        route53_healthy: None,
        dns: Some(DnsView {
            answer: "-> somewhere".into(),
            shares,
            since: None,
            regions: vec![region("eu-west-1", west, true), region("eu-central-1", central, false)],
        }),
    }
}

const H: RecordHealth = RecordHealth::Healthy;
const U: RecordHealth = RecordHealth::Unhealthy;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn starts_when_answered_here_and_another_record_is_healthy() {
    let start = check_start(&snap(true, H, H, 1.0)).unwrap();
    assert_eq!(start.here, "eu-west-1");
    assert_eq!(start.share, 1.0);
    // A record without a check counts healthy, as Route 53 counts it.
    assert!(check_start(&snap(true, H, RecordHealth::NoCheck, 1.0)).is_ok());
}

#[test]
fn refuses_without_a_view_a_record_here_or_answers_here() {
    assert_eq!(check_start(&Snapshot::default()), Err(Refusal::NoDnsView));
    let mut s = snap(true, H, H, 1.0);
    if let Some(d) = s.dns.as_mut() {
        d.regions.retain(|r| !r.here);
    }
    assert_eq!(check_start(&s), Err(Refusal::NoRecordHere));
    assert!(matches!(
        check_start(&snap(true, H, H, 0.0)),
        Err(Refusal::NotAnsweredHere { .. })
    ));
    assert_eq!(check_start(&snap(false, H, H, 1.0)), Err(Refusal::VerdictUnhealthy));
}

#[test]
fn refuses_when_no_other_record_is_healthy() {
    for other in [U, RecordHealth::Unknown] {
        let r = check_start(&snap(true, H, other, 1.0));
        let Err(Refusal::NoHealthyOther { others }) = r else {
            panic!("{r:?}")
        };
        assert!(others.contains("eu-central-1"), "{others}");
    }
    let msg = Refusal::NoHealthyOther { others: "x".into() }.to_string();
    assert!(msg.contains("fail traffic nowhere"), "{msg}");
}

#[test]
fn records_the_first_time_of_each_figure_in_order() {
    let start = check_start(&snap(true, H, H, 1.0)).unwrap();
    let mut f = Figures::default();
    f.observe(Phase::Away, secs(0), &snap(true, H, H, 1.0), &start);
    assert_eq!(f, Figures::default());
    f.observe(Phase::Away, secs(1), &snap(false, H, H, 1.0), &start);
    f.observe(Phase::Away, secs(5), &snap(false, U, H, 0.0), &start);
    f.observe(Phase::Away, secs(9), &snap(false, U, H, 0.0), &start);
    assert_eq!(f.verdict_unhealthy, Some(secs(1)));
    assert_eq!(f.route53_unhealthy, Some(secs(5)));
    assert_eq!(f.dns_left, Some(secs(5)));
    assert!(f.moved() && !f.passed());
    assert!(!f.back_complete());
    f.observe(Phase::Back, secs(1), &snap(true, U, H, 0.0), &start);
    assert!(!f.back_complete());
    f.observe(Phase::Back, secs(4), &snap(true, H, H, 1.0), &start);
    assert_eq!(f.verdict_healthy, Some(secs(1)));
    assert_eq!(f.route53_healthy, Some(secs(4)));
    assert_eq!(f.dns_back, Some(secs(4)));
    assert!(f.back_complete() && f.passed());
}

#[test]
fn route53_unhealthy_from_either_source() {
    let start = check_start(&snap(true, H, H, 1.0)).unwrap();
    let mut f = Figures::default();
    let mut s = snap(false, H, H, 1.0);
    s.route53_healthy = Some(false);
    f.observe(Phase::Away, secs(2), &s, &start);
    assert_eq!(f.route53_unhealthy, Some(secs(2)));
    assert_eq!(f.dns_left, None);
}

#[test]
fn nothing_comes_back_that_never_left() {
    let start = check_start(&snap(true, H, H, 1.0)).unwrap();
    let mut f = Figures::default();
    f.observe(Phase::Away, secs(1), &snap(false, H, H, 1.0), &start);
    f.observe(Phase::Back, secs(1), &snap(true, H, H, 1.0), &start);
    assert_eq!(f.verdict_healthy, Some(secs(1)));
    assert_eq!((f.route53_healthy, f.dns_back), (None, None));
    assert!(f.back_complete(), "only the verdict had left");
    assert!(!f.passed(), "traffic never moved");
}

#[test]
fn a_weighted_share_is_back_only_at_its_old_size() {
    let start = check_start(&snap(true, H, H, 0.5)).unwrap();
    let mut f = Figures::default();
    f.observe(Phase::Away, secs(3), &snap(false, U, H, 0.0), &start);
    f.observe(Phase::Back, secs(1), &snap(true, H, H, 0.25), &start);
    assert_eq!(f.dns_back, None);
    f.observe(Phase::Back, secs(2), &snap(true, H, H, 0.5), &start);
    assert_eq!(f.dns_back, Some(secs(2)));
}

#[test]
fn route53_is_back_only_from_a_source_that_saw_it_fail() {
    let start = check_start(&snap(true, H, H, 1.0)).unwrap();
    let mut f = Figures::default();
    // The DNS view saw the check fail; GetHealthCheckStatus was never read meanwhile.
    let mut away = snap(false, U, H, 0.0);
    away.route53_healthy = Some(true);
    f.observe(Phase::Away, secs(2), &away, &start);
    assert_eq!(f.route53_unhealthy, Some(secs(2)));
    f.observe(Phase::Back, secs(1), &away, &start);
    assert_eq!(f.route53_healthy, None, "a stale healthy read does not count");
    f.observe(Phase::Back, secs(3), &snap(true, H, H, 1.0), &start);
    assert_eq!(f.route53_healthy, Some(secs(3)));
}
