//! `route53.recordTypes` against moto: a dual-stack app gets an A and an AAAA
//! alias record on its one check, read back by both of the reconciler's read paths
//! (name by name, and by listing the zone); dropping a type deletes only that
//! record; a bad list is a configuration error.

use crate::route53::{fixture, Fixture};
use aws_sdk_route53::types::{ResourceRecordSet, RrType};

/// A config of `apps` (name, recordTypes as YAML, or "" for the default).
fn config(f: &Fixture, apps: &[(&str, &str)]) -> std::path::PathBuf {
    let mut y =
        String::from("region: eu-west-1\nclusterId: prod-eu\npublicHostname: health.eu-west-1.example.com\napps:\n");
    for (name, types) in apps {
        y += &format!(
            "  - name: {name}\n    endpoints: [\"http://127.0.0.1:1/\"]\n    route53:\n      hostedZoneId: {}\n      recordName: {name}.example.com\n      routing: {{ failover: {{ role: PRIMARY }} }}\n      aliasTarget: {{ dnsName: {}, hostedZoneId: {} }}\n",
            f.zone, f.alb_dns, f.alb_zone
        );
        if !types.is_empty() {
            y += &format!("      recordTypes: {types}\n");
        }
    }
    let path = f.dir.path().join("agent.yaml");
    std::fs::write(&path, y).unwrap();
    path
}

async fn all_records(f: &Fixture) -> Vec<ResourceRecordSet> {
    let out = f
        .moto
        .route53()
        .list_resource_record_sets()
        .hosted_zone_id(&f.zone)
        .send()
        .await
        .unwrap();
    out.resource_record_sets().to_vec()
}

/// The types of `name`'s records, with the check each uses.
async fn types_of(f: &Fixture, name: &str) -> Vec<(RrType, Option<String>)> {
    let fq = format!("{name}.example.com.");
    let mut out: Vec<(RrType, Option<String>)> = all_records(f)
        .await
        .iter()
        .filter(|r| r.name() == fq)
        .map(|r| (r.r#type().clone(), r.health_check_id().map(str::to_owned)))
        .collect();
    out.sort_by_key(|(t, _)| t.as_str().to_owned());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dual_stack_records_share_the_check_converge_and_shrink() {
    let f = fixture();
    // One app (read name by name), then five in the zone (read by listing it).
    for apps in [
        vec![("app1", "[A, AAAA]")],
        vec![
            ("app1", "[A, AAAA]"),
            ("app2", ""),
            ("app3", "[AAAA]"),
            ("app4", ""),
            ("app5", ""),
        ],
    ] {
        let cfg = config(&f, &apps);
        let (code, out) = f.cli("apply", &cfg);
        assert_eq!(code, 0, "{out}");
        let (code, out) = f.cli("plan", &cfg);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("Plan: 0 to create, 0 to change, 0 to delete"),
            "converged: {out}"
        );
    }
    let app1 = types_of(&f, "app1").await;
    assert_eq!(
        app1.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
        [RrType::A, RrType::Aaaa]
    );
    assert!(
        app1[0].1.is_some() && app1[0].1 == app1[1].1,
        "one check for both: {app1:?}"
    );
    assert_eq!(types_of(&f, "app2").await.len(), 1, "default [A]");
    assert_eq!(types_of(&f, "app3").await[0].0, RrType::Aaaa, "IPv6 only");

    // app1 back to IPv4 only: its AAAA record goes, its A record and check stay.
    let cfg = config(
        &f,
        &[
            ("app1", "[A]"),
            ("app2", ""),
            ("app3", "[AAAA]"),
            ("app4", ""),
            ("app5", ""),
        ],
    );
    let (code, out) = f.cli("plan", &cfg);
    assert!(
        code == 0 && out.contains("- record") && out.contains("app1.example.com. AAAA"),
        "{out}"
    );
    assert!(out.contains("Plan: 0 to create, 0 to change, 1 to delete"), "{out}");
    let (code, out) = f.cli("apply", &cfg);
    assert_eq!(code, 0, "{out}");
    let after = types_of(&f, "app1").await;
    assert_eq!(after, [app1[0].clone()], "the A record is untouched");
}

#[tokio::test]
async fn a_bad_record_type_list_is_a_config_error() {
    let f = fixture();
    for (types, says) in [
        ("[]", "recordTypes: is empty"),
        ("[A, A]", "names a type twice"),
        ("[CNAME]", "unknown variant"),
    ] {
        let cfg = config(&f, &[("app1", types)]);
        let (code, out) = f.cli("plan", &cfg);
        assert_eq!(code, 64, "{types}: {out}");
        assert!(out.contains(says), "{types}: {out}");
    }
}
