//! The demo's DNS server, on hickory-server: authoritative for [`ZONE`], with one A
//! record per app whose address the demo sets as the answer moves. hickory's
//! catalog does the protocol: a name in the zone with no records gets NXDOMAIN (with
//! the SOA), a name outside it REFUSED, another type at an app's name an empty
//! answer. UDP and TCP on one address.

use hickory_server::proto::rr::rdata::{A, NS, SOA};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_server::proto::ProtoError;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneHandler, ZoneType};
use hickory_server::Server;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The zone the server is authoritative for.
pub const ZONE: &str = "example.com.";
/// The TTL of the apps' A records, in seconds: how long a resolver may keep an
/// answer after it moves.
pub const TTL: u32 = 5;
/// A TCP client that sends nothing for this long is disconnected.
const TCP_IDLE: Duration = Duration::from_secs(5);

/// Why the DNS server could not start or change its zone.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen for DNS on {addr} ({proto}): {source} (pick another port with --dns-port)")]
    Bind {
        addr: SocketAddr,
        proto: &'static str,
        source: std::io::Error,
    },
    #[error("demo DNS name is invalid (a bug): {0}")]
    Name(#[from] ProtoError),
    #[error("demo DNS zone is invalid (a bug): {0}")]
    Zone(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `APP.example.com.`
pub fn app_name(app: &str) -> Result<Name> {
    Ok(Name::from_ascii(format!("{app}.{ZONE}"))?)
}

/// The zone's records: shared with the server, changed in place.
#[derive(Clone)]
pub struct Zone {
    handler: Arc<InMemoryZoneHandler>,
}

impl Zone {
    /// The zone with its SOA and NS and one A record per `(app, address)`.
    pub fn new(apps: &BTreeMap<String, Ipv4Addr>) -> Result<Zone> {
        let origin = Name::from_ascii(ZONE)?;
        let ns = Name::from_ascii(format!("ns.{ZONE}"))?;
        let soa = SOA::new(
            ns.clone(),
            Name::from_ascii(format!("hostmaster.{ZONE}"))?,
            1,
            3600,
            600,
            86400,
            TTL,
        );
        let mut records = vec![
            Record::from_rdata(origin.clone(), 3600, RData::SOA(soa)),
            Record::from_rdata(origin.clone(), 3600, RData::NS(NS(ns.clone()))),
            Record::from_rdata(ns, 3600, RData::A(A(Ipv4Addr::LOCALHOST))),
        ];
        for (app, ip) in apps {
            records.push(a_record(app, *ip)?);
        }
        let sets: BTreeMap<RrKey, RecordSet> = records
            .into_iter()
            .map(|r| (RrKey::new(LowerName::new(&r.name), r.record_type()), RecordSet::from(r)))
            .collect();
        let handler =
            InMemoryZoneHandler::new(origin, sets, ZoneType::Primary, AxfrPolicy::Deny).map_err(Error::Zone)?;
        Ok(Zone {
            handler: Arc::new(handler),
        })
    }

    /// Makes `ip` the only address `APP.example.com` answers.
    pub async fn set(&self, app: &str, ip: Ipv4Addr) -> Result<()> {
        let record = a_record(app, ip)?;
        let key = RrKey::new(LowerName::new(&record.name), RecordType::A);
        self.handler
            .records_mut()
            .await
            .insert(key, Arc::new(RecordSet::from(record)));
        Ok(())
    }

    fn catalog(&self) -> Result<Catalog> {
        let mut catalog = Catalog::new();
        let handler: Arc<dyn ZoneHandler> = self.handler.clone();
        catalog.upsert(LowerName::new(&Name::from_ascii(ZONE)?), vec![handler]);
        Ok(catalog)
    }
}

fn a_record(app: &str, ip: Ipv4Addr) -> Result<Record> {
    Ok(Record::from_rdata(app_name(app)?, TTL, RData::A(A(ip))))
}

/// A UDP socket and a TCP listener for the server, normally on one address.
pub struct Sockets {
    pub udp: UdpSocket,
    pub tcp: TcpListener,
}

impl Sockets {
    /// Binds UDP and TCP on `addr`.
    pub async fn bind(addr: SocketAddr) -> Result<Sockets> {
        let err = |proto| move |source| Error::Bind { addr, proto, source };
        Ok(Sockets {
            udp: UdpSocket::bind(addr).await.map_err(err("udp"))?,
            tcp: TcpListener::bind(addr).await.map_err(err("tcp"))?,
        })
    }
}

/// Starts serving `zone` on `sockets` until `shutdown`, then stops gracefully; the
/// returned task ends when the server has stopped. Errors of the server's tasks are
/// logged, not returned: the demo goes on without DNS.
pub fn serve(zone: &Zone, sockets: Sockets, shutdown: CancellationToken) -> Result<JoinHandle<()>> {
    let mut server = Server::new(zone.catalog()?);
    server.register_socket(sockets.udp);
    server.register_listener(sockets.tcp, TCP_IDLE, 64);
    let stop = server.shutdown_token().clone();
    Ok(tokio::spawn(async move {
        let done = server.block_until_done();
        tokio::pin!(done);
        let result = tokio::select! {
            r = &mut done => r,
            _ = shutdown.cancelled() => {
                stop.cancel();
                done.await
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "demo DNS server stopped");
        }
    }))
}

#[cfg(test)]
#[path = "dns_tests.rs"]
mod tests;
