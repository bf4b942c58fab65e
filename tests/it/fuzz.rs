//! Arbitrary bytes on the public and admin listeners of a running agent: no
//! panic on any of the agent's threads, and afterwards the agent still answers
//! `/healthz` and `/health/<app>` as before.

use crate::support::{config, get, request, TestAgent};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Counts panics on threads whose name starts with `prefix` (the agent's
/// runtime), whatever they hit: a panicking connection task is caught by tokio
/// and would otherwise go unseen. Other threads' panics go to the previous hook only.
fn count_panics_on(prefix: &'static str) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name().is_some_and(|t| t.starts_with(prefix)) {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        prev(info);
    }));
    n
}

/// Pieces of HTTP/1 and of the agent's own routes, so random concatenations
/// reach the router, the query parsing and the body handling, not only the parser.
const PIECES: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"OPTIONS ",
    b"DELETE ",
    b"/health/app1",
    b"/health/",
    b"/health/app1/../../apps",
    b"/healthz",
    b"/readyz",
    b"/apps",
    b"/apps/app1",
    b"/apps/app1/override?mode=",
    b"fail",
    b"pass",
    b"&ttlSeconds=",
    b"/metrics",
    b"/status",
    b"?",
    b"&",
    b"=",
    b"%",
    b"%00",
    b"%ff",
    b" HTTP/1.1\r\n",
    b" HTTP/1.0\r\n",
    b" HTTP/2.0\r\n",
    b" HTTP/9.9\r\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"Host: x\r\n",
    b"Host: \r\n",
    b"Content-Length: ",
    b"Content-Length: 5\r\nContent-Length: 6\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: keep-alive\r\n",
    b"Connection: close\r\n",
    b"Connection: upgrade\r\nUpgrade: websocket\r\n",
    b"Expect: 100-continue\r\n",
    b"X-Failover-Agent: 1\r\n",
    b"Origin: http://evil.example\r\n",
    b"X-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n",
    b"Accept: application/json\r\n",
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"0\r\n\r\n",
    b"5\r\nhello\r\n",
    b"ffffffffffffffff\r\n",
    b"18446744073709551616",
    b"99999999999999999999999",
    b"-1",
    b"NaN",
    b"1e300",
    b"\0",
    b"\xff\xfe\xfd",
    b"\xc3\x28",
    b" ",
    b":",
];

/// One HTTP/1 request, mostly well formed: a method, a path made of the agent's
/// routes and noise, a version, headers, an empty line and a body.
fn http_request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        12 => prop::sample::select(&["GET", "HEAD", "POST", "PUT", "OPTIONS", "DELETE"][..]).prop_map(String::from),
        1 => "[A-Z]{0,8}",
    ];
    let path_piece = prop_oneof![
        4 => prop::sample::select(&[
            "/health/app1", "/health/nope", "/health/", "/healthz", "/readyz", "/apps", "/apps/app1",
            "/apps/nope/override", "/apps/app1/override", "/metrics", "/status", "/", "/..", "//",
        ][..]).prop_map(String::from),
        2 => prop::sample::select(&[
            "?mode=fail", "?mode=pass", "?mode=none", "?mode=bogus", "?mode=", "&ttlSeconds=", "&ttlSeconds=1",
            "&ttlSeconds=99999999999999999999", "&ttlSeconds=-1", "&ttlSeconds=1e300", "&ttlSeconds=NaN", "%00",
            "%ff", "%", "?", "&&", "=",
        ][..]).prop_map(String::from),
        // (well-formed noise that the URL parser accepts, mostly)
        1 => "[a-zA-Z0-9/._~%=&?-]{0,16}",
        1 => "[!-~]{0,16}",
    ];
    let path = prop::collection::vec(path_piece, 1..4).prop_map(|p| p.concat());
    let version = prop_oneof![
        12 => Just(" HTTP/1.1"),
        2 => Just(" HTTP/1.0"),
        1 => prop::sample::select(&[" HTTP/2.0", "", " http/1.1", " HTTP/1.1 x"][..]),
    ];
    let header = prop_oneof![
        14 => prop::sample::select(&[
            "Host: x", "Host:", "Content-Length: 0", "Connection: keep-alive", "Connection: close",
            "Expect: 100-continue", "Upgrade: websocket", "X-Failover-Agent: 1", "Origin: http://evil.example",
            "Origin: null", "X-Forwarded-For: 1.2.3.4, 5.6.7.8", "Accept: application/json", "Authorization: Bearer x",
        ][..]).prop_map(String::from),
        // Framing the parser must refuse or handle: huge, negative, doubled, chunked.
        2 => prop::sample::select(&[
            "Content-Length: 5", "Content-Length: 18446744073709551616", "Content-Length: -1",
            "Content-Length: 5\r\nContent-Length: 6", "Transfer-Encoding: chunked", "Transfer-Encoding: gzip, chunked",
        ][..]).prop_map(String::from),
        1 => "[A-Za-z-]{1,12}: [ -~]{0,24}",
        1 => "[!-~]{1,12}: [ -~]{0,24}",
    ];
    let headers = prop::collection::vec(header, 0..6);
    let body = prop_oneof![
        6 => Just(Vec::new()),
        1 => prop::sample::select(BODIES)
            .prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ];
    (method, path, version, headers, body).prop_map(|(m, p, v, h, b)| {
        let mut out = format!("{m} {p}{v}\r\n").into_bytes();
        for line in h {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&b);
        out
    })
}

/// Bodies: empty, chunked (good and bad), or noise.
const BODIES: &[&[u8]] = &[
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"ffffffffffffffff\r\n",
    b"hello",
];

/// A connection's bytes: fully random, pieces of HTTP mixed with noise, or one to
/// three (pipelined) requests, sometimes cut short or followed by noise.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => prop::sample::select(PIECES).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..48),
        1 => "[ -~]{0,32}".prop_map(String::into_bytes),
        1 => any::<u64>().prop_map(|n| n.to_string().into_bytes()),
    ];
    let requests = (
        prop::collection::vec(http_request(), 1..4),
        any::<prop::sample::Index>(),
        0..4u8,
    )
        .prop_map(|(reqs, cut, how)| {
            let mut all = reqs.concat();
            match how {
                0 => all.truncate(cut.index(all.len() + 1)),
                1 => all.extend_from_within(..cut.index(all.len() + 1)),
                _ => {}
            }
            all
        });
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..2048),
        1 => prop::collection::vec(piece, 0..16).prop_map(|p| p.concat()),
        4 => requests,
    ]
}

/// Writes `data` on a new connection, half-closes it, and reads what comes back
/// until the agent closes (or 2 s pass). Errors are fine: only the agent's
/// behaviour is judged.
async fn send(addr: SocketAddr, data: &[u8]) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return;
    };
    let _ = s.write_all(data).await;
    let _ = s.shutdown().await;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut sink)).await;
}

/// `/healthz` answers 200 on the public or the admin listener (wherever it lives),
/// and `/health/<app>` has its verdict and the right status.
async fn still_serving(a: &TestAgent) {
    let on_public = get(a.health, "/healthz").await.0;
    let on_admin = get(a.admin, "/healthz").await.0;
    assert!(
        on_public == 200 || on_admin == 200,
        "/healthz: public {on_public}, admin {on_admin}"
    );
    assert_eq!(a.health("app1").await, (200, "HEALTHY app1\n".to_string()));
    assert_eq!(a.health("nope").await.0, 404);
}

#[test]
fn arbitrary_bytes_never_panic_the_listeners_and_the_agent_keeps_serving() {
    let panics = count_panics_on("fuzz-agent");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fuzz-agent")
        .enable_all()
        .build()
        .unwrap();
    // A TCP endpoint nothing listens on, under a long start-up grace: the app is
    // HEALTHY for the whole test, whatever the probes say.
    let agent = rt.block_on(TestAgent::start(&config(
        &[("app1", vec!["tcp://127.0.0.1:9".into()])],
        "{ intervalSeconds: 5 }",
        "{ startupGraceSeconds: 600 }",
    )));
    rt.block_on(still_serving(&agent));
    let start = Instant::now();
    let mut runner = TestRunner::new(Config {
        cases: 500,
        failure_persistence: None,
        ..Config::default()
    });
    let (public, admin) = (agent.health, agent.admin);
    runner
        .run(&(bytes(), any::<bool>()), |(data, to_admin)| {
            rt.block_on(send(if to_admin { admin } else { public }, &data));
            prop_assert_eq!(panics.load(Ordering::SeqCst), 0, "a listener panicked on {:?}", data);
            Ok(())
        })
        .unwrap();
    eprintln!("500 connections of arbitrary bytes in {:?}", start.elapsed());
    rt.block_on(async {
        // The pieces can form a real override request: undo it before judging the verdict.
        let clear = "POST /apps/app1/override?mode=clear HTTP/1.1\r\nHost: test\r\nX-Failover-Agent: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let resp = crate::support::raw(admin, clear.as_bytes()).await;
        assert_eq!(crate::support::status_of(&resp), 200, "{}", String::from_utf8_lossy(&resp));
        still_serving(&agent).await;
        assert_eq!(request(admin, "GET", "/apps").await.0, 200);
    });
    assert_eq!(panics.load(Ordering::SeqCst), 0, "panics on the agent's threads");
    rt.block_on(agent.stop());
}
