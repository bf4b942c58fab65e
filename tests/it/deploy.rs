//! The Helm chart lints and renders to objects that pass `kubernetes-validate
//! --strict`; the committed plain manifests, CRD copy and alert copy match; the
//! rendered DaemonSet keeps its security properties and RBAC its least privilege
//! (all in `deploy/check.py`).

use std::process::Command;

#[test]
fn the_chart_renders_valid_objects_and_the_plain_manifests_are_in_sync() {
    let out = Command::new("python3")
        .arg("deploy/check.py")
        .output()
        .expect("python3 runs deploy/check.py (bash .ci/run installs helm-python-sdk and kubernetes-validate)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "deploy checks failed:\n{text}");
    for check in ["lint", "schema", "manifest", "security", "rbac"] {
        assert!(text.to_lowercase().contains(check), "no {check} check ran:\n{text}");
    }
}
