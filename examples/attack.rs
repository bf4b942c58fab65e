//! The public port under attack from one machine, for `bench/attack.sh`: Route 53-like
//! checkers keep checking while one attacker address runs three attacks at once.
//!
//! `cargo run --release --example attack -- ADDR SECONDS [HOGS [SLOWLORIS [PIPELINERS]]]`
//! (0 0 0 measures the checkers alone).
//!
//! - **checkers**: 16 clients from 127.0.1.1-16, each opening a new connection
//!   every 100 ms for `GET /health/app1` with `Connection: close`, as Route 53's
//!   checkers do. An error is a refused, reset or closed connection, a status other
//!   than 200, or no answer within 2 s (Route 53's checker waits 2 s for the status).
//! - **hogs** (default 10,000), from 127.0.0.66: keep-alive connections that each
//!   send one valid request every 3 s; a closed one reconnects after 1 s.
//! - **slowloris**, from 127.0.0.66: 500 connections trickling one header byte a
//!   second, reconnecting when cut.
//! - **pipeliner**, from 127.0.0.66: 8 connections that pipeline requests as fast
//!   as they can and never read an answer, reconnecting when cut.
//!
//! Prints `checks=<n> errors=<n> p50=<ms> p99=<ms> max=<ms> hogs_open=<n at end>`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const ATTACKER: [u8; 4] = [127, 0, 0, 66];
const REQ: &[u8] = b"GET /health/app1 HTTP/1.1\r\nHost: bench\r\n\r\n";

async fn connect_from(src: [u8; 4], to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::from((src, 0)))?;
    s.connect(to).await
}

/// One check on a new connection; its latency, or `None` for an error.
async fn check(src: [u8; 4], to: SocketAddr) -> Option<Duration> {
    let start = Instant::now();
    let run = async {
        let mut s = connect_from(src, to).await.ok()?;
        s.write_all(b"GET /health/app1 HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.ok()?;
        got.starts_with(b"HTTP/1.1 200").then(|| start.elapsed())
    };
    tokio::time::timeout(Duration::from_secs(2), run).await.ok().flatten()
}

async fn checker(n: u8, to: SocketAddr, until: Instant) -> (Vec<Duration>, usize) {
    let (mut lat, mut errors) = (Vec::new(), 0);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tokio::time::sleep(Duration::from_millis(u64::from(n) * 6)).await;
    let mut pending = tokio::task::JoinSet::new();
    while Instant::now() < until {
        tick.tick().await;
        pending.spawn(check([127, 0, 1, n], to));
    }
    while let Some(r) = pending.join_next().await {
        match r.ok().flatten() {
            Some(d) => lat.push(d),
            None => errors += 1,
        }
    }
    (lat, errors)
}

async fn hog(to: SocketAddr, open: Arc<AtomicUsize>, until: Instant) {
    let mut buf = [0u8; 1024];
    while Instant::now() < until {
        let Ok(mut s) = connect_from(ATTACKER, to).await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        open.fetch_add(1, Ordering::Relaxed);
        loop {
            if s.write_all(REQ).await.is_err() {
                break;
            }
            match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => break,
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
            if Instant::now() >= until {
                open.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
        open.fetch_sub(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn slowloris(to: SocketAddr, until: Instant) {
    while Instant::now() < until {
        if let Ok(mut s) = connect_from(ATTACKER, to).await {
            for b in b"GET /health/app1 HTTP/1.1\r\nHost: bench\r\nX-a: ".iter().cycle() {
                if Instant::now() >= until || s.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn pipeliner(to: SocketAddr, until: Instant) {
    let burst = REQ.repeat(512);
    while Instant::now() < until {
        if let Ok(s) = connect_from(ATTACKER, to).await {
            let (_keep_unread, mut w) = s.into_split();
            let flood = async { while w.write_all(&burst).await.is_ok() {} };
            let _ = tokio::time::timeout(until.saturating_duration_since(Instant::now()), flood).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(addr), Some(secs)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: attack ADDR SECONDS [HOGS [SLOWLORIS [PIPELINERS]]]");
        std::process::exit(64);
    };
    let to: SocketAddr = addr.parse().expect("ADDR is IP:PORT");
    let secs: u64 = secs.parse().expect("SECONDS is a number");
    let count = |i: usize, default: usize| args.get(i).map_or(default, |v| v.parse().expect("counts are numbers"));
    let (hogs, slow, pipes) = (count(3, 10_000), count(4, 500), count(5, 8));
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let open = Arc::new(AtomicUsize::new(0));
    let mut attack = tokio::task::JoinSet::new();
    for i in 0..hogs {
        let open = open.clone();
        attack.spawn(async move {
            // Ramp up over the first 2 s.
            tokio::time::sleep(Duration::from_micros(200 * (i as u64 % 10_000))).await;
            hog(to, open, until).await
        });
    }
    for _ in 0..slow {
        attack.spawn(slowloris(to, until));
    }
    for _ in 0..pipes {
        attack.spawn(pipeliner(to, until));
    }
    // The checkers start once the attack is in place.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let checkers: Vec<_> = (1..=16u8).map(|n| tokio::spawn(checker(n, to, until))).collect();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for c in checkers {
        let (l, e) = c.await.expect("a checker task");
        lat.extend(l);
        errors += e;
    }
    let hogs_open = open.load(Ordering::Relaxed);
    attack.abort_all();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "checks={} errors={} p50={:.2}ms p99={:.2}ms max={:.2}ms hogs_open={}",
        lat.len() + errors,
        errors,
        pct(0.5),
        pct(0.99),
        lat.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
        hogs_open
    );
}
