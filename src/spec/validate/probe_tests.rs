//! `probe.tls` in the static file and in `AppHealth`: what it becomes, and error
//! messages that name the field and the fix.

use super::super::ProbeTls;
use crate::cluster::kube::spec::settings;
use crate::spec::parse;

fn errors(yaml: &str) -> String {
    match parse(yaml) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn static_tls_keys_become_the_probe_tls_setting() {
    let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/tls/probe-ca.crt");
    let cfg = parse(&format!(
        "region: r\napps:\n  - name: a\n    endpoints: [\"https://10.0.0.1:8443/\"]\n    probe: {{ tls: {{ verify: true, caFile: \"{ca}\", serverName: probe.test }} }}\n  - name: b\n    endpoints: [\"https://10.0.0.2:8443/\"]\n    probe: {{ tls: {{ verify: false }} }}\n"
    ))
    .unwrap();
    assert_eq!(
        cfg.apps[0].probe.tls,
        Some(ProbeTls {
            verify: true,
            ca_file: Some(ca.into()),
            server_name: Some("probe.test".into()),
        })
    );
    assert_eq!(cfg.apps[1].probe.tls, None, "verify: false alone is the default client");
}

#[test]
fn bad_static_tls_keys_name_the_field_and_the_fix() {
    let e = errors(
        r#"
region: r
apps:
  - name: a
    endpoints: ["http://10.0.0.1:80/"]
    probe: { tls: { verify: true } }
  - name: b
    endpoints: ["https://10.0.0.2:8443/"]
    probe: { tls: { caFile: /etc/ca.pem } }
  - name: c
    endpoints: ["https://10.0.0.3:8443/"]
    probe: { tls: { verify: true, caFile: /nonexistent/ca.pem, serverName: "not a name" } }
"#,
    );
    for want in [
        "apps[0].probe.tls: is for https:// endpoints and the app has none; remove it or list the endpoints as https://IP:PORT/path",
        "apps[1].probe.tls.caFile: is used only to verify certificates; set probe.tls.verify: true or remove caFile",
        "apps[2].probe.tls.serverName: `not a name` is not a DNS name or IP address",
        "apps[2].probe.tls.caFile: cannot read `/nonexistent/ca.pem`",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    let typo = errors("region: r\napps:\n  - name: d\n    endpoints: [\"https://10.0.0.4:8443/\"]\n    probe: { tls: { verfy: true } }\n");
    assert!(typo.contains("apps[0].probe.tls: unknown field `verfy`"), "{typo}");
}

#[test]
fn an_app_health_ca_file_is_a_plain_name_and_tls_is_for_https_only() {
    let check = |v: serde_json::Value| settings(&serde_json::from_value(v).unwrap());
    let ok = check(serde_json::json!({ "services": ["web"],
        "probe": { "scheme": "HTTPS", "tls": { "verify": true, "caFile": "payments-ca.pem" } } }))
    .unwrap();
    assert_eq!(
        ok.probe.tls.as_ref().and_then(|t| t.ca_file.as_deref()),
        Some(std::path::Path::new("payments-ca.pem")),
        "resolved in the CA directory by the node"
    );
    for (probe, want) in [
        (
            serde_json::json!({ "scheme": "HTTPS", "tls": { "verify": true, "caFile": "../../var/run/secrets/token" } }),
            "spec.probe.tls.caFile: `../../var/run/secrets/token` must be a plain file name in the agent's probe CA directory",
        ),
        (
            serde_json::json!({ "scheme": "HTTPS", "tls": { "verify": true, "caFile": "/etc/passwd" } }),
            "spec.probe.tls.caFile: `/etc/passwd` must be a plain file name",
        ),
        (
            serde_json::json!({ "scheme": "HTTPS", "tls": { "verify": true, "caFile": ".." } }),
            "spec.probe.tls.caFile: `..` must be a plain file name",
        ),
        (
            serde_json::json!({ "scheme": "HTTP", "tls": { "verify": true } }),
            "spec.probe.tls: is for HTTPS probes only; remove it or set spec.probe.scheme: HTTPS",
        ),
    ] {
        let e = check(serde_json::json!({ "services": ["web"], "probe": probe }))
            .unwrap_err()
            .message();
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}
