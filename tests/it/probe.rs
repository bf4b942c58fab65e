//! The probers against real servers: status and body checks, TCP, timeouts, and
//! keep-alive reuse.

use failover_agent::cli::demo::pod::Mode;
use failover_agent::cli::demo::pod::Pod;
use failover_agent::model::{ProbeOutcome, Target};
use failover_agent::observe::probe::{probe_once, Probers};
use failover_agent::spec::ProbeSpec;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn spec(expected_status: Option<Vec<u16>>, body_contains: Option<&str>) -> ProbeSpec {
    ProbeSpec {
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(300),
        expected_status,
        body_contains: body_contains.map(String::from),
        grpc_service: None,
        tls: None,
    }
}

fn http_target(addr: std::net::SocketAddr, path: &str) -> Target {
    Target::Http {
        uri: format!("http://{addr}{path}").parse().unwrap(),
        addr,
    }
}

#[tokio::test]
async fn http_outcomes_follow_status_body_and_timeout() {
    let pod = Pod::start("127.0.0.1".parse().unwrap()).await.unwrap();
    let t = http_target(pod.addr, "/healthz");
    let http = Probers::new();
    let r = probe_once(&http, &t, &spec(None, Some("ok"))).await;
    assert_eq!((r.outcome, r.status), (ProbeOutcome::Success, Some(200)));
    assert_eq!(
        probe_once(&http, &t, &spec(Some(vec![204]), None)).await.outcome,
        ProbeOutcome::BadStatus
    );
    assert_eq!(
        probe_once(&http, &t, &spec(None, Some("READY"))).await.outcome,
        ProbeOutcome::BodyMismatch
    );
    pod.set_mode(Mode::Failing);
    let r = probe_once(&http, &t, &spec(None, None)).await;
    assert_eq!((r.outcome, r.status), (ProbeOutcome::BadStatus, Some(503)));
    assert_eq!(
        probe_once(&http, &t, &spec(Some(vec![503]), None)).await.outcome,
        ProbeOutcome::Success
    );
    pod.set_mode(Mode::Hanging);
    let r = probe_once(&http, &t, &spec(None, None)).await;
    assert_eq!(r.outcome, ProbeOutcome::Timeout);
    assert!(r.latency >= Duration::from_millis(300));
    pod.set_mode(Mode::Down);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        probe_once(&http, &t, &spec(None, None)).await.outcome,
        ProbeOutcome::ConnectError
    );
    assert!(!http.http.https_built(), "plain HTTP probes never build the TLS client");
}

#[tokio::test]
async fn tcp_probes_pass_on_connect_and_fail_on_refusal() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let http = Probers::new();
    assert_eq!(
        probe_once(&http, &Target::Tcp { addr }, &spec(None, None))
            .await
            .outcome,
        ProbeOutcome::Success
    );
    drop(listener);
    assert_eq!(
        probe_once(&http, &Target::Tcp { addr }, &spec(None, None))
            .await
            .outcome,
        ProbeOutcome::ConnectError
    );
}

#[tokio::test]
async fn http_probes_reuse_one_keep_alive_connection() {
    // A bare keep-alive HTTP server that counts the connections it accepts.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0
                        || s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let http = Probers::new();
    let t = http_target(addr, "/");
    for _ in 0..20 {
        assert_eq!(
            probe_once(&http, &t, &spec(None, None)).await.outcome,
            ProbeOutcome::Success
        );
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "20 sequential probes should share one connection"
    );
}

/// A loopback HTTP server that answers every request with `body` (200, with a
/// Content-Length), on keep-alive connections.
async fn serve_body(body: Vec<u8>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf).await {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                    if n == 0 || s.write_all(head.as_bytes()).await.is_err() || s.write_all(&body).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn body_contains_searches_the_first_64_kib_of_a_large_body() {
    const MIB: usize = 1024 * 1024;
    let mut early = vec![b'x'; MIB];
    early[500..505].copy_from_slice(b"READY");
    let mut late = vec![b'x'; MIB];
    late[70 * 1024..70 * 1024 + 5].copy_from_slice(b"READY");
    let mut edge = vec![b'x'; MIB];
    edge[64 * 1024 - 5..64 * 1024].copy_from_slice(b"READY");
    let (early, late, edge) = (serve_body(early).await, serve_body(late).await, serve_body(edge).await);
    let http = Probers::new();
    let slow = |needle| ProbeSpec {
        timeout: Duration::from_secs(5),
        ..spec(None, needle)
    };
    for _ in 0..3 {
        let r = probe_once(&http, &http_target(early, "/"), &slow(Some("READY"))).await;
        assert_eq!(
            (r.outcome, r.status),
            (ProbeOutcome::Success, Some(200)),
            "string in the first KiB of 1 MiB"
        );
        let r = probe_once(&http, &http_target(edge, "/"), &slow(Some("READY"))).await;
        assert_eq!(r.outcome, ProbeOutcome::Success, "string ending at byte 65536");
        let r = probe_once(&http, &http_target(late, "/"), &slow(Some("READY"))).await;
        assert_eq!(
            (r.outcome, r.status),
            (ProbeOutcome::BodyMismatch, Some(200)),
            "string only after 64 KiB"
        );
        assert_eq!(
            probe_once(&http, &http_target(late, "/"), &slow(None)).await.outcome,
            ProbeOutcome::Success,
            "a large body without bodyContains"
        );
    }
}

/// HTTPS probes follow the kubelet: TLS to the pod, any certificate (here a
/// self-signed one for `localhost`, probed by IP), the same outcomes as HTTP, and
/// one pooled TLS connection for many probes. On one thread: with more, a probe
/// can start before the last one's connection is back in the pool (hyper hands it
/// back from a task of its own), and a loaded machine then opens a second one.
#[tokio::test]
async fn https_probes_accept_any_certificate_and_pool_their_tls_connection() {
    let pod = Pod::start("127.0.0.1".parse().unwrap()).await.unwrap();
    let (addr, handshakes) = crate::preflight_tls::tls_terminator(pod.addr).await;
    let t = Target::Http {
        uri: format!("https://{addr}/healthz").parse().unwrap(),
        addr,
    };
    let http = Probers::new();
    // A generous timeout: a probe cut short on a loaded machine would close its
    // connection and make the pool look broken.
    let patient = ProbeSpec {
        timeout: Duration::from_secs(5),
        ..spec(None, Some("ok"))
    };
    assert!(
        !http.http.https_built(),
        "the TLS client waits for the first HTTPS probe"
    );
    for _ in 0..10 {
        let r = probe_once(&http, &t, &patient).await;
        assert_eq!((r.outcome, r.status), (ProbeOutcome::Success, Some(200)));
    }
    assert_eq!(
        handshakes.lock().unwrap().len(),
        1,
        "10 probes share one TLS connection"
    );
    pod.set_mode(Mode::Failing);
    let r = probe_once(&http, &t, &spec(None, None)).await;
    assert_eq!((r.outcome, r.status), (ProbeOutcome::BadStatus, Some(503)));
    // A plain-HTTP port probed over HTTPS fails its handshake: never a pass.
    pod.set_mode(Mode::Healthy);
    let plain = Target::Http {
        uri: format!("https://{}/healthz", pod.addr).parse().unwrap(),
        addr: pod.addr,
    };
    let r = probe_once(&http, &plain, &spec(None, None)).await;
    assert_eq!(r.outcome, ProbeOutcome::ConnectError, "{r:?}");
}
