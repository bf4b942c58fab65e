use super::*;
use hickory_server::net::client::{Client, ClientHandle};
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::net::udp::UdpClientStream;
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::DNSClass;

/// Binds UDP on a free port and TCP on the same port.
async fn sockets() -> Sockets {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
        let addr = udp.local_addr().expect("addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return Sockets { udp, tcp };
        }
    }
}

async fn query(addr: SocketAddr, name: &str, rtype: RecordType) -> (ResponseCode, Vec<RData>) {
    let conn = UdpClientStream::builder(addr, TokioRuntimeProvider::default()).build();
    let (mut client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
    tokio::spawn(bg);
    let name = Name::from_ascii(name).expect("name");
    let resp = client.query(name, DNSClass::IN, rtype).await.expect("a DNS response");
    let data = resp.answers.iter().map(|r| r.data.clone()).collect();
    (resp.metadata.response_code, data)
}

#[tokio::test]
async fn answers_the_apps_and_refuses_or_denies_the_rest() {
    let zone = Zone::new(&BTreeMap::from([("app1".to_owned(), Ipv4Addr::new(192, 0, 2, 10))])).expect("zone");
    let sockets = sockets().await;
    let addr = sockets.udp.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let server = serve(&zone, sockets, stop.clone()).expect("serve");

    let a = |ip| RData::A(A(ip));
    assert_eq!(
        query(addr, "app1.example.com.", RecordType::A).await,
        (ResponseCode::NoError, vec![a(Ipv4Addr::new(192, 0, 2, 10))])
    );
    zone.set("app1", Ipv4Addr::new(198, 51, 100, 10)).await.expect("set");
    assert_eq!(
        query(addr, "APP1.example.com.", RecordType::A).await,
        (ResponseCode::NoError, vec![a(Ipv4Addr::new(198, 51, 100, 10))]),
        "the new address only, and names are case-insensitive"
    );
    assert_eq!(
        query(addr, "app1.example.com.", RecordType::AAAA).await,
        (ResponseCode::NoError, vec![]),
        "no AAAA: an empty answer"
    );
    assert_eq!(
        query(addr, "app9.example.com.", RecordType::A).await.0,
        ResponseCode::NXDomain
    );
    assert_eq!(
        query(addr, "app1.example.org.", RecordType::A).await.0,
        ResponseCode::Refused
    );

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops on shutdown")
        .expect("join");
}
