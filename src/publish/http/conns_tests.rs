//! Tests of `publish/http/conns.rs`.

use super::*;

fn ip(last: u8) -> Option<IpAddr> {
    Some(IpAddr::from([192, 0, 2, last]))
}

#[test]
fn a_client_gets_its_share_and_no_more() {
    let t = Table::new(100, 2);
    let a = t.admit(ip(1)).unwrap().0;
    let _b = t.admit(ip(1)).unwrap().0;
    assert_eq!(t.admit(ip(1)).unwrap_err(), Refused::ClientCap);
    assert!(t.admit(ip(2)).is_ok(), "other clients are not affected");
    drop(a);
    assert!(t.admit(ip(1)).is_ok(), "a closed connection gives its share back");
    let proxied: Vec<_> = (0..10).map(|_| t.admit(None).unwrap().0).collect();
    assert_eq!(t.len(), 1 + proxied.len(), "trusted proxies are not counted per client");
}

#[test]
fn a_full_table_closes_the_longest_waiting_connection() {
    let t = Table::new(3, 10);
    let first = t.admit(ip(1)).unwrap().0;
    std::thread::sleep(std::time::Duration::from_millis(3));
    let second = t.admit(ip(1)).unwrap().0;
    let third = t.admit(ip(1)).unwrap().0;
    Ticket::busy(second.conn());
    let (_fourth, evicted) = t.admit(ip(2)).unwrap();
    assert!(evicted);
    assert!(first.conn().evicted().is_cancelled(), "the oldest idle one goes");
    assert!(!second.conn().evicted().is_cancelled());
    assert!(!third.conn().evicted().is_cancelled());
    assert_eq!(t.len(), 3);
    drop(first);
    assert_eq!(t.len(), 3, "dropping an evicted ticket frees nothing twice");
    // The evicted connection's client share was returned at eviction.
    let t2 = Table::new(1, 1);
    let a = t2.admit(ip(9)).unwrap().0;
    let (_b, evicted) = t2.admit(ip(8)).unwrap();
    assert!(evicted && a.conn().evicted().is_cancelled());
    drop(a);
}

#[test]
fn a_table_of_busy_connections_refuses() {
    let t = Table::new(2, 10);
    let a = t.admit(ip(1)).unwrap().0;
    let b = t.admit(ip(2)).unwrap().0;
    Ticket::busy(a.conn());
    Ticket::busy(b.conn());
    assert_eq!(t.admit(ip(3)).unwrap_err(), Refused::Full);
    b.waiting();
    assert!(t.admit(ip(3)).is_ok(), "once b waits again it can be evicted");
    assert!(b.conn().evicted().is_cancelled());
}

#[test]
fn rename_moves_the_share_to_the_named_client() {
    let t = Table::new(10, 1);
    let mut a = t.admit(None).unwrap().0;
    a.rename(IpAddr::from([198, 51, 100, 1])).unwrap();
    let mut b = t.admit(None).unwrap().0;
    assert_eq!(b.rename(IpAddr::from([198, 51, 100, 1])), Err(Refused::ClientCap));
    b.rename(IpAddr::from([198, 51, 100, 2])).unwrap();
    drop(a);
    let mut c = t.admit(None).unwrap().0;
    assert!(c.rename(IpAddr::from([198, 51, 100, 1])).is_ok());
}
