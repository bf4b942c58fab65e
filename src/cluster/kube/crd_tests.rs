//! Tests of `cluster/kube/crd.rs`.

use super::*;

#[test]
fn committed_crd_matches_the_rust_types() {
    let committed = include_str!("../../../deploy/crd/crds.yaml");
    let generated = crd_yaml().unwrap();
    assert!(
            committed == generated,
            "deploy/crd/crds.yaml is out of date: run `cargo run -- crd > deploy/crd/crds.yaml`, then `.venv/bin/python deploy/check.py --write` for the chart's copy"
        );
}

#[test]
fn the_example_parses_with_defaults() {
    let ah: AppHealth = serde_yaml::from_str(include_str!("../../../deploy/examples/apphealth.yaml")).unwrap();
    assert_eq!(ah.spec.services, ["app1"]);
    assert_eq!(ah.spec.probe.scheme, ProbeScheme::Http);
    assert_eq!(ah.spec.probe.port, Some(8080));
    assert_eq!(ah.spec.policy.keys.min_healthy_percent, Some(50));
    assert_eq!(ah.spec.override_mode, OverrideMode::None);
    assert!(ah.spec.app.is_none(), "app defaults to metadata.name");
}
