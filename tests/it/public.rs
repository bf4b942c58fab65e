//! The public listener: the contract Route 53 depends on, and its hardening.

use crate::support::{body_of, config, raw, request, status_of, TestAgent};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn agent() -> TestAgent {
    // A TCP "endpoint" on a port nothing listens on: the verdict does not matter here.
    TestAgent::start(&config(
        &[("app1", vec!["tcp://127.0.0.1:9".into()])],
        "{ intervalSeconds: 5 }",
        "{ startupGraceSeconds: 600 }",
    ))
    .await
}

#[tokio::test]
async fn known_unknown_and_own_health_paths() {
    let a = agent().await;
    let (code, body) = a.health("app1").await;
    assert_eq!((code, body.as_str()), (200, "HEALTHY app1\n"));
    assert_eq!(
        a.health("nope").await,
        (404, "unknown app\n".to_string()),
        "unknown apps are 404 and never echoed"
    );
    assert_eq!(request(a.health, "GET", "/healthz").await.0, 200);
    assert_eq!(request(a.health, "GET", "/readyz").await.0, 200);
    assert_eq!(request(a.health, "GET", "/").await.0, 404);
    assert_eq!(
        request(a.health, "GET", "/metrics").await.0,
        404,
        "metrics are on the admin port only"
    );
    assert_eq!(
        request(a.health, "GET", "/apps").await.0,
        404,
        "details are on the admin port only"
    );
    assert_eq!(request(a.health, "POST", "/health/app1").await.0, 405);
}

#[tokio::test]
async fn head_has_the_get_status_and_length_but_no_body() {
    let a = agent().await;
    let resp = raw(
        a.health,
        b"HEAD /health/app1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let text = String::from_utf8_lossy(&resp).to_ascii_lowercase();
    assert_eq!(status_of(&resp), 200);
    assert!(text.contains("content-length: 13\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n"), "HEAD must have no body: {text:?}");
}

#[tokio::test]
async fn hostile_paths_get_a_4xx_and_the_agent_keeps_serving() {
    let a = agent().await;
    let long = format!("/health/{}", "a".repeat(5000));
    let cases: Vec<Vec<u8>> = vec![
        b"/health/app1%2F..%2Fapp1".to_vec(),
        b"/health/../health/app1".to_vec(),
        b"/health/app1/..".to_vec(),
        b"/health/%2e%2e".to_vec(),
        b"/health/APP1".to_vec(),
        b"/health/".to_vec(),
        b"/health/app1%00".to_vec(),
        long.into_bytes(),
        b"/health/\xff\xfe".to_vec(),
        b"/health/app\x01".to_vec(),
        b"*".to_vec(),
        b"http://evil.example/health/app1x".to_vec(),
    ];
    for path in cases {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(&path);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let resp = raw(a.health, &req).await;
        let code = status_of(&resp);
        assert!(
            (400..500).contains(&code),
            "{:?} got {code}: {:?}",
            String::from_utf8_lossy(&path),
            String::from_utf8_lossy(&resp)
        );
        assert!(
            !body_of(&resp).contains("evil") && !body_of(&resp).contains("APP1"),
            "input echoed back"
        );
    }
    assert_eq!(a.health("app1").await.0, 200, "the agent must survive hostile input");
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let a = agent().await;
    let req = format!(
        "GET /health/app1 HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(64 * 1024)
    );
    let resp = raw(a.health, req.as_bytes()).await;
    let code = status_of(&resp);
    assert!(code == 431 || code == 400 || resp.is_empty(), "got {code}");
    assert_eq!(a.health("app1").await.0, 200);
}

#[tokio::test]
async fn a_slow_header_writer_is_cut_off() {
    let a = agent().await;
    let mut s = TcpStream::connect(a.health).await.unwrap();
    s.write_all(b"GET /health/app1 HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    // The header-read timeout is 5 s; the server must close well before 15 s.
    let r = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
    assert!(r.is_ok(), "slowloris connection still open after 15 s");
    assert!(
        start.elapsed() >= Duration::from_secs(4),
        "closed too early: {:?}",
        start.elapsed()
    );
    assert_eq!(a.health("app1").await.0, 200);
}

/// At the cap, a new connection evicts an idle one; when every connection is busy
/// answering, it is closed at once and counted (`reason="full"`).
#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once_when_all_are_busy() {
    use failover_agent::publish::http::serve;
    use failover_agent::publish::http::text;
    use failover_agent::publish::http::Limits;
    use failover_agent::spec::PublicListener;
    use failover_agent::telemetry::Metrics;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Metrics::new("test").unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let limits = Limits::public(&PublicListener {
        max_connections: 16,
        ..PublicListener::default()
    });
    // Every answer takes a second: the connections that asked are busy meanwhile.
    let handler = |_req, _peer| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        text(http::StatusCode::OK, "ok\n")
    };
    let m = metrics.clone();
    let sd = shutdown.clone();
    let server = tokio::spawn(async move { serve(listener, limits, handler, Some(&m), sd).await });

    let mut busy = Vec::new();
    for _ in 0..16 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        busy.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Refused connections are reset, which may reach us before connect returns.
    if let Ok(mut c) = TcpStream::connect(addr).await {
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(2), c.read(&mut buf))
            .await
            .expect("the connection past the cap must be closed at once");
        assert!(matches!(n, Ok(0) | Err(_)), "a connection past the cap was served");
    }
    let text = String::from_utf8(metrics.encode()).unwrap();
    assert!(
        text.contains("failover_agent_public_connections_rejected_total{reason=\"full\"} 1"),
        "{text}"
    );
    assert!(text.contains("failover_agent_public_connections_open 16"), "{text}");
    drop(busy);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        request(addr, "GET", "/").await.0,
        200,
        "capacity comes back when connections close"
    );
    shutdown.cancel();
    server.await.unwrap();
}
