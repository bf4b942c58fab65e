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
#[path = "route53_policy_tests.rs"]
mod tests;
