//! gRPC endpoints and `probe.grpcService`, in the static file and in `AppHealth`:
//! what parses, and error messages that name the field and the fix.

use crate::cluster::kube::crd::{AppHealthSpec, ProbeScheme};
use crate::model::Target;
use crate::spec::parse;

fn errors(yaml: &str) -> String {
    match parse(yaml) {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn grpc_endpoints_parse_with_their_service() {
    let cfg = parse(
        "region: r\napps:\n  - name: a\n    endpoints: [\"grpc://10.0.0.1:50051\", \"grpc://[fd00::1]:9090/\"]\n    probe: { grpcService: payments.v1.Ledger }\n",
    )
    .unwrap();
    let app = &cfg.apps[0];
    assert_eq!(
        app.targets,
        [
            Target::Grpc {
                addr: "10.0.0.1:50051".parse().unwrap()
            },
            Target::Grpc {
                addr: "[fd00::1]:9090".parse().unwrap()
            },
        ]
    );
    let shown: Vec<String> = app.targets.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["grpc://10.0.0.1:50051", "grpc://[fd00::1]:9090"]);
    assert_eq!(app.probe.grpc_service.as_deref(), Some("payments.v1.Ledger"));
    let plain = parse("region: r\napps:\n  - name: a\n    endpoints: [\"grpc://10.0.0.1:50051\"]\n").unwrap();
    assert_eq!(
        plain.apps[0].probe.grpc_service, None,
        "no service: the server's overall health"
    );
}

#[test]
fn bad_grpc_endpoints_and_services_name_the_field_and_the_fix() {
    let e = errors(
        r#"
region: r
apps:
  - name: a
    endpoints: ["grpc://10.0.0.1", "grpc://10.0.0.2:50051/payments.v1.Ledger", "grpc://169.254.169.254:50051", "grpc://db.internal:50051"]
  - name: b
    endpoints: ["http://10.0.0.3:80/"]
    probe: { grpcService: payments.v1.Ledger }
  - name: c
    endpoints: ["grpc://10.0.0.4:50051"]
    probe: { grpcService: "" }
  - name: d
    endpoints: ["grpc://10.0.0.5:50051"]
    probe: { grpcService: "two words" }
  - name: e
    endpoints: ["gprc://10.0.0.6:50051"]
"#,
    );
    for want in [
        "apps[0].endpoints[0]: `grpc://10.0.0.1` has no port; write grpc://IP:PORT",
        "apps[0].endpoints[1]: `grpc://10.0.0.2:50051/payments.v1.Ledger` has a path, which GRPC probes cannot use; drop the path (set probe.grpcService",
        "apps[0].endpoints[2]: `grpc://169.254.169.254:50051` points at 169.254.169.254",
        "apps[0].endpoints[3]: `grpc://db.internal:50051` uses host name `db.internal`",
        "apps[1].probe.grpcService: is for grpc://IP:PORT endpoints and the app has none; remove it or list the endpoints as grpc://IP:PORT",
        "apps[2].probe.grpcService: is empty; remove it to check the server's overall health",
        "apps[3].probe.grpcService: `two words` must be a gRPC service name",
        "apps[4].endpoints[0]: `gprc://10.0.0.6:50051` has no supported scheme; write http://IP:PORT/path, https://IP:PORT/path, tcp://IP:PORT or grpc://IP:PORT",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
}

fn app_health(v: serde_json::Value) -> AppHealthSpec {
    serde_json::from_value(v).unwrap()
}

#[test]
fn app_health_grpc_scheme_and_service() {
    let s = crate::cluster::kube::spec::settings(&app_health(serde_json::json!({
        "services": ["ledger"],
        "probe": { "scheme": "GRPC", "grpcService": "payments.v1.Ledger", "port": 50051 },
    })))
    .unwrap();
    assert_eq!((s.scheme, s.port), (ProbeScheme::Grpc, Some(50051)));
    assert_eq!(s.probe.grpc_service.as_deref(), Some("payments.v1.Ledger"));
    let e = crate::cluster::kube::spec::settings(&app_health(serde_json::json!({
        "services": ["ledger"],
        "probe": { "scheme": "HTTP", "grpcService": "payments.v1.Ledger" },
    })))
    .unwrap_err()
    .message();
    assert!(
        e.contains("spec.probe.grpcService: is for gRPC probes only; remove it or set spec.probe.scheme: GRPC"),
        "{e}"
    );
    let e = crate::cluster::kube::spec::settings(&app_health(serde_json::json!({
        "services": ["ledger"],
        "probe": { "scheme": "GRPC", "grpcService": "" },
    })))
    .unwrap_err()
    .message();
    assert!(e.contains("spec.probe.grpcService: is empty"), "{e}");
}
