//! A fixed-rate HTTP/1.1 keep-alive load generator for `bench/run.sh`: it measures
//! latency at a set request rate (wrk only measures at its maximum). Sends are
//! paced by tokio's 1 ms timer, so requests go out in small bursts, as Route 53's
//! uncoordinated checkers do; latency runs from each request's write to its response.
//!
//! `cargo run --release --example loadgen -- ADDR PATH RATE CONNECTIONS SECONDS`
//! prints `rate=<achieved req/s> p50=<ms> p99=<ms> p999=<ms> max=<ms> errors=<n>`.
//! A connection the server closes (`Connection: close`, e.g. at the agent's
//! per-connection request budget) is opened again, not counted as an error.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn conn(
    addr: SocketAddr,
    path: String,
    every: Duration,
    until: Instant,
    offset: Duration,
) -> (Vec<Duration>, u64) {
    let (mut lat, mut errors) = (Vec::new(), 0);
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return (lat, 1);
    };
    let _ = s.set_nodelay(true);
    let req = format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").into_bytes();
    let mut buf = vec![0u8; 4096];
    let mut next = Instant::now() + offset;
    while next < until {
        tokio::time::sleep_until(next.into()).await;
        let sent = Instant::now();
        if s.write_all(&req).await.is_err() {
            errors += 1;
            break;
        }
        // Read one whole response: head, then Content-Length bytes of body.
        let mut have = 0;
        let close;
        loop {
            match s.read(&mut buf[have..]).await {
                Ok(0) | Err(_) => return (lat, errors + 1),
                Ok(n) => have += n,
            }
            let text = &buf[..have];
            if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&text[..end]).to_ascii_lowercase();
                let len: usize = head
                    .split("content-length:")
                    .nth(1)
                    .and_then(|v| v.lines().next())
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if have >= end + 4 + len {
                    if !head.starts_with("http/1.1 200") && !head.starts_with("http/1.1 503") {
                        errors += 1;
                    }
                    // The server ends a connection at its request or age budget, as
                    // a client of the agent must expect: connect again, as Route 53's
                    // checkers and load balancers do.
                    close = head.contains("\r\nconnection: close");
                    break;
                }
            }
        }
        lat.push(sent.elapsed());
        next += every;
        if close {
            let Ok(again) = TcpStream::connect(addr).await else {
                return (lat, errors + 1);
            };
            s = again;
            let _ = s.set_nodelay(true);
        }
    }
    (lat, errors)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 6 {
        eprintln!("usage: loadgen ADDR PATH RATE CONNECTIONS SECONDS");
        std::process::exit(2);
    }
    let addr: SocketAddr = a[1].parse().expect("ADDR");
    let (rate, conns, secs): (f64, u32, f64) = (
        a[3].parse().expect("RATE"),
        a[4].parse().expect("CONNECTIONS"),
        a[5].parse().expect("SECONDS"),
    );
    let every = Duration::from_secs_f64(conns as f64 / rate);
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..conns)
        .map(|i| {
            tokio::spawn(conn(
                addr,
                a[2].clone(),
                every,
                until,
                every.mul_f64(i as f64 / conns as f64),
            ))
        })
        .collect();
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.expect("task");
        all.extend(l);
        errors += e;
    }
    all.sort();
    let p = |q: f64| {
        all.get(((all.len().max(1) - 1) as f64 * q) as usize)
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(f64::NAN)
    };
    println!(
        "rate={:.0} p50={:.3}ms p99={:.3}ms p999={:.3}ms max={:.3}ms errors={errors}",
        all.len() as f64 / secs,
        p(0.5),
        p(0.99),
        p(0.999),
        p(1.0)
    );
}
