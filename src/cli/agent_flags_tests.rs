//! Tests of `cli/agent_flags.rs`.

use super::*;

fn daemonset(vars: &[(&str, &str)]) -> crate::cluster::kube::agent_env::AgentEnv {
    crate::cluster::kube::agent_env::AgentEnv {
        env: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        settings: None,
        read: true,
    }
}

#[test]
fn the_daemonset_fills_what_the_flags_leave_out_and_flags_win() {
    let ds = daemonset(&[
        ("CLUSTER_ID", "prod-eu"),
        ("PUBLIC_HOSTNAME", "health.eu-west-1.example.com"),
        ("AWS_REGION", "eu-west-1"),
        ("PUBLIC_PROTOCOL", "HTTPS"),
        ("PUBLIC_PORT", "443"),
        ("MATCH_VERDICT", "true"),
    ]);
    let s = AgentFlags::default().resolve(&ds).unwrap();
    let o = s.owner.unwrap();
    assert_eq!(
        (o.cluster_id.as_str(), o.public.port, o.public.match_verdict),
        ("prod-eu", 443, true)
    );
    assert_eq!(s.region.as_deref(), Some("eu-west-1"));
    assert_eq!(s.from_daemonset.len(), 6);

    let flags = AgentFlags {
        listener: ListenerArgs {
            public_port: Some(8443),
            match_verdict: Some(false),
            ..Default::default()
        },
        ..Default::default()
    };
    let s = flags.resolve(&ds).unwrap();
    let o = s.owner.unwrap();
    assert_eq!(
        (o.public.protocol, o.public.port, o.public.match_verdict),
        (Protocol::Https, 8443, false)
    );
    assert!(!s.from_daemonset.contains(&"PUBLIC_PORT"));
}

#[test]
fn the_settings_file_gives_the_policy_and_fills_in_under_the_env() {
    let mut agent = daemonset(&[("CLUSTER_ID", "prod-eu"), ("AWS_REGION", "eu-west-1")]);
    agent.settings = Some(
            "publicHostname: health.eu-west-1.example.com\nroute53Policy:\n  zones:\n    - { id: Z1, names: [\"*.example.com\"], namespaces: [payments] }\n".into(),
        );
    let s = AgentFlags::default().resolve(&agent).unwrap();
    assert_eq!(s.owner.unwrap().public_hostname, "health.eu-west-1.example.com");
    let policy = s.policy.unwrap();
    assert!(policy.check("payments", "Z1", "app1.example.com.").is_ok());
    assert!(policy.check("shop", "Z1", "app1.example.com.").is_err());
    // An agent with no settings file allows nothing; an unread DaemonSet tells nothing.
    let s = AgentFlags::default().resolve(&daemonset(&[])).unwrap();
    assert!(s.policy.unwrap().check("payments", "Z1", "app1.example.com.").is_err());
    let unread = crate::cluster::kube::agent_env::AgentEnv::default();
    assert_eq!(AgentFlags::default().resolve(&unread).unwrap().policy, None);
    // A file the agent would refuse is refused here too.
    agent.settings = Some("route53Policy: { zones: [ { id: Z1 } ] }\n".into());
    assert!(AgentFlags::default().resolve(&agent).is_err());
}

#[test]
fn a_value_the_agent_would_refuse_is_refused_and_nothing_means_no_route53() {
    let e = AgentFlags::default()
        .resolve(&daemonset(&[
            ("CLUSTER_ID", "c"),
            ("PUBLIC_HOSTNAME", "h.example.com"),
            ("PUBLIC_PORT", "x"),
        ]))
        .unwrap_err();
    assert!(e.contains("PUBLIC_PORT: `x` is not a port"), "{e}");
    let s = AgentFlags::default().resolve(&daemonset(&[])).unwrap();
    assert_eq!((s.owner, s.region), (None, None));
}
