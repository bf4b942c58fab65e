//! The public listener's two clocks, on the real accept loop with short limits: a
//! request head must be complete within `header_read_timeout` (slowloris is cut
//! off however slowly it trickles), while an idle keep-alive connection is kept
//! for `idle_timeout`, longer than a load balancer in front keeps its own.

use failover_agent::publish::http as serve;
use failover_agent::publish::http::text;
use failover_agent::publish::http::Limits;
use http::StatusCode;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

const HEAD: Duration = Duration::from_millis(500);
const IDLE: Duration = Duration::from_secs(3);

async fn server() -> (SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let limits = Limits {
        header_read_timeout: HEAD,
        idle_timeout: IDLE,
        ..Limits::default()
    };
    let handler = |_req, _peer| async { text(StatusCode::OK, "ok\n") };
    tokio::spawn(serve::serve(listener, limits, handler, None, stop.clone()));
    (addr, stop)
}

/// Sends one request on `s` and reads its whole answer (`ok\n`, 3 bytes of body).
async fn ask(s: &mut TcpStream) -> bool {
    if s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.is_err() {
        return false;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !(got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"ok\n")) {
        match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return false,
        }
    }
    got.starts_with(b"HTTP/1.1 200")
}

/// How long until the server closes `s` (reads to EOF), at most `limit`.
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut sink = Vec::new();
    // EOF or a reset: either way the server closed it.
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut sink)).await.ok()?;
    Some(start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_outlives_the_head_deadline_and_slow_heads_do_not() {
    let (addr, _stop) = server().await;

    // Idle between requests for three head deadlines: the connection is kept.
    let mut keep = TcpStream::connect(addr).await.unwrap();
    assert!(ask(&mut keep).await);
    tokio::time::sleep(HEAD * 3).await;
    assert!(
        ask(&mut keep).await,
        "an idle keep-alive connection was closed before idle_timeout"
    );
    // ...and closed once idle for longer than idle_timeout.
    let idle = closed_within(&mut keep, IDLE * 3)
        .await
        .expect("never closed when idle");
    assert!(idle >= IDLE - Duration::from_millis(200), "closed after {idle:?}");

    // A head trickled one byte every 100 ms: cut off at the head deadline.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    let trickle = tokio::spawn(async move {
        let start = Instant::now();
        for b in b"GET / HTTP/1.1\r\nHost: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" {
            if slow.write_all(&[*b]).await.is_err() {
                return start.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut sink)).await;
        start.elapsed()
    });
    let cut = trickle.await.unwrap();
    assert!(cut < HEAD * 4, "a trickled head survived {cut:?}");

    // A connection that never sends a byte: cut off at the head deadline too.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let t = closed_within(&mut silent, IDLE)
        .await
        .expect("a silent connection was kept");
    assert!(t < HEAD * 3, "a silent connection was kept {t:?}");

    // A head that pauses mid-way after a finished request: still timed.
    let mut second = TcpStream::connect(addr).await.unwrap();
    assert!(ask(&mut second).await);
    second.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let t = closed_within(&mut second, IDLE)
        .await
        .expect("a stalled second head was kept");
    assert!(t < HEAD * 3, "a stalled second head was kept {t:?}");
}
