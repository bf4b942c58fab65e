//! The public listener's limits: parsing and validation.

use super::*;

fn parse(yaml: &str) -> Result<PublicListener, Vec<String>> {
    let file: FileListener = serde_yaml::from_str(yaml).map_err(|e| vec![e.to_string()])?;
    let mut errs = Vec::new();
    let l = validate("publicListener", &file, &mut errs);
    if errs.is_empty() {
        Ok(l)
    } else {
        Err(errs)
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let l = parse("{}").unwrap();
    assert_eq!(l, PublicListener::default());
    assert_eq!((l.max_connections, l.max_connections_per_client), (4096, 64));
}

#[test]
fn cidrs_match_their_networks_only() {
    let c = Cidr::parse("10.0.0.0/16").unwrap();
    assert!(c.contains("10.0.255.1".parse().unwrap()));
    assert!(!c.contains("10.1.0.1".parse().unwrap()));
    assert!(c.contains("::ffff:10.0.3.4".parse().unwrap()), "mapped IPv4 counts");
    assert!(!c.contains("fd00::1".parse().unwrap()));
    let one = Cidr::parse("192.0.2.7").unwrap();
    assert!(one.contains("192.0.2.7".parse().unwrap()));
    assert!(!one.contains("192.0.2.8".parse().unwrap()));
    let v6 = Cidr::parse("fd00:ec2::/32").unwrap();
    assert!(v6.contains("fd00:ec2::254".parse().unwrap()));
    assert!(!v6.contains("fd00:ec3::1".parse().unwrap()));
    for bad in ["10.0.0.0/33", "x/8", "::/129", ""] {
        assert!(Cidr::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn bad_values_name_the_key_and_the_fix() {
    let errs = parse(
        "{ maxConnections: 0, maxConnectionsPerClient: 0, writeTimeoutSeconds: .nan, trustedProxies: [0.0.0.0/0, nope], maxConnectionAgeSeconds: -1 }",
    )
    .unwrap_err();
    let all = errs.join("\n");
    for key in [
        "publicListener.maxConnections: 0 is out of range; use 16",
        "publicListener.maxConnectionsPerClient: 0",
        "publicListener.writeTimeoutSeconds: .nan is not a number",
        "publicListener.maxConnectionAgeSeconds: -1",
        "publicListener.trustedProxies[0]: `0.0.0.0/0` trusts every address",
        "publicListener.trustedProxies[1]: `nope` is not a CIDR",
    ] {
        assert!(all.contains(key), "missing {key:?} in:\n{all}");
    }
    let errs = parse("{ allowFrom: [15.177.0.0/18, 1.2.3] }").unwrap_err();
    assert!(
        errs[0].starts_with("publicListener.allowFrom[1]: `1.2.3` is not a CIDR"),
        "{errs:?}"
    );
    let l = parse("{ allowFrom: [15.177.0.0/18] }").unwrap();
    assert!(l.allows("15.177.1.2".parse().unwrap()) && !l.allows("192.0.2.1".parse().unwrap()));
    assert!(
        PublicListener::default().allows("192.0.2.1".parse().unwrap()),
        "empty allows all"
    );
    let errs = parse("{ maxConnections: 100, maxConnectionsPerClient: 101 }").unwrap_err();
    assert!(errs[0].contains("use 1 to 100"), "{errs:?}");
    assert!(parse("{ maxconnections: 1 }").is_err(), "unknown keys are refused");
}
