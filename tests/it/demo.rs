//! The README's first command: breaking app1 in one Region moves only app1 there,
//! in the agents' verdicts and in the demo's DNS, read with a real DNS client.

use crate::support::{get, request, wait_until};
use failover_agent::cli::demo;
use failover_agent::cli::demo::Ports;
use hickory_server::net::client::{Client, ClientHandle};
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::net::udp::UdpClientStream;
use hickory_server::proto::rr::{DNSClass, Name, RData, RecordType};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EU_WEST_1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const EU_CENTRAL_1: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

/// A base port with six free consecutive ports from it: five for the demo's HTTP
/// listeners, the last for DNS (free on UDP too).
fn free_base() -> u16 {
    for base in (20000..60000).step_by(97) {
        let all: Vec<_> = (0..6).map(|i| TcpListener::bind(("127.0.0.1", base + i))).collect();
        let udp = UdpSocket::bind(("127.0.0.1", base + 5));
        if all.iter().all(|l| l.is_ok()) && udp.is_ok() {
            return base;
        }
    }
    panic!("no six free consecutive ports");
}

/// A DNS client over UDP to the demo's server.
fn dns_client(addr: SocketAddr) -> Client<TokioRuntimeProvider> {
    let conn = UdpClientStream::builder(addr, TokioRuntimeProvider::default()).build();
    let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
    tokio::spawn(bg);
    client
}

/// The A records `app.example.com` answers now (empty on any error).
async fn answer(client: &mut Client<TokioRuntimeProvider>, app: &str) -> Vec<Ipv4Addr> {
    let name = Name::from_ascii(format!("{app}.example.com.")).expect("name");
    match client.query(name, DNSClass::IN, RecordType::A).await {
        Ok(resp) => resp
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Waits (generously) until app1.example.com answers `want`, sampling app2's
/// answer into `app2` on every try; the time taken.
async fn app1_answers(
    dns: &Client<TokioRuntimeProvider>,
    want: Ipv4Addr,
    app2: &std::sync::Mutex<Vec<Vec<Ipv4Addr>>>,
) -> Option<Duration> {
    wait_until(Duration::from_secs(30), || {
        let mut c = dns.clone();
        async move {
            let a2 = answer(&mut c, "app2").await;
            app2.lock().unwrap().push(a2);
            answer(&mut c, "app1").await == [want]
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_break_moves_only_app1_in_region_1() {
    let base = free_base();
    let ports = Ports { base, dns: base + 5 };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(demo::run(Ports { base, dns: base + 5 }, shutdown.clone()));
    let dns = dns_client(ports.dns());
    // Every answer app2.example.com gave, sampled while waiting for app1's.
    let app2 = std::sync::Mutex::new(Vec::new());
    let primary = app1_answers(&dns, EU_WEST_1, &app2).await;
    assert!(primary.is_some(), "app1.example.com never answered eu-west-1");
    let urls = [
        (ports.health(0), "app1"),
        (ports.health(0), "app2"),
        (ports.health(1), "app1"),
        (ports.health(1), "app2"),
    ];
    let all_up = wait_until(Duration::from_secs(10), || async {
        for (h, app) in urls {
            if get(h, &format!("/health/{app}")).await.0 != 200 {
                return false;
            }
        }
        true
    })
    .await;
    assert!(all_up.is_some(), "demo apps never all healthy");

    let (code, body) = request(ports.control(), "POST", "/break/eu-west-1/app1").await;
    assert_eq!(code, 200, "{body}");
    let others_bad = std::sync::Mutex::new(Vec::new());
    let moved = wait_until(Duration::from_secs(10), || async {
        for (h, app) in &urls[1..] {
            let r = get(*h, &format!("/health/{app}")).await;
            if r.0 != 200 {
                others_bad.lock().unwrap().push(r);
            }
        }
        get(urls[0].0, "/health/app1").await.0 == 503
    })
    .await;
    let others_bad = others_bad.into_inner().unwrap();
    assert!(moved.is_some(), "app1 in eu-west-1 never turned 503");
    assert!(others_bad.is_empty(), "other verdicts moved: {others_bad:?}");

    let moved = app1_answers(&dns, EU_CENTRAL_1, &app2).await;
    assert!(moved.is_some(), "app1.example.com never moved to eu-central-1");
    println!("app1.example.com moved {moved:?} after the verdict turned");
    // Both agents' /apps show the same answer as DNS, with their own record marked.
    for r in 0..2 {
        let shown = wait_until(Duration::from_secs(5), || async {
            let v: serde_json::Value =
                serde_json::from_str(&get(ports.admin(r), "/apps/app1").await.1).unwrap_or_default();
            let here = demo::REGIONS[r];
            v["dns"]["shares"]["eu-central-1"] == 1.0
                && v["dns"]["regions"]
                    .as_array()
                    .is_some_and(|rs| rs.iter().any(|x| x["here"] == true && x["setIdentifier"] == here))
        })
        .await;
        assert!(
            shown.is_some(),
            "Region {r}'s agent never showed app1 served from eu-central-1"
        );
    }

    request(ports.control(), "POST", "/fix/eu-west-1/app1").await;
    let back = wait_until(Duration::from_secs(10), || async {
        get(urls[0].0, "/health/app1").await.0 == 200
    })
    .await;
    assert!(back.is_some(), "app1 never recovered after fix");
    let back = app1_answers(&dns, EU_WEST_1, &app2).await;
    assert!(back.is_some(), "app1.example.com never came back to eu-west-1");
    let app2 = app2.into_inner().unwrap();
    let wrong: Vec<_> = app2.iter().filter(|a| a.as_slice() != [EU_WEST_1]).collect();
    assert!(
        wrong.is_empty(),
        "app2.example.com moved: {wrong:?} of {} samples",
        app2.len()
    );
    shutdown.cancel();
    task.await.unwrap().unwrap();
}
