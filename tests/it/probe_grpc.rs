//! gRPC probes against real tonic servers on loopback: every outcome of
//! `grpc.health.v1.Health/Check`, a closed port, a server that never answers, and
//! one reused channel (one TCP connection) for many probes.

use failover_agent::model::{ProbeOutcome, Target};
use failover_agent::observe::probe::{probe_once, Probers};
use failover_agent::spec::ProbeSpec;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// A generous timeout: these probes are expected to end long before it.
fn spec(service: Option<&str>) -> ProbeSpec {
    ProbeSpec {
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        expected_status: None,
        body_contains: None,
        grpc_service: service.map(String::from),
        tls: None,
    }
}

/// A tonic server on 127.0.0.1 (with the health service when `health`), and how
/// many TCP connections it accepted.
async fn server(health: bool) -> (SocketAddr, HealthReporter, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    let incoming = futures_util::stream::unfold(listener, move |l| {
        let counted = counted.clone();
        async move {
            let conn = l.accept().await.map(|(s, _)| s);
            counted.fetch_add(1, Ordering::SeqCst);
            Some((conn, l))
        }
    });
    let (reporter, service) = tonic_health::server::health_reporter();
    let router = tonic::transport::Server::builder().add_optional_service(health.then_some(service));
    tokio::spawn(async move { router.serve_with_incoming(incoming).await });
    (addr, reporter, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_probes_pass_only_when_serving_and_name_every_other_answer() {
    let (addr, reporter, accepted) = server(true).await;
    reporter
        .set_service_status("payments.v1.Ledger", ServingStatus::Serving)
        .await;
    let t = Target::Grpc { addr };
    let probers = Probers::new();
    for _ in 0..5 {
        assert_eq!(
            probe_once(&probers, &t, &spec(None)).await.outcome,
            ProbeOutcome::Success
        );
        let r = probe_once(&probers, &t, &spec(Some("payments.v1.Ledger"))).await;
        assert_eq!((r.outcome, r.status), (ProbeOutcome::Success, None));
    }
    reporter
        .set_service_status("payments.v1.Ledger", ServingStatus::NotServing)
        .await;
    assert_eq!(
        probe_once(&probers, &t, &spec(Some("payments.v1.Ledger")))
            .await
            .outcome,
        ProbeOutcome::GrpcNotServing
    );
    reporter.set_service_status("", ServingStatus::NotServing).await;
    assert_eq!(
        probe_once(&probers, &t, &spec(None)).await.outcome,
        ProbeOutcome::GrpcNotServing,
        "the server's overall health"
    );
    assert_eq!(
        probe_once(&probers, &t, &spec(Some("nobody.v1.Knows"))).await.outcome,
        ProbeOutcome::GrpcServiceUnknown
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "every probe of the target went over one channel"
    );
    assert_eq!(probers.grpc.channels(), 1);
    assert!(!probers.http.https_built(), "no HTTPS probe, no TLS client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_the_health_service_is_unimplemented() {
    let (addr, _reporter, _) = server(false).await;
    let r = probe_once(&Probers::new(), &Target::Grpc { addr }, &spec(None)).await;
    assert_eq!(r.outcome, ProbeOutcome::GrpcUnimplemented, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_fails_to_connect_and_a_silent_server_times_out() {
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let probers = Probers::new();
    let r = probe_once(&probers, &Target::Grpc { addr }, &spec(None)).await;
    assert_eq!(r.outcome, ProbeOutcome::ConnectError, "{r:?}");

    // Accepts connections and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut kept = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            kept.push(s);
        }
    });
    let short = ProbeSpec {
        timeout: Duration::from_millis(300),
        ..spec(None)
    };
    let r = probe_once(&probers, &Target::Grpc { addr }, &short).await;
    assert_eq!(r.outcome, ProbeOutcome::Timeout, "{r:?}");
    assert!(r.latency >= short.timeout, "{r:?}");
}
