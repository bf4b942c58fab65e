//! Loopback probe targets for `bench/run.sh`'s HTTPS and gRPC rows: an HTTPS
//! server (HTTP/1.1 keep-alive, the tests' self-signed `localhost` certificate)
//! that answers every `GET` with `200 ok`, and `COUNT` gRPC servers whose
//! `grpc.health.v1.Health` service (tonic-health) answers `SERVING`.
//!
//! `cargo run --release --example probe_targets -- HTTPS_PORT GRPC_BASE_PORT COUNT`
//! serves HTTPS on 127.0.0.1:HTTPS_PORT and gRPC on 127.0.0.1:GRPC_BASE_PORT ..
//! GRPC_BASE_PORT+COUNT-1, one thread, until killed.

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;

const CERT: &[u8] = include_bytes!("../tests/it/tls/localhost.crt");
const KEY: &[u8] = include_bytes!("../tests/it/tls/localhost.key");

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn https(port: u16) -> Res<()> {
    failover_agent::tls::install_crypto_provider();
    let config = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(
        vec![CertificateDer::from_pem_slice(CERT)?],
        PrivateKeyDer::from_pem_slice(KEY)?,
    )?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (tcp, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let ok = service_fn(|_req| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"ok\n"))))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), ok)
                .await;
        });
    }
}

async fn grpc(port: u16) -> Res<()> {
    let (_reporter, health) = tonic_health::server::health_reporter();
    tonic::transport::Server::builder()
        .add_service(health)
        .serve(([127, 0, 0, 1], port).into())
        .await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let args: Vec<u16> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let [https_port, grpc_base, count] = args[..] else {
        return Err("usage: probe_targets HTTPS_PORT GRPC_BASE_PORT COUNT".into());
    };
    let mut servers = tokio::task::JoinSet::new();
    servers.spawn(https(https_port));
    for p in grpc_base..grpc_base + count {
        servers.spawn(grpc(p));
    }
    // Any server that stops is an error: the bench would measure failures.
    match servers.join_next().await {
        Some(Ok(Err(e))) => Err(e),
        _ => Err("a server stopped".into()),
    }
}
