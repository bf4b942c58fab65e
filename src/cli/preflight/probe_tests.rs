//! Tests of `cli/preflight/probe.rs`.

use super::*;

fn check(port: u16) -> CheckConfig {
    CheckConfig {
        protocol: Protocol::Http,
        fqdn: "health.example.com".into(),
        port,
        path: "/health/app1".into(),
        search_string: None,
        interval: 10,
        failure_threshold: 3,
        alarm: None,
    }
}

#[test]
fn host_is_the_name_on_80_and_443_else_name_and_port() {
    assert_eq!(host_header(&check(80)), "health.example.com");
    assert_eq!(host_header(&check(443)), "health.example.com");
    assert_eq!(host_header(&check(8080)), "health.example.com:8080");
}
