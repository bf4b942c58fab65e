//! The operator's Route 53 policy (settings file, `route53Policy`): which hosted
//! zones the agent may write in, which record names there, and which namespaces
//! may use them. Default deny: no zones, no writes. Pure, no I/O.
//!
//! ```yaml
//! route53Policy:
//!   zones:
//!     - id: Z0123456789EXAMPLE
//!       names: ["*.example.com", "api.example.com"]
//!       namespaces: ["payments", "shop-*"]
//! ```

use super::route53::bare_zone;
use super::route53::fqdn;
use serde::{Deserialize, Serialize};

/// The policy as written. An empty list of zones allows nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Route53Policy {
    #[serde(default)]
    pub zones: Vec<ZoneRule>,
}

/// One rule: in zone `id`, the record `names` may be used by the `namespaces`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ZoneRule {
    /// The hosted zone ID, `Z...` or `/hostedzone/Z...`.
    pub id: String,
    /// Record names: exact, or `*.domain` for any name strictly below `domain`.
    #[serde(default)]
    pub names: Vec<String>,
    /// Namespaces: exact, `*` for all, or a prefix glob such as `shop-*`.
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// The message for a policy without zones.
pub const NO_POLICY: &str =
    "no route53Policy: the operator has not allowed any hosted zone (settings file, route53Policy.zones)";

impl ZoneRule {
    fn zone_is(&self, zone: &str) -> bool {
        bare_zone(&self.id).eq_ignore_ascii_case(zone)
    }

    /// True if `record_name` is one of the rule's names.
    pub fn allows_name(&self, record_name: &str) -> bool {
        let name = fqdn(record_name);
        self.names.iter().any(|n| name_matches(n, &name))
    }

    /// True if `namespace` is one of the rule's namespaces.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|p| namespace_matches(p, namespace))
    }
}

/// `pattern` against `name` (already an [`fqdn`]): exact, or `*.d` for a name
/// strictly below `d` (any depth; not `d` itself). Case and trailing dots ignored.
fn name_matches(pattern: &str, name: &str) -> bool {
    let p = fqdn(pattern);
    match p.strip_prefix("*.") {
        Some(domain) => name.len() > domain.len() + 1 && name.ends_with(&format!(".{domain}")),
        None => p == name,
    }
}

/// `pattern` against `namespace`: exact, `*` for all, or a trailing-`*` prefix.
fn namespace_matches(pattern: &str, namespace: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => namespace.starts_with(prefix),
        None => pattern == namespace,
    }
}

/// `a, b, c`, each as written.
fn list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let mut v: Vec<&str> = Vec::new();
    for s in items {
        if !v.contains(&s.as_str()) {
            v.push(s);
        }
    }
    v.join(", ")
}

impl Route53Policy {
    /// Ok when one rule allows `namespace` to write `record_name` in `zone_id`.
    /// Otherwise one sentence naming the most specific miss and the fix: the zone;
    /// else the name (when some rule of the zone lets the namespace in); else the
    /// namespace.
    pub fn check(&self, namespace: &str, zone_id: &str, record_name: &str) -> Result<(), String> {
        if self.zones.is_empty() {
            return Err(NO_POLICY.into());
        }
        let zone = bare_zone(zone_id);
        let rules: Vec<&ZoneRule> = self.zones.iter().filter(|r| r.zone_is(&zone)).collect();
        if rules.is_empty() {
            return Err(format!(
                "zone {zone} is not in route53Policy (allowed zones: {}); ask the platform team to add it",
                list(self.zones.iter().map(|r| &r.id))
            ));
        }
        if rules
            .iter()
            .any(|r| r.allows_namespace(namespace) && r.allows_name(record_name))
        {
            return Ok(());
        }
        let mine: Vec<&ZoneRule> = rules
            .iter()
            .copied()
            .filter(|r| r.allows_namespace(namespace))
            .collect();
        if !mine.is_empty() {
            return Err(format!(
                "record name {record_name} is not allowed in zone {zone} for namespace {namespace} (names: {}); use one of those names, or ask the platform team to allow this one",
                list(mine.iter().flat_map(|r| &r.names))
            ));
        }
        let named: Vec<&ZoneRule> = rules.iter().copied().filter(|r| r.allows_name(record_name)).collect();
        let asked = if named.is_empty() { &rules } else { &named };
        Err(format!(
            "namespace {namespace} may not use zone {zone} (namespaces: {}); ask the platform team to add the namespace to route53Policy",
            list(asked.iter().flat_map(|r| &r.namespaces))
        ))
    }

    /// Validates the policy found at `at` (e.g. `route53Policy`): problems go to
    /// `errs` with the field path and the fix.
    pub fn validate(&self, at: &str, errs: &mut Vec<String>) {
        for (i, r) in self.zones.iter().enumerate() {
            let at = format!("{at}.zones[{i}]");
            let id = bare_zone(&r.id);
            if id.is_empty() || !id.bytes().all(|c| c.is_ascii_alphanumeric()) {
                errs.push(format!("{at}.id: `{}` is not a hosted zone ID; use the ID from `aws route53 list-hosted-zones`, e.g. Z0123456789EXAMPLE", r.id.escape_debug()));
            }
            if r.names.is_empty() {
                errs.push(format!("{at}.names: is empty, so the rule allows nothing; list the record names allowed in this zone, e.g. [\"*.example.com\", \"example.com\"]"));
            }
            for (j, n) in r.names.iter().enumerate() {
                if !is_dns_name(n.strip_prefix("*.").unwrap_or(n)) {
                    errs.push(format!("{at}.names[{j}]: `{}` is not a DNS name; write an exact name such as api.example.com, or `*.` and a domain for the names strictly below it, e.g. *.example.com", n.escape_debug()));
                }
            }
            if r.namespaces.is_empty() {
                errs.push(format!("{at}.namespaces: is empty, so the rule allows nothing; list the namespaces that may use these names, e.g. [payments, \"shop-*\"], or [\"*\"] for all"));
            }
            for (j, ns) in r.namespaces.iter().enumerate() {
                if !is_namespace_pattern(ns) {
                    errs.push(format!("{at}.namespaces[{j}]: `{}` is not a namespace; write a name such as payments, a prefix ending in `*` such as shop-*, or `*` for all", ns.escape_debug()));
                }
            }
        }
    }
}

/// A DNS name without wildcards: labels of letters, digits, `-` and `_`, trailing dot optional.
fn is_dns_name(s: &str) -> bool {
    let s = s.trim_end_matches('.');
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `*`, or a Kubernetes namespace name (lowercase letters, digits, `-`; at most 63),
/// or a prefix of one followed by `*`.
fn is_namespace_pattern(p: &str) -> bool {
    let (body, glob) = match p.strip_suffix('*') {
        Some(b) => (b, true),
        None => (p, false),
    };
    let chars_ok = body.len() <= 63
        && body
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let starts_ok = body.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric());
    chars_ok && starts_ok && (glob || (!body.is_empty() && !body.ends_with('-')))
}

#[cfg(test)]
mod tests {
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
}
