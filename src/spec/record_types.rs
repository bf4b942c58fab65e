//! `route53.recordTypes`: which alias records an app gets at its name, `A` for
//! IPv4 clients and `AAAA` for IPv6 ones. Every type shares the app's one health
//! check, so both answers fail over together.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A record type the agent makes.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
pub enum RecordType {
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
}

impl RecordType {
    /// Route 53's name of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
        }
    }

    /// The types an alias to a load balancer of this `IpAddressType` should have:
    /// `A` for `ipv4`, `A` and `AAAA` for `dualstack` and
    /// `dualstack-without-public-ipv4` (whose AAAA answers carry the public
    /// traffic, and whose A answers still reach it from inside the VPC).
    pub fn for_ip_address_type(t: &str) -> Vec<RecordType> {
        if t.starts_with("dualstack") {
            vec![RecordType::A, RecordType::Aaaa]
        } else {
            vec![RecordType::A]
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validates `recordTypes` at `at`: `None` stays `None` (the caller's default),
/// a list must be non-empty and name each type once. Returns the types sorted.
pub fn validate(at: &str, given: Option<&[RecordType]>, errs: &mut Vec<String>) -> Option<Vec<RecordType>> {
    let given = given?;
    let mut types = given.to_vec();
    types.sort();
    types.dedup();
    if types.is_empty() {
        errs.push(format!(
            "{at}.recordTypes: is empty; list A, AAAA or both (e.g. [A, AAAA] for a dual-stack load balancer), or leave it out"
        ));
    } else if types.len() != given.len() {
        errs.push(format!(
            "{at}.recordTypes: names a type twice; list each of A and AAAA once"
        ));
    }
    Some(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates_record_types() {
        let both: Vec<RecordType> = serde_yaml::from_str("[AAAA, A]").expect("parses");
        let mut errs = Vec::new();
        assert_eq!(
            validate("apps[0].route53", Some(&both), &mut errs),
            Some(vec![RecordType::A, RecordType::Aaaa])
        );
        assert!(errs.is_empty());
        assert_eq!(validate("x", None, &mut errs), None);
        validate("apps[0].route53", Some(&[]), &mut errs);
        validate("apps[0].route53", Some(&[RecordType::A, RecordType::A]), &mut errs);
        assert!(errs[0].starts_with("apps[0].route53.recordTypes: is empty"), "{errs:?}");
        assert!(errs[1].contains("names a type twice"), "{errs:?}");
        assert!(serde_yaml::from_str::<Vec<RecordType>>("[CNAME]").is_err());
    }

    #[test]
    fn dual_stack_load_balancers_get_both_types() {
        use RecordType::*;
        assert_eq!(RecordType::for_ip_address_type("ipv4"), vec![A]);
        assert_eq!(RecordType::for_ip_address_type("dualstack"), vec![A, Aaaa]);
        assert_eq!(
            RecordType::for_ip_address_type("dualstack-without-public-ipv4"),
            vec![A, Aaaa]
        );
    }
}
