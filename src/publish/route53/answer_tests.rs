//! Tests of `publish/route53/answer.rs`.

use super::*;

fn rec(id: &str, routing: Routing, health: Health) -> SetRecord {
    SetRecord {
        set_identifier: id.into(),
        routing,
        health,
    }
}

fn failover_set(p: Health, s: Health) -> Vec<SetRecord> {
    vec![
        rec("eu-west-1", Routing::Failover(FailoverRole::Primary), p),
        rec("eu-central-1", Routing::Failover(FailoverRole::Secondary), s),
    ]
}

fn only(a: &Answer) -> &str {
    let to: Vec<&String> = a.shares.iter().filter(|(_, s)| **s > 0.0).map(|(id, _)| id).collect();
    assert_eq!(to.len(), 1, "{a:?}");
    to[0]
}

#[test]
fn failover_answers_the_primary_then_the_secondary_then_the_primary_again() {
    use Health::*;
    let a = answer(&failover_set(Healthy, Healthy)).unwrap();
    assert_eq!(only(&a), "eu-west-1");
    let a = answer(&failover_set(Unhealthy, Healthy)).unwrap();
    assert_eq!(only(&a), "eu-central-1");
    assert_eq!(a.why, "primary eu-west-1 unhealthy, secondary eu-central-1 healthy");
    assert_eq!(
        a.to_string(),
        "-> eu-central-1 (primary eu-west-1 unhealthy, secondary eu-central-1 healthy)"
    );
    let a = answer(&failover_set(Unhealthy, Unhealthy)).unwrap();
    assert_eq!(only(&a), "eu-west-1", "all unhealthy: Route 53 answers the primary");
    // A record without a check is healthy: a primary without one never fails over.
    assert_eq!(only(&answer(&failover_set(NoCheck, Healthy)).unwrap()), "eu-west-1");
    // A secondary without a check takes over from an unhealthy primary.
    assert_eq!(
        only(&answer(&failover_set(Unhealthy, NoCheck)).unwrap()),
        "eu-central-1"
    );
}

#[test]
fn a_check_not_read_yet_counts_healthy_and_says_so() {
    let a = answer(&failover_set(Health::Unknown, Health::Healthy)).unwrap();
    assert_eq!(only(&a), "eu-west-1");
    assert!(a.why.contains("not known yet"), "{}", a.why);
}

#[test]
fn weighted_shares_go_to_healthy_records_by_weight_or_to_all_when_none_is() {
    use Health::*;
    let set = |a, b, c| {
        vec![
            rec("a", Routing::Weighted(1), a),
            rec("b", Routing::Weighted(3), b),
            rec("c", Routing::Weighted(0), c),
        ]
    };
    let s = answer(&set(Healthy, Healthy, Healthy)).unwrap().shares;
    assert_eq!((s["a"], s["b"], s["c"]), (0.25, 0.75, 0.0));
    let a = answer(&set(Healthy, Unhealthy, NoCheck)).unwrap();
    assert_eq!(a.shares.get("b"), None, "an unhealthy record gets no answers");
    assert_eq!((a.shares["a"], a.shares["c"]), (1.0, 0.0));
    assert_eq!(a.why, "1 record(s) unhealthy, left out");
    let a = answer(&set(Unhealthy, Unhealthy, Unhealthy)).unwrap();
    assert_eq!(
        (a.shares["a"], a.shares["b"]),
        (0.25, 0.75),
        "none healthy: as if all were"
    );
    // Healthy records all of weight 0 share equally.
    let zero = vec![
        rec("x", Routing::Weighted(0), Healthy),
        rec("y", Routing::Weighted(0), Healthy),
    ];
    let s = answer(&zero).unwrap().shares;
    assert_eq!((s["x"], s["y"]), (0.5, 0.5));
}

#[test]
fn latency_sends_an_unhealthy_regions_clients_to_the_healthy_ones() {
    use Health::*;
    let set = |w, c| {
        vec![
            rec("ew1", Routing::Latency("eu-west-1".into()), w),
            rec("ec1", Routing::Latency("eu-central-1".into()), c),
        ]
    };
    let a = answer(&set(Healthy, Healthy)).unwrap();
    assert_eq!(a.by_region["eu-west-1"], vec!["ew1"]);
    assert_eq!(a.by_region["eu-central-1"], vec!["ec1"]);
    let a = answer(&set(Unhealthy, Healthy)).unwrap();
    assert_eq!(a.by_region["eu-west-1"], vec!["ec1"]);
    assert_eq!((a.shares["ew1"], a.shares["ec1"]), (0.0, 1.0));
    assert_eq!(
        a.why,
        "eu-west-1 unhealthy: its clients go to the nearest healthy Region"
    );
    let a = answer(&set(Unhealthy, Unhealthy)).unwrap();
    assert_eq!(
        a.by_region["eu-west-1"],
        vec!["ew1"],
        "none healthy: each Region its own"
    );
    assert_eq!((a.shares["ew1"], a.shares["ec1"]), (0.5, 0.5));
}

#[test]
fn an_empty_set_or_mixed_policies_have_no_answer() {
    assert_eq!(answer(&[]), None);
    let mixed = vec![
        rec("a", Routing::Weighted(1), Health::Healthy),
        rec("b", Routing::Latency("eu-west-1".into()), Health::Healthy),
    ];
    assert_eq!(answer(&mixed), None);
}
