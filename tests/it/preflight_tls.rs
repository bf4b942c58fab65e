//! `failover-agent preflight` over HTTPS, against a TLS listener in front of a real
//! agent, as the chart's NLB with `service.tls` (or the shared ALB's HTTPS:443) puts
//! one: SNI sent, a self-signed certificate accepted (Route 53 does not validate),
//! and a protocol that does not match the listener named.

use crate::support::pod_and_agent;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

const BIN: &str = env!("CARGO_BIN_EXE_failover-agent");
/// A self-signed certificate for `localhost` (EC P-256, valid until 2126), made with
/// `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 36500 -nodes
/// -subj /CN=localhost -addext subjectAltName=DNS:localhost`.
const CERT: &[u8] = include_bytes!("tls/localhost.crt");
const KEY: &[u8] = include_bytes!("tls/localhost.key");

/// A TLS listener that ends TLS and forwards each connection to `backend`, like an
/// NLB's TLS listener; it keeps the SNI name of each handshake.
pub(crate) async fn tls_terminator(backend: SocketAddr) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    failover_agent::tls::install_crypto_provider();
    let certs = vec![CertificateDer::from_pem_slice(CERT).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let names = Arc::new(Mutex::new(Vec::new()));
    let seen = names.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().unwrap_or("").to_owned();
                seen.lock().unwrap().push(sni);
                if let Ok(mut up) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                }
            });
        }
    });
    (addr, names)
}

/// Runs `failover-agent preflight` for app1 at `localhost:port` over `protocol`.
async fn preflight(port: u16, protocol: &str) -> (i32, String) {
    let args = [
        "--public-hostname",
        "localhost",
        "--public-port",
        &port.to_string(),
        "--public-protocol",
        protocol,
        "--match-verdict",
        "true",
        "--app",
        "app1",
    ]
    .map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .arg("preflight")
            .args(&args)
            .env("RUST_LOG", "error")
            .env_remove("PUBLIC_HOSTNAME")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_checks_send_sni_accept_any_certificate_and_name_a_protocol_mismatch() {
    let (_pod, agent) = pod_and_agent(&["app1"], "{ riseCount: 1, fallCount: 1 }").await;
    let (tls, names) = tls_terminator(agent.health).await;

    // HTTPS to the TLS listener: the agent's answer through it, string and all.
    let (code, out) = preflight(tls.port(), "HTTPS").await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("HTTPS_STR_MATCH localhost:"), "{out}");
    assert!(out.contains(&format!("{tls}  200 HEALTHY app1")), "{out}");
    assert_eq!(
        names.lock().unwrap().as_slice(),
        ["localhost"],
        "SNI carries the hostname"
    );

    // HTTPS to a plain listener, and plain HTTP to the TLS one: each is named.
    let (code, out) = preflight(agent.health.port(), "HTTPS").await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL") && out.contains("TLS handshake failed"), "{out}");
    let (code, out) = preflight(tls.port(), "HTTP").await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL") && out.contains("no HTTP answer") && out.contains("use protocol HTTPS"),
        "{out}"
    );
}
