//! Tests of `cluster/node/prober.rs`.

use super::*;

const RULES: ProbeTargets = ProbeTargets { allow_loopback: false };

fn assignment() -> ProbeAssignmentSpec {
    let app = crate::cluster::node::assignment::test_app;
    let mut bad = app(ProbeScheme::Http, Some("/x"), &["10.0.0.8:80"]);
    bad.probe.timeout_seconds = 5.0;
    ProbeAssignmentSpec {
        node: "a".into(),
        apps: BTreeMap::from([
            (
                "ns/web".to_string(),
                app(
                    ProbeScheme::Http,
                    Some("/ready"),
                    &["10.0.0.1:8080", "127.0.0.9:8080", "169.254.169.254:80", "nonsense"],
                ),
            ),
            ("ns/db".to_string(), app(ProbeScheme::Tcp, None, &["[fd00::3]:5432"])),
            ("ns/bad".to_string(), bad),
        ]),
        truncated: None,
    }
}

#[test]
fn a_node_probes_exactly_its_assignment_within_its_own_address_rules() {
    let a = assignment();
    let jobs = |rules: ProbeTargets| {
        let mut v: Vec<String> = assigned_jobs(Some(&a), rules)
            .iter()
            .map(|j| format!("{} {} {}", j.tag.app, j.target, j.tag.policy.rise_count))
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        jobs(RULES),
        ["ns/db tcp://[fd00::3]:5432 2", "ns/web http://10.0.0.1:8080/ready 2"],
        "no loopback, no metadata address, no unparsable one, no app with a timeout over its interval"
    );
    assert_eq!(
        jobs(ProbeTargets { allow_loopback: true }),
        [
            "ns/db tcp://[fd00::3]:5432 2",
            "ns/web http://10.0.0.1:8080/ready 2",
            "ns/web http://127.0.0.9:8080/ready 2"
        ]
    );
    assert!(assigned_jobs(None, RULES).is_empty(), "no assignment: nothing to probe");
}

#[test]
fn reports_change_only_on_debounced_transitions() {
    let a = assignment();
    let jobs = assigned_jobs(Some(&a), RULES);
    let probes = NodeProbes::default();
    let dirty = probes.subscribe();
    let ok = ProbeResult {
        outcome: crate::model::ProbeOutcome::Success,
        latency: Duration::ZERO,
        status: Some(200),
    };
    probes.observe(&jobs[0].tag, ok);
    assert!(!dirty.has_changed().unwrap(), "one success is not yet riseCount 2");
    probes.observe(&jobs[0].tag, ok);
    assert!(dirty.has_changed().unwrap());
    let report = probes.report();
    assert_eq!(
        report[&*jobs[0].tag.app][&jobs[0].tag.ip.to_string()],
        EndpointState::Up
    );
    probes.retain(&jobs[1..]);
    assert!(
        !probes.report().contains_key(&*jobs[0].tag.app),
        "gone endpoints leave the report"
    );
    probes.retain(&assigned_jobs(None, RULES));
    assert!(probes.report().is_empty(), "no assignment: nothing reported");
}

#[test]
fn each_scheme_probes_its_own_way() {
    let addr: SocketAddr = "10.0.0.8:8443".parse().unwrap();
    let uri = |t: Option<Target>| match t {
        Some(Target::Http { uri, .. }) => uri.to_string(),
        other => format!("{other:?}"),
    };
    assert_eq!(
        uri(target(addr, ProbeScheme::Https, "/ready")),
        "https://10.0.0.8:8443/ready"
    );
    assert_eq!(
        uri(target(addr, ProbeScheme::Http, "/ready")),
        "http://10.0.0.8:8443/ready"
    );
    assert_eq!(target(addr, ProbeScheme::Tcp, "/ready"), Some(Target::Tcp { addr }));
    assert_eq!(target(addr, ProbeScheme::Grpc, "/ready"), Some(Target::Grpc { addr }));
}
