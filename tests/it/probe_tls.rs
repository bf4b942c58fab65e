//! HTTPS probes with `probe.tls`: a loopback server whose certificate a test CA
//! signed (for `probe.test` and 127.0.0.1). Verified against the right `caFile`
//! it passes, by name or by IP; a wrong name, the system roots or a missing CA
//! file fail with `tls_error`; and a static config with a missing `caFile` exits
//! 64 naming the key.

use failover_agent::model::{ProbeOutcome, Target};
use failover_agent::observe::probe::{probe_once, Probers};
use failover_agent::spec::{ProbeSpec, ProbeTls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LEAF: &[u8] = include_bytes!("tls/probe-leaf.crt");
const LEAF_KEY: &[u8] = include_bytes!("tls/probe-leaf.key");

fn ca_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/tls/probe-ca.crt")
}

/// An HTTPS server (keep-alive, `200 ok`) with the test CA's leaf certificate,
/// and how many TCP connections it accepted.
async fn server() -> (SocketAddr, Arc<AtomicUsize>) {
    failover_agent::tls::install_crypto_provider();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(LEAF).unwrap()],
            PrivateKeyDer::from_pem_slice(LEAF_KEY).unwrap(),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let ok = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                        bytes::Bytes::from_static(b"ok\n"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), ok)
                    .await;
            });
        }
    });
    (addr, accepted)
}

fn spec(ca_file: Option<PathBuf>, server_name: Option<&str>) -> ProbeSpec {
    ProbeSpec {
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        expected_status: None,
        body_contains: None,
        grpc_service: None,
        tls: Some(ProbeTls {
            verify: true,
            ca_file,
            server_name: server_name.map(String::from),
        }),
    }
}

/// One thread: the pool gets each connection back before the next probe (see
/// `probe::https_probes_accept_any_certificate_and_pool_their_tls_connection`).
#[tokio::test]
async fn verified_https_probes_pass_with_the_right_ca_and_name_and_fail_with_tls_error_otherwise() {
    let (addr, accepted) = server().await;
    let t = Target::Http {
        uri: format!("https://{addr}/healthz").parse().unwrap(),
        addr,
    };
    let probers = Probers::new();
    let by_name = spec(Some(ca_file()), Some("probe.test"));
    for _ in 0..5 {
        let r = probe_once(&probers, &t, &by_name).await;
        assert_eq!((r.outcome, r.status), (ProbeOutcome::Success, Some(200)), "{r:?}");
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "5 verified probes share one TLS connection"
    );
    let by_ip = spec(Some(ca_file()), None);
    assert_eq!(
        probe_once(&probers, &t, &by_ip).await.outcome,
        ProbeOutcome::Success,
        "the IP is in the certificate"
    );
    for (why, s) in [
        (
            "a name the certificate is not for",
            spec(Some(ca_file()), Some("other.test")),
        ),
        (
            "the system's roots do not know the test CA",
            spec(None, Some("probe.test")),
        ),
        (
            "a CA file that is not there",
            spec(Some("/nonexistent/ca.pem".into()), Some("probe.test")),
        ),
    ] {
        let r = probe_once(&probers, &t, &s).await;
        assert_eq!(r.outcome, ProbeOutcome::TlsError, "{why}: {r:?}");
    }
    assert!(
        !probers.http.https_built(),
        "verified probes never build the any-certificate client"
    );
}

#[test]
fn a_static_config_with_a_missing_ca_file_exits_64_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.yaml");
    let yaml = |ca: &str| {
        format!("region: r\napps:\n  - name: a\n    endpoints: [\"https://127.0.0.1:8443/healthz\"]\n    probe: {{ tls: {{ verify: true, caFile: \"{ca}\", serverName: probe.test }} }}\n")
    };
    std::fs::write(&config, yaml("/nonexistent/ca.pem")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_failover-agent"))
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("apps[0].probe.tls.caFile: cannot read `/nonexistent/ca.pem`")
            && err.contains("name a PEM file of the CA certificates"),
        "{err}"
    );
    std::fs::write(&config, yaml(&ca_file().to_string_lossy())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_failover-agent"))
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
