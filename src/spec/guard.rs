//! Address rules for probes. Probes go only to the app's own endpoints, and never
//! to link-local or cloud metadata addresses, whatever a config or object says.

use std::net::IpAddr;

/// Returns why `ip` must never be probed, or `None` if it may be.
///
/// Refused always: IPv4 link-local 169.254.0.0/16 (which holds the EC2 instance
/// metadata service 169.254.169.254), the EC2 IPv6 metadata range fd00:ec2::/32,
/// IPv6 link-local fe80::/10, unspecified, broadcast and multicast addresses.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) if v4.is_link_local() => Some("a link-local/metadata address (169.254.0.0/16)"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("the broadcast address"),
        IpAddr::V6(v6) if v6.segments()[0] == 0xfd00 && v6.segments()[1] == 0x0ec2 => {
            Some("the EC2 IPv6 metadata range (fd00:ec2::/32)")
        }
        IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80 => Some("an IPv6 link-local address (fe80::/10)"),
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_link_local()) => {
            Some("a link-local/metadata address (169.254.0.0/16)")
        }
        ip if ip.is_unspecified() => Some("the unspecified address"),
        ip if ip.is_multicast() => Some("a multicast address"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::forbidden;

    #[test]
    fn refuses_metadata_and_link_local_always() {
        for bad in [
            "169.254.169.254",
            "169.254.0.1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:169.254.169.254",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
        ] {
            assert!(forbidden(bad.parse().unwrap()).is_some(), "{bad} must be refused");
        }
        for ok in [
            "127.0.0.1",
            "10.0.1.7",
            "192.168.3.4",
            "::1",
            "fd00:ec3::1",
            "2001:db8::1",
        ] {
            assert!(forbidden(ok.parse().unwrap()).is_none(), "{ok} must be allowed");
        }
    }
}
