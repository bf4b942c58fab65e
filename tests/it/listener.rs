//! The public listener under pressure from one machine: the per-client cap, the
//! eviction of idle connections at the global cap, per-connection request and
//! write limits, the PROXY protocol and `X-Forwarded-For` from trusted proxies.
//! Clients come from different loopback addresses (127.0.0.0/8 is all local on
//! Linux), so "another client" is a real other source address.

use failover_agent::publish::http as serve;
use failover_agent::publish::http::text;
use failover_agent::publish::http::Limits;
use failover_agent::spec::Cidr;
use failover_agent::spec::PublicListener;
use failover_agent::telemetry::Metrics;
use http::StatusCode;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

struct Server {
    addr: SocketAddr,
    metrics: Metrics,
    _stop: tokio_util::sync::DropGuard,
}

async fn server(listener: PublicListener) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let stop = CancellationToken::new();
    let metrics = Metrics::new("test").unwrap();
    let mut limits = Limits::public(&listener);
    limits.header_read_timeout = Duration::from_millis(800);
    let handler = |_req, peer: SocketAddr| async move { text(StatusCode::OK, format!("ok {}\n", peer.ip())) };
    let m = metrics.clone();
    let sd = stop.clone();
    tokio::spawn(async move { serve::serve(l, limits, handler, Some(&m), sd).await });
    Server {
        addr,
        metrics,
        _stop: stop.drop_guard(),
    }
}

impl Server {
    fn counter(&self, line_start: &str) -> f64 {
        let text = String::from_utf8(self.metrics.encode()).unwrap();
        text.lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    }
}

/// A connection from source address 127.0.0.`last`.
async fn connect_from(last: u8, to: SocketAddr) -> TcpStream {
    try_connect_from(last, to).await.expect("connected")
}

/// [`connect_from`] for a connection that may be refused: a refused connection is
/// reset at once, which can reach the client before its connect completes.
async fn try_connect_from(last: u8, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::from(([127, 0, 0, last], 0)))?;
    s.connect(to).await
}

/// Whether a connection from 127.0.0.`last` is refused: reset on connect, or
/// closed before any answer.
async fn refused(last: u8, to: SocketAddr) -> bool {
    match try_connect_from(last, to).await {
        Err(_) => true,
        Ok(mut s) => is_closed(&mut s, Duration::from_secs(2)).await,
    }
}

/// One request on `s`; the answer's text, or `None` if the connection was closed.
async fn ask(s: &mut TcpStream, extra: &str) -> Option<String> {
    let req = format!("GET /health/a HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            if body.ends_with('\n') {
                return Some(format!("{head}\r\n\r\n{body}"));
            }
        }
        match tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
}

/// Whether the server has closed `s` (EOF or reset) within `limit`.
async fn is_closed(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match tokio::time::timeout(limit, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

fn limits(max: usize, per_client: usize) -> PublicListener {
    PublicListener {
        max_connections: max,
        max_connections_per_client: per_client,
        ..PublicListener::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_gets_its_share_and_others_are_still_served() {
    let srv = server(limits(100, 4)).await;
    let mut hogs = Vec::new();
    for _ in 0..4 {
        let mut s = connect_from(2, srv.addr).await;
        assert!(ask(&mut s, "").await.is_some());
        hogs.push(s);
    }
    assert!(
        refused(2, srv.addr).await,
        "a fifth connection from one client is closed"
    );
    assert_eq!(
        srv.counter("failover_agent_public_connections_rejected_total{reason=\"client_cap\"}"),
        1.0
    );
    let mut other = connect_from(3, srv.addr).await;
    assert_eq!(
        ask(&mut other, "")
            .await
            .as_deref()
            .map(|a| a.ends_with("ok 127.0.0.3\n")),
        Some(true)
    );
    for s in &mut hogs {
        assert!(ask(s, "").await.is_some(), "the admitted ones keep working");
    }
    drop(hogs.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = connect_from(2, srv.addr).await;
    assert!(
        ask(&mut again, "").await.is_some(),
        "a closed connection gives the share back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_global_cap_the_longest_idle_connection_makes_room() {
    let srv = server(limits(16, 16)).await;
    let mut idle = Vec::new();
    for i in 0..16u8 {
        let mut s = connect_from(10 + i, srv.addr).await;
        assert!(ask(&mut s, "").await.is_some());
        idle.push(s);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Every slot is held by an idle keep-alive connection: a new client still gets in.
    let mut new = connect_from(99, srv.addr).await;
    assert!(ask(&mut new, "").await.is_some(), "a new client was refused at the cap");
    assert!(
        is_closed(&mut idle[0], Duration::from_secs(2)).await,
        "the longest idle one was closed"
    );
    assert!(
        !is_closed(&mut idle[15], Duration::from_millis(200)).await,
        "the newest idle one stays"
    );
    assert_eq!(srv.counter("failover_agent_public_connections_evicted_total"), 1.0);
    assert_eq!(
        srv.counter("failover_agent_public_connections_rejected_total{reason=\"full\"}"),
        0.0
    );
}

/// Route 53's checkers open a new connection for every check. One checker address
/// that checks 1,000 apps every 10 s, while another address holds (and keeps
/// trying to open) hundreds of keep-alive connections: not one check is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route53_checker_address_checking_1000_apps_is_never_refused() {
    let srv = server(PublicListener::default()).await;
    let addr = srv.addr;
    let hog = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..300 {
            let Ok(mut s) = try_connect_from(2, addr).await else {
                continue;
            };
            if ask(&mut s, "").await.is_some() {
                held.push(s);
            }
        }
        held
    });
    let mut checks = tokio::task::JoinSet::new();
    for i in 0..1000u32 {
        checks.spawn(async move {
            let mut s = connect_from(3, addr).await;
            // A checker far away: the request arrives some time after the connect.
            tokio::time::sleep(Duration::from_millis(u64::from(i % 7) * 20)).await;
            ask(&mut s, "Connection: close\r\n").await.is_some()
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut failed = 0;
    while let Some(ok) = checks.join_next().await {
        failed += usize::from(!ok.unwrap());
    }
    let held = hog.await.unwrap();
    assert_eq!(failed, 0, "checks refused or unanswered");
    assert_eq!(held.len(), 64, "the hog got exactly its share");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_end_after_their_request_budget() {
    let srv = server(PublicListener {
        max_requests_per_connection: 3,
        ..PublicListener::default()
    })
    .await;
    let mut s = connect_from(2, srv.addr).await;
    assert!(!ask(&mut s, "")
        .await
        .unwrap()
        .to_ascii_lowercase()
        .contains("connection: close"));
    assert!(ask(&mut s, "").await.is_some());
    let third = ask(&mut s, "").await.unwrap();
    assert!(third.to_ascii_lowercase().contains("connection: close"), "{third}");
    assert!(is_closed(&mut s, Duration::from_secs(2)).await);
}

/// A client that pipelines requests and never reads its answers: its connection
/// is closed once a write has stalled for the write timeout, and others are served
/// meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeliner_that_never_reads_is_cut_off() {
    let srv = server(PublicListener {
        write_timeout: Duration::from_millis(500),
        max_requests_per_connection: 1 << 30,
        ..PublicListener::default()
    })
    .await;
    let s = connect_from(2, srv.addr).await;
    s.set_nodelay(true).unwrap();
    let (_read, mut write) = s.into_split();
    let writer = tokio::spawn(async move {
        let req = b"GET /health/a HTTP/1.1\r\nHost: x\r\n\r\n".repeat(256);
        // Blocks once the socket buffers are full, until the server closes.
        let flood = async { while write.write_all(&req).await.is_ok() {} };
        tokio::time::timeout(Duration::from_secs(20), flood).await.ok()
    });
    let mut other = connect_from(3, srv.addr).await;
    assert!(ask(&mut other, "").await.is_some(), "others are served meanwhile");
    let cut = writer.await.unwrap();
    assert!(cut.is_some(), "the non-reading pipeliner was never cut off");
}

fn proxy_v2(client: [u8; 4]) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&client);
    h.extend_from_slice(&[10, 0, 0, 1, 0x30, 0x39, 0, 80]);
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_protocol_names_the_client_and_is_required() {
    let srv = server(PublicListener {
        proxy_protocol: true,
        max_connections_per_client: 2,
        ..PublicListener::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = connect_from(2, srv.addr).await;
        s.write_all(&proxy_v2([198, 51, 100, 7])).await.unwrap();
        let answer = ask(&mut s, "").await.unwrap();
        assert!(
            answer.ends_with("ok 198.51.100.7\n"),
            "the handler sees the header's client: {answer}"
        );
        held.push(s);
    }
    let mut third = connect_from(2, srv.addr).await;
    third.write_all(&proxy_v2([198, 51, 100, 7])).await.unwrap();
    assert!(
        is_closed(&mut third, Duration::from_secs(2)).await,
        "the cap applies to the named client"
    );
    let mut other = connect_from(2, srv.addr).await;
    other.write_all(&proxy_v2([198, 51, 100, 8])).await.unwrap();
    assert!(
        ask(&mut other, "").await.is_some(),
        "the same peer for another client is fine"
    );
    let mut bare = connect_from(2, srv.addr).await;
    assert!(ask(&mut bare, "").await.is_none(), "no header: closed");
    let mut local = connect_from(2, srv.addr).await;
    local.write_all(b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00").await.unwrap();
    assert!(
        ask(&mut local, "").await.is_some(),
        "the NLB's health check (LOCAL) is served"
    );
    assert_eq!(
        srv.counter("failover_agent_public_connections_rejected_total{reason=\"proxy_header\"}"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    let route53 = Cidr::parse("198.51.100.0/24").unwrap();
    let srv = server(PublicListener {
        trusted_proxies: vec![Cidr::parse("127.0.0.2").unwrap()],
        allow_from: vec![route53],
        max_connections_per_client: 1,
        ..PublicListener::default()
    })
    .await;
    // The trusted proxy (the ALB) opens many connections: no per-client cap on it.
    let mut alb = Vec::new();
    for _ in 0..5 {
        alb.push(connect_from(2, srv.addr).await);
    }
    let checker = "X-Forwarded-For: 203.0.113.50, 198.51.100.9\r\n";
    let a = ask(&mut alb[0], checker).await.unwrap();
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    let b = ask(&mut alb[1], "X-Forwarded-For: 198.51.100.9, 203.0.113.50\r\n")
        .await
        .unwrap();
    assert!(
        b.starts_with("HTTP/1.1 403"),
        "the rightmost untrusted entry is the client: {b}"
    );
    let c = ask(&mut alb[2], "").await.unwrap();
    assert!(
        c.starts_with("HTTP/1.1 200"),
        "the ALB's own health check has no X-Forwarded-For: {c}"
    );
    // Anyone else sending X-Forwarded-For is not believed, and not allowed.
    if let Ok(mut direct) = try_connect_from(3, srv.addr).await {
        assert!(
            ask(&mut direct, checker).await.is_none(),
            "a direct client outside allowFrom is closed"
        );
    }
    assert_eq!(
        srv.counter("failover_agent_public_connections_rejected_total{reason=\"not_allowed\"}"),
        1.0
    );
}
