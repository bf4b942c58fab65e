//! Tests of `spec/route53_policy.rs`.

use super::*;

fn policy(yaml: &str) -> Route53Policy {
    serde_yaml::from_str(yaml).unwrap()
}

fn two_teams() -> Route53Policy {
    policy(
        r#"
zones:
  - id: Z1
    names: ["*.example.com", "api.example.com"]
    namespaces: ["payments", "shop-*"]
  - id: /hostedzone/Z2
    names: ["app.other.com."]
    namespaces: ["*"]
"#,
    )
}

#[test]
fn exact_and_wildcard_names_match_case_and_trailing_dots_aside() {
    let p = two_teams();
    for name in [
        "api.example.com",
        "API.Example.COM.",
        "app1.example.com",
        "a.b.example.com",
        "*.example.com",
    ] {
        assert_eq!(p.check("payments", "Z1", name), Ok(()), "{name}");
    }
    assert_eq!(p.check("anyone", "Z2", "APP.other.com"), Ok(()));
    assert!(p.check("anyone", "Z2", "x.app.other.com").is_err(), "exact is exact");
}

#[test]
fn a_wildcard_does_not_match_its_apex_nor_a_lookalike() {
    let p = two_teams();
    for name in ["example.com", "example.com.", "badexample.com", "example.com.evil.net"] {
        let e = p.check("payments", "Z1", name).unwrap_err();
        assert!(
            e.starts_with(&format!("record name {name} is not allowed in zone Z1")),
            "{e}"
        );
    }
    let apex = policy("zones: [{id: Z1, names: [example.com, \"*.example.com\"], namespaces: [a]}]");
    assert_eq!(
        apex.check("a", "Z1", "example.com"),
        Ok(()),
        "the apex must be listed itself"
    );
}

#[test]
fn zone_ids_compare_bare_with_or_without_the_hostedzone_prefix() {
    let p = two_teams();
    assert_eq!(p.check("payments", "/hostedzone/Z1", "x.example.com"), Ok(()));
    assert_eq!(p.check("x", "Z2", "app.other.com"), Ok(()));
    assert_eq!(p.check("x", "/hostedzone/Z2", "app.other.com"), Ok(()));
    assert_eq!(
        p.check("payments", " z1 ", "x.example.com"),
        Ok(()),
        "IDs are case-insensitive"
    );
}

#[test]
fn namespaces_are_exact_star_or_a_prefix_glob() {
    let p = two_teams();
    assert_eq!(p.check("shop-eu", "Z1", "x.example.com"), Ok(()));
    assert_eq!(p.check("shop-", "Z1", "x.example.com"), Ok(()));
    for ns in ["shop", "payments-2", "payment", "Payments"] {
        assert!(p.check(ns, "Z1", "x.example.com").is_err(), "{ns}");
    }
    assert!(namespace_matches("*", "anything"));
    assert!(!namespace_matches("pay", "payments"));
}

#[test]
fn each_miss_is_named_with_the_fix() {
    let p = two_teams();
    assert_eq!(
        p.check("payments", "Z9", "a.example.com").unwrap_err(),
        "zone Z9 is not in route53Policy (allowed zones: Z1, /hostedzone/Z2); ask the platform team to add it"
    );
    assert_eq!(
            p.check("payments", "Z1", "app1.other.com").unwrap_err(),
            "record name app1.other.com is not allowed in zone Z1 for namespace payments (names: *.example.com, api.example.com); use one of those names, or ask the platform team to allow this one"
        );
    assert_eq!(
            p.check("team-x", "Z1", "a.example.com").unwrap_err(),
            "namespace team-x may not use zone Z1 (namespaces: payments, shop-*); ask the platform team to add the namespace to route53Policy"
        );
    assert_eq!(
        Route53Policy::default().check("a", "Z1", "a.example.com").unwrap_err(),
        NO_POLICY
    );
}

#[test]
fn the_most_specific_miss_wins_in_a_shared_zone() {
    let p = policy(
        r#"
zones:
  - { id: Z1, names: ["*.payments.example.com"], namespaces: [payments] }
  - { id: Z1, names: ["*.shop.example.com"], namespaces: ["shop-*"] }
  - { id: Z1, names: ["*.ops.example.com"], namespaces: [ops] }
"#,
    );
    assert_eq!(p.check("payments", "Z1", "api.payments.example.com"), Ok(()));
    assert_eq!(p.check("shop-eu", "Z1", "www.shop.example.com"), Ok(()));
    // The namespace has a rule in the zone: the names it may use.
    let e = p.check("payments", "Z1", "www.shop.example.com").unwrap_err();
    assert!(e.contains("(names: *.payments.example.com)"), "{e}");
    // No rule lets the namespace in, but one has the name: whom that name is for.
    let e = p.check("team-x", "Z1", "www.shop.example.com").unwrap_err();
    assert!(
        e.starts_with("namespace team-x may not use zone Z1 (namespaces: shop-*)"),
        "{e}"
    );
    // Neither: every namespace of the zone.
    let e = p.check("team-x", "Z1", "www.nobody.example.com").unwrap_err();
    assert!(e.contains("(namespaces: payments, shop-*, ops)"), "{e}");
}

#[test]
fn validation_names_each_field_and_the_fix() {
    let p = policy(
        r#"
zones:
  - { id: "Z-1", names: [], namespaces: [] }
  - { id: "/hostedzone/", names: ["*", "a..b", "*.*.example.com", "ok.example.com", "*.example.com."], namespaces: ["", "Team", "a*b", "shop-*", "*", "-x"] }
  - { id: "/hostedzone/Z0123", names: [x.example.com], namespaces: [payments] }
"#,
    );
    let mut errs = Vec::new();
    p.validate("route53Policy", &mut errs);
    let all = errs.join("\n");
    for want in [
        "route53Policy.zones[0].id: `Z-1` is not a hosted zone ID",
        "route53Policy.zones[0].names: is empty",
        "route53Policy.zones[0].namespaces: is empty",
        "route53Policy.zones[1].id: `/hostedzone/` is not a hosted zone ID",
        "route53Policy.zones[1].names[0]: `*` is not a DNS name",
        "route53Policy.zones[1].names[1]: `a..b`",
        "route53Policy.zones[1].names[2]: `*.*.example.com`",
        "route53Policy.zones[1].namespaces[0]: `` is not a namespace",
        "route53Policy.zones[1].namespaces[1]: `Team`",
        "route53Policy.zones[1].namespaces[2]: `a*b`",
        "route53Policy.zones[1].namespaces[5]: `-x`",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    assert_eq!(errs.len(), 11, "{all}");
    let mut errs = Vec::new();
    two_teams().validate("route53Policy", &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn unknown_keys_are_errors() {
    let e = serde_yaml::from_str::<Route53Policy>("zones: [{id: Z1, name: [a.example.com]}]").unwrap_err();
    assert!(e.to_string().contains("unknown field `name`"), "{e}");
}
