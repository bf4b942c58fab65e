//! `failover-agent route53 answer NAME` against moto: record sets made by hand,
//! checks' statuses injected with the launcher's `check_status`, and the computed
//! answer for failover, weighted and latency sets (all unhealthy, records without
//! checks, the 18% rule). It only reads; an ambiguous zone is a usage error.

mod world;

use aws_sdk_route53::types::ResourceRecordSetRegion;
use failover_agent::cli::route53_answer::Report;
use serde_json::{json, Value};
use world::{create_zone, map, shares, World, R};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_answers_the_primary_while_route53_judges_it_healthy_else_a_healthy_secondary() {
    let mut w = World::new().await;
    let (c1, c2) = (w.check("eu-west-1").await, w.check("eu-central-1").await);
    let recs = vec![
        ("eu-west-1", R::Primary, Some(c1.as_str()), "192.0.2.10"),
        ("eu-central-1", R::Secondary, Some(c2.as_str()), "192.0.2.20"),
    ];
    w.records("app1.example.com", recs).await;
    w.moto.cmd(json!({"cmd": "stats_reset"}));

    let a = w.answer("App1.Example.com").await;
    assert_eq!(
        (a.policy, a.to.as_slice()),
        ("failover", &["eu-west-1".to_string()][..])
    );
    assert_eq!(a.why, "primary eu-west-1 healthy");
    assert_eq!(a.zone.id, w.zone);
    // 13 of 16 checkers failing leaves 3/16 = 18.75% succeeding: still healthy.
    w.status(&c1, 13);
    assert_eq!(w.answer("app1.example.com").await.to, ["eu-west-1"]);

    w.status(&c1, 14);
    let a = w.answer("app1.example.com").await;
    assert_eq!(
        a.summary,
        "-> eu-central-1 (primary eu-west-1 unhealthy, secondary eu-central-1 healthy)"
    );
    let text = a.text();
    assert!(
        text.starts_with(
            "app1.example.com  failover  -> eu-central-1 (primary eu-west-1 unhealthy, secondary eu-central-1 healthy)\n"
        ),
        "{text}"
    );
    assert!(text.contains(&format!("{c1}  unhealthy 2/16")), "{text}");
    assert!(text.contains(&format!("{c2}  healthy 16/16")), "{text}");

    w.status(&c2, 16);
    let a = w.answer("app1.example.com").await;
    assert_eq!(a.to, ["eu-west-1"], "both unhealthy: Route 53 answers the primary");
    assert!(a.why.contains("primary and secondary unhealthy"), "{}", a.why);

    // Once through the binary, as an operator runs it: the text, then the JSON.
    w.status(&c2, 0);
    let (code, out, err) = w.cli(&["app1.example.com"]);
    assert_eq!(code, 0, "{out}{err}");
    println!("$ failover-agent route53 answer app1.example.com\n{out}");
    // How long comes from Route 53's CloudWatch metric (the launcher keeps one value a check).
    assert!(
        out.starts_with("app1.example.com  failover  -> eu-central-1 (primary eu-west-1 unhealthy for at least "),
        "{out}"
    );
    assert!(out.contains(", secondary eu-central-1 healthy)\n"), "{out}");
    assert!(out.contains("unhealthy 2/16 for at least "), "{out}");
    assert!(out.contains("SET IDENTIFIER") && out.contains("192.0.2.20"), "{out}");
    let (code, out, err) = w.cli(&["app1.example.com", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["to"], json!(["eu-central-1"]), "{j}");
    assert_eq!(
        j["zone"],
        json!({"id": w.zone, "name": "example.com.", "private": false})
    );
    let primary = &j["records"][1];
    assert_eq!(
        (&primary["setIdentifier"], &primary["routing"], &primary["health"]),
        (&json!("eu-west-1"), &json!("failover primary"), &json!("unhealthy"))
    );
    assert_eq!(
        (&primary["checkersOk"], &primary["checkers"], &primary["share"]),
        (&json!(2), &json!(16), &json!(0.0))
    );
    assert!(
        primary["unhealthyForSeconds"].as_u64().is_some_and(|s| s < 180),
        "{primary}"
    );
    assert_eq!(
        primary["unhealthyAtLeast"], true,
        "no healthy value before it: {primary}"
    );
    assert_eq!(w.writes(), Vec::<String>::new(), "route53 answer only reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_shares_leave_unhealthy_records_out_and_count_records_without_checks_healthy() {
    let mut w = World::new().await;
    let (c1, c2) = (w.check("eu-west-1").await, w.check("eu-central-1").await);
    let recs = vec![
        ("blue", R::Weight(1), Some(c1.as_str()), "192.0.2.1"),
        ("green", R::Weight(3), Some(c2.as_str()), "192.0.2.2"),
        ("plain", R::Weight(1), None, "192.0.2.3"),
    ];
    w.records("app2.example.com", recs).await;
    // The same two checks behind another name, without a record lacking a check.
    let recs = vec![
        ("blue", R::Weight(1), Some(c1.as_str()), "192.0.2.1"),
        ("green", R::Weight(3), Some(c2.as_str()), "192.0.2.2"),
    ];
    w.records("app3.example.com", recs).await;
    w.moto.cmd(json!({"cmd": "stats_reset"}));

    let a = w.answer("app2.example.com").await;
    assert_eq!(a.policy, "weighted");
    assert_eq!(shares(&a), map(&[("blue", "20%"), ("green", "60%"), ("plain", "20%")]));
    let plain = &a.records[2];
    assert_eq!((plain.health, plain.health_check_id.as_deref()), ("noCheck", None));
    assert!(a.text().contains("no check"), "{}", a.text());

    w.status(&c2, 16);
    let a = w.answer("app2.example.com").await;
    assert_eq!(shares(&a), map(&[("blue", "50%"), ("green", "0%"), ("plain", "50%")]));
    assert_eq!(a.why, "1 record(s) unhealthy, left out");

    w.status(&c1, 16);
    let a = w.answer("app2.example.com").await;
    assert_eq!(a.to, ["plain"], "the record without a check counts healthy");
    let a = w.answer("app3.example.com").await;
    assert_eq!(
        shares(&a),
        map(&[("blue", "25%"), ("green", "75%")]),
        "none healthy: all, by weight"
    );
    assert!(a.why.contains("no record healthy"), "{}", a.why);
    assert_eq!(w.writes(), Vec::<String>::new(), "route53 answer only reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_clients_of_an_unhealthy_region_go_to_the_healthy_ones() {
    let mut w = World::new().await;
    let regions = [
        ("eu-west-1", ResourceRecordSetRegion::EuWest1),
        ("eu-central-1", ResourceRecordSetRegion::EuCentral1),
        ("us-east-1", ResourceRecordSetRegion::UsEast1),
    ];
    let mut checks = Vec::new();
    for (name, _) in &regions {
        checks.push(w.check(name).await);
    }
    let recs = regions
        .iter()
        .zip(&checks)
        .enumerate()
        .map(|(i, ((name, region), c))| {
            (
                *name,
                R::Latency(region.clone()),
                Some(c.as_str()),
                ["192.0.2.1", "192.0.2.2", "192.0.2.3"][i],
            )
        })
        .collect();
    w.records("app4.example.com", recs).await;
    w.moto.cmd(json!({"cmd": "stats_reset"}));
    let nearest = |a: &Report, region: &str| a.nearest.get(region).cloned().unwrap_or_default();

    let a = w.answer("app4.example.com").await;
    assert_eq!(a.policy, "latency");
    assert_eq!(
        shares(&a),
        map(&[("eu-central-1", "33%"), ("eu-west-1", "33%"), ("us-east-1", "33%")])
    );
    assert_eq!(nearest(&a, "eu-west-1"), ["eu-west-1"]);

    w.status(&checks[0], 16);
    let a = w.answer("app4.example.com").await;
    assert_eq!(nearest(&a, "eu-west-1"), ["eu-central-1", "us-east-1"]);
    assert_eq!(nearest(&a, "us-east-1"), ["us-east-1"]);
    assert_eq!(
        shares(&a),
        map(&[("eu-central-1", "50%"), ("eu-west-1", "0%"), ("us-east-1", "50%")])
    );
    assert!(
        a.text()
            .contains("clients nearest eu-west-1 get eu-central-1, us-east-1"),
        "{}",
        a.text()
    );

    for c in &checks {
        w.status(c, 16);
    }
    let a = w.answer("app4.example.com").await;
    for (region, _) in &regions {
        assert_eq!(nearest(&a, region), [*region], "none healthy: each Region its own");
    }
    assert_eq!(w.writes(), Vec::<String>::new(), "route53 answer only reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zone_is_the_longest_suffix_and_an_ambiguous_one_is_a_usage_error() {
    let mut w = World::new().await;
    let c = w.check("eu-west-1").await;
    w.records(
        "app1.example.com",
        vec![("eu-west-1", R::Primary, Some(c.as_str()), "192.0.2.10")],
    )
    .await;
    let sub = create_zone(&w.r53, "eu.example.com", None).await;
    let public = w.zone.clone();
    let (w_zone, w_sub) = (std::mem::replace(&mut w.zone, sub.clone()), sub);
    w.records("app9.eu.example.com", vec![("x", R::Weight(1), None, "192.0.2.99")])
        .await;
    w.zone = w_zone;
    assert_eq!(
        w.answer("app9.eu.example.com").await.zone.id,
        w_sub,
        "the longest suffix wins"
    );

    let (code, _, err) = w.cli(&["nothing.example.com"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nothing.example.com has no routed A records"), "{err}");
    let (code, _, err) = w.cli(&["app1.example.net"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no hosted zone in this account holds app1.example.net"),
        "{err}"
    );
    let (code, _, err) = w.cli(&["app1.example.com", "--output", "yaml"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--output"), "{err}");
    let (code, _, err) = w.cli(&["app1.example.com", "--zone-id", "ZNOSUCHZONE"]);
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("--zone-id ZNOSUCHZONE"), "{err}");

    // A record whose check was deleted: its status is unknown, counted healthy.
    let gone = w.check("gone").await;
    let recs = vec![
        ("a", R::Weight(1), Some(gone.as_str()), "192.0.2.5"),
        ("b", R::Weight(1), None, "192.0.2.6"),
    ];
    w.records("app5.example.com", recs).await;
    w.r53.delete_health_check().health_check_id(&gone).send().await.unwrap();
    let a = w.answer("app5.example.com").await;
    assert_eq!((a.records[0].health, a.records[0].check_missing), ("unknown", true));
    assert_eq!(shares(&a), map(&[("a", "50%"), ("b", "50%")]));
    assert!(a.text().contains("unknown (no such check)"), "{}", a.text());

    // A private zone of the same name: which one is meant? The operator says.
    let alb = w.moto.cmd(json!({"cmd": "create_alb", "zone": "other.example.org"}));
    let private = create_zone(&w.r53, "example.com", alb["vpc_id"].as_str()).await;
    w.moto.cmd(json!({"cmd": "stats_reset"}));
    let (code, _, err) = w.cli(&["app1.example.com"]);
    assert_eq!(code, 64, "{err}");
    assert!(
        err.contains(&format!("{public} (public)"))
            && err.contains(&format!("{private} (private)"))
            && err.contains("--zone-id"),
        "{err}"
    );
    let (code, out, err) = w.cli(&["app1.example.com", "--zone-id", &format!("/hostedzone/{public}")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("app1.example.com  failover  -> eu-west-1 (primary eu-west-1 healthy)"),
        "{out}"
    );
    assert_eq!(w.writes(), Vec::<String>::new(), "route53 answer only reads");
}
