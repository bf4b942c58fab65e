//! Tests of `publish/http/client.rs`.

use super::*;
use crate::spec::Cidr;

fn v2(command: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut h = SIGNATURE.to_vec();
    h.push(0x20 | command);
    h.push(fam);
    h.extend_from_slice(&(body.len() as u16).to_be_bytes());
    h.extend_from_slice(body);
    h
}

async fn parse(bytes: &[u8]) -> (Result<Header>, Vec<u8>) {
    let mut r = bytes;
    let h = read_header(&mut r, Duration::from_secs(1)).await;
    (h, r.to_vec())
}

#[tokio::test]
async fn reads_the_client_and_leaves_the_request() {
    let mut body = vec![203, 0, 113, 9, 10, 0, 0, 5, 0x30, 0x39, 0, 80];
    body.extend_from_slice(&[0xEA, 0, 3, b'v', b'p', b'c']); // an NLB TLV
    let mut conn = v2(1, 0x11, &body);
    conn.extend_from_slice(b"GET /health/a HTTP/1.1\r\n");
    let (h, rest) = parse(&conn).await;
    assert_eq!(h, Ok(Header::Proxied("203.0.113.9".parse().unwrap())));
    assert_eq!(
        rest, b"GET /health/a HTTP/1.1\r\n",
        "not one byte of the request is eaten"
    );

    let mut six = [0u8; 36];
    six[..16].copy_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
    let (h, _) = parse(&v2(1, 0x21, &six)).await;
    assert_eq!(h, Ok(Header::Proxied("2001:db8::7".parse().unwrap())));
}

#[tokio::test]
async fn local_and_unspecified_keep_the_peer() {
    assert_eq!(
        parse(&v2(0, 0x00, &[])).await.0,
        Ok(Header::Local),
        "an NLB health check"
    );
    assert_eq!(parse(&v2(1, 0x00, &[])).await.0, Ok(Header::Local));
}

#[tokio::test]
async fn anything_else_is_refused() {
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.0,
        Err(Error::NoHeader)
    );
    assert_eq!(
        parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n").await.0,
        Err(Error::NoHeader),
        "v1 is not v2"
    );
    assert!(matches!(
        parse(&v2(1, 0x11, &[1, 2, 3])).await.0,
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        parse(&v2(7, 0x11, &[0; 12])).await.0,
        Err(Error::Malformed(_))
    ));
    let mut long = SIGNATURE.to_vec();
    long.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    assert!(matches!(parse(&long).await.0, Err(Error::Malformed(_))));
    let mut short = v2(1, 0x11, &[0; 12]);
    short.truncate(20);
    assert!(matches!(parse(&short).await.0, Err(Error::Malformed(_))));
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_times_out() {
    let (_client, mut server) = tokio::io::duplex(64);
    let r = read_header(&mut server, Duration::from_secs(5)).await;
    assert_eq!(r, Err(Error::Timeout));
}

#[test]
fn forwarded_for_is_read_from_the_right() {
    let limits = PublicListener {
        trusted_proxies: vec![Cidr::parse("10.0.0.0/16").unwrap()],
        ..Default::default()
    };
    let mut h = HeaderMap::new();
    h.append("x-forwarded-for", "1.1.1.1, 198.51.100.4".parse().unwrap());
    h.append("x-forwarded-for", "10.0.9.9".parse().unwrap());
    assert_eq!(
        forwarded_client(&h, &limits),
        Some("198.51.100.4".parse().unwrap()),
        "the client's own claim (1.1.1.1) and trusted hops are skipped"
    );
    let mut junk = HeaderMap::new();
    junk.append("x-forwarded-for", "nonsense".parse().unwrap());
    assert_eq!(forwarded_client(&junk, &limits), None);
    assert_eq!(forwarded_client(&HeaderMap::new(), &limits), None);
}
