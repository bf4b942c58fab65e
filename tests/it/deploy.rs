//! The Helm chart lints and renders to objects that pass `kubernetes-validate
//! --strict`; the committed plain manifests, CRD copy and alert copy match; the
//! rendered DaemonSet keeps its security properties and RBAC its least privilege
//! (all in `deploy/check.py`).

use crate::support::{require_python_modules, require_tool};
use std::process::Command;

#[test]
fn the_chart_renders_valid_objects_and_the_plain_manifests_are_in_sync() {
    // check.py skips its promtool check when there is none; the suite wants it run.
    require_tool("promtool");
    let python = require_python_modules(&["helm_python", "jsonschema", "kubernetes_validate", "yaml"]);
    let out = Command::new(python)
        .arg("deploy/check.py")
        .output()
        .expect("python3 runs deploy/check.py");
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
