//! The connection table: who holds the listener's connections, and which one
//! goes when it is full.
//!
//! Guarantees, for a table made with `max` and `per_client`:
//! - at most `max` connections are admitted at once, and at most `per_client` of
//!   them carry one client address;
//! - when all `max` are taken, a new connection is admitted by closing the one
//!   that has waited longest for its next request (idle keep-alive connections,
//!   and connections that have not finished their first head). It is refused only
//!   when every connection is busy answering a request;
//! - a connection's slot is given back when its [`Ticket`] drops, whatever ended it.
//!
//! So a client that holds thousands of idle keep-alive connections can fill the
//! table, but never keep a new client out: Route 53's checkers open a new
//! connection for every check, and each evicts the oldest idle one.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a connection was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Every slot is busy answering a request: nothing idle to close.
    Full,
    /// This client already holds its share.
    ClientCap,
}

/// `waiting_since` of a connection that is answering a request.
const BUSY: u64 = u64::MAX;

/// One admitted connection, as the table and its own task see it.
#[derive(Debug)]
pub struct Conn {
    /// Milliseconds since the table's epoch at which the connection began waiting
    /// for a request head, or [`BUSY`].
    waiting_since: AtomicU64,
    /// Cancelled when the table evicts the connection.
    evicted: CancellationToken,
}

impl Conn {
    /// The connection must close now: the table gave its slot to a newer one.
    pub fn evicted(&self) -> &CancellationToken {
        &self.evicted
    }
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    conns: HashMap<u64, (Arc<Conn>, Option<IpAddr>)>,
    per_client: HashMap<IpAddr, usize>,
}

/// The listener's connection table. Share it with an `Arc`.
#[derive(Debug)]
pub struct Table {
    max: usize,
    per_client: usize,
    epoch: Instant,
    inner: Mutex<Inner>,
}

/// A held slot. Dropping it frees the slot (and the client's share).
#[derive(Debug)]
pub struct Ticket {
    table: Arc<Table>,
    id: u64,
    conn: Arc<Conn>,
}

impl Table {
    pub fn new(max: usize, per_client: usize) -> Arc<Table> {
        Arc::new(Table {
            max: max.max(1),
            per_client: per_client.max(1),
            epoch: Instant::now(),
            inner: Mutex::new(Inner::default()),
        })
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Admits a connection from `client` (`None`: a trusted proxy, not counted per
    /// client), evicting the longest-waiting connection when the table is full.
    /// Returns the ticket and whether a connection was evicted for it.
    pub fn admit(self: &Arc<Self>, client: Option<IpAddr>) -> Result<(Ticket, bool), Refused> {
        let mut inner = self.inner.lock();
        if let Some(ip) = client {
            if inner.per_client.get(&ip).copied().unwrap_or(0) >= self.per_client {
                return Err(Refused::ClientCap);
            }
        }
        let mut evicted = false;
        if inner.conns.len() >= self.max {
            let oldest = inner
                .conns
                .iter()
                .map(|(id, (c, _))| (c.waiting_since.load(Ordering::Relaxed), *id))
                .filter(|(since, _)| *since != BUSY)
                .min();
            let Some((_, id)) = oldest else {
                return Err(Refused::Full);
            };
            if let Some((c, ip)) = inner.conns.remove(&id) {
                c.evicted.cancel();
                release(&mut inner.per_client, ip);
            }
            evicted = true;
        }
        if let Some(ip) = client {
            *inner.per_client.entry(ip).or_default() += 1;
        }
        let id = inner.next;
        inner.next += 1;
        let conn = Arc::new(Conn {
            waiting_since: AtomicU64::new(self.now_ms()),
            evicted: CancellationToken::new(),
        });
        inner.conns.insert(id, (conn.clone(), client));
        drop(inner);
        Ok((
            Ticket {
                table: self.clone(),
                id,
                conn,
            },
            evicted,
        ))
    }

    /// Open connections now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().conns.len()
    }
}

fn release(per_client: &mut HashMap<IpAddr, usize>, ip: Option<IpAddr>) {
    let Some(ip) = ip else { return };
    if let Some(n) = per_client.get_mut(&ip) {
        *n -= 1;
        if *n == 0 {
            per_client.remove(&ip);
        }
    }
}

impl Ticket {
    /// The connection's shared state (its eviction signal).
    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }

    /// Moves the connection to another client address (the one a PROXY protocol
    /// header names), under that client's cap. On refusal the ticket is unchanged.
    pub fn rename(&mut self, client: IpAddr) -> Result<(), Refused> {
        let mut inner = self.table.inner.lock();
        if inner.per_client.get(&client).copied().unwrap_or(0) >= self.table.per_client {
            return Err(Refused::ClientCap);
        }
        let Inner { conns, per_client, .. } = &mut *inner;
        // An evicted ticket has no entry any more; it is closing anyway.
        if let Some((_, ip)) = conns.get_mut(&self.id) {
            release(per_client, *ip);
            *ip = Some(client);
            *per_client.entry(client).or_default() += 1;
        }
        Ok(())
    }

    /// A request head arrived: the connection is busy until [`Ticket::waiting`].
    pub fn busy(conn: &Conn) {
        conn.waiting_since.store(BUSY, Ordering::Relaxed);
    }

    /// The answer is written: the connection waits for its next request.
    pub fn waiting(&self) {
        self.conn.waiting_since.store(self.table.now_ms(), Ordering::Relaxed);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.table.inner.lock();
        if let Some((_, ip)) = inner.conns.remove(&self.id) {
            release(&mut inner.per_client, ip);
        }
    }
}

#[cfg(test)]
#[path = "conns_tests.rs"]
mod tests;
