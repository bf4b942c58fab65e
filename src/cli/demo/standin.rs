//! The demo's stand-in for Route 53: [`checkers`] poll each Region's agent, one
//! failover record set per app (primary eu-west-1, secondary eu-central-1) is judged
//! by [`answer`], Route 53's documented rules, and the [`dns`] server answers
//! `APP.example.com` with the chosen Region's address.

use super::checkers::{self, Targets, Timing, Views};
use super::dns::{self, Sockets, Zone};
use super::{APPS, REGIONS};
use crate::model::DnsView;
use crate::publish::route53::answer::{answer, Answer, Health, SetRecord};
use crate::publish::route53::sets::{Member, RecordSet};
use crate::publish::route53::view;
use crate::spec::route53::{FailoverRole, Routing};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Each Region's address in DNS, by index in [`REGIONS`] (documentation ranges).
pub const ADDRESSES: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(198, 51, 100, 10)];

/// The current answer per app name (`app1`, `app2`).
pub type Answers = BTreeMap<String, Answer>;

/// The running stand-in.
pub struct StandIn {
    answers: watch::Receiver<Answers>,
    views: watch::Receiver<Views>,
}

impl StandIn {
    /// Starts the checkers on `targets` and the DNS server on `sockets`, until
    /// `shutdown`. DNS answers the primary for every app until the checkers say
    /// otherwise (a new check counts healthy).
    pub fn start(
        targets: &Targets,
        timing: Timing,
        sockets: Sockets,
        shutdown: &CancellationToken,
    ) -> dns::Result<StandIn> {
        // Every checker starts healthy: the first answers are the primaries.
        let now = answers(&Views::new());
        let zone = Zone::new(&addresses(&now))?;
        dns::serve(&zone, sockets, shutdown.clone())?;
        let views = checkers::start(targets, timing, shutdown);
        let (tx, rx) = watch::channel(now);
        tokio::spawn(follow(views.clone(), zone, tx, shutdown.clone()));
        Ok(StandIn { answers: rx, views })
    }

    /// The current DNS answer per app, as the demo's DNS server gives it: the
    /// receiver sees every change (an answer's Region or its reason), and always
    /// holds one answer for each of [`APPS`].
    pub fn answers(&self) -> watch::Receiver<Answers> {
        self.answers.clone()
    }

    /// The checkers' views: what [`dns_view`] needs.
    pub fn views(&self) -> watch::Receiver<Views> {
        self.views.clone()
    }
}

/// `app`'s DNS view as the agent of `region` shows it (on its status page and in
/// `/apps/<app>`): both Regions' records, healthy by their checkers, and the answer.
pub fn dns_view(views: &Views, app: &'static str, region: &str, old: Option<&DnsView>) -> Option<DnsView> {
    let check = |r: &str| format!("demo-{app}-{r}");
    let members = records(views, app)
        .into_iter()
        .enumerate()
        .map(|(r, rec)| Member {
            health_check_id: Some(check(&rec.set_identifier)),
            set_identifier: rec.set_identifier,
            routing: rec.routing,
            target: ADDRESSES[r].to_string(),
        })
        .collect();
    let set = RecordSet {
        zone: "example.com.".into(),
        name: format!("{app}.example.com."),
        members,
    };
    let statuses = records(views, app)
        .into_iter()
        .map(|rec| (check(&rec.set_identifier), Some(rec.health == Health::Healthy)))
        .collect();
    view::dns_view(&set, region, &statuses, old, || {
        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
    })
}

/// Keeps the zone and `tx` in step with the checkers' views, and prints one line per
/// app whose answer changed.
async fn follow(
    mut views: watch::Receiver<Views>,
    zone: Zone,
    tx: watch::Sender<Answers>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = views.changed() => if changed.is_err() { return },
        }
        let next = answers(&views.borrow_and_update());
        let before = tx.borrow().clone();
        for (app, a) in &next {
            if before.get(app) == Some(a) {
                continue;
            }
            if let Some(r) = target(a) {
                if let Err(e) = zone.set(app, ADDRESSES[r]).await {
                    tracing::error!(app, error = %e, "demo DNS: cannot change the answer");
                }
            }
            println!("{}", line(app, a));
        }
        tx.send_replace(next);
    }
}

/// The record set of `app` as Route 53 would hold it: primary eu-west-1, secondary
/// eu-central-1, each healthy by its checkers' views (more than 18%).
pub fn records(views: &Views, app: &'static str) -> Vec<SetRecord> {
    REGIONS
        .iter()
        .enumerate()
        .map(|(r, region)| {
            let healthy = views.get(&(r, app)).is_none_or(|v| checkers::record_healthy(v));
            SetRecord {
                set_identifier: (*region).to_owned(),
                routing: Routing::Failover(if r == 0 {
                    FailoverRole::Primary
                } else {
                    FailoverRole::Secondary
                }),
                health: if healthy { Health::Healthy } else { Health::Unhealthy },
            }
        })
        .collect()
}

/// Every app's answer from the checkers' views.
pub fn answers(views: &Views) -> Answers {
    APPS.iter()
        .filter_map(|app| Some((app.to_string(), answer(&records(views, app))?)))
        .collect()
}

/// The index in [`REGIONS`] of the Region that gets the (largest share of) answers.
pub fn target(a: &Answer) -> Option<usize> {
    let (id, _) = a.shares.iter().max_by(|x, y| x.1.total_cmp(y.1))?;
    REGIONS.iter().position(|r| r == id)
}

/// Each app's address in DNS for `answers`.
fn addresses(answers: &Answers) -> BTreeMap<String, Ipv4Addr> {
    answers
        .iter()
        .filter_map(|(app, a)| Some((app.clone(), ADDRESSES[target(a)?])))
        .collect()
}

/// `app1.example.com -> eu-central-1 198.51.100.10 (primary eu-west-1 unhealthy, ...)`.
pub fn line(app: &str, a: &Answer) -> String {
    let to = match target(a) {
        Some(r) => format!("{} {}", REGIONS[r], ADDRESSES[r]),
        None => "nowhere".to_owned(),
    };
    format!("{app}.{} -> {to} ({})", dns::ZONE.trim_end_matches('.'), a.why)
}

/// The DNS part of the banner: the server, the records, the checkers' timing next to
/// Route 53's, the command to ask it, and how long a failover takes to show in DNS
/// when the agent's verdict takes at most `verdict`.
pub fn banner(addr: SocketAddr, t: Timing, verdict: Duration) -> String {
    let r53 = checkers::ROUTE53_TIMING;
    let secs = |d: Duration| d.as_secs_f64();
    let at_server = verdict + t.interval * t.threshold;
    let mut s = format!(
        "DNS, from a stand-in for Route 53 on loopback:\n  server   {addr} (UDP and TCP), authoritative for {zone}, TTL {ttl} s\n",
        zone = dns::ZONE.trim_end_matches('.'),
        ttl = dns::TTL,
    );
    s += &format!(
        "  records  app1.example.com and app2.example.com, failover: primary {} {}, secondary {} {}\n",
        REGIONS[0], ADDRESSES[0], REGIONS[1], ADDRESSES[1]
    );
    s += &format!(
        "  checks   {n} checkers per record GET each Region's /health/<app> every {i} s, failure threshold {th},\n           {c} s to connect and {rt} s to answer 2xx/3xx; a record is healthy when more than 18% of its checkers say so\n           (Route 53 itself: about 15 checkers every {ri} s or 10 s, threshold {rth} by default: the demo is faster)\n",
        n = checkers::CHECKERS,
        i = secs(t.interval),
        th = t.threshold,
        c = secs(t.connect_timeout),
        rt = secs(t.response_timeout),
        ri = r53.interval.as_secs(),
        rth = r53.threshold,
    );
    s += &format!(
        "\nAsk it:\n  dig @{ip} -p {port} app1.example.com +short\n  watch -n1 'dig @{ip} -p {port} +short app1.example.com app2.example.com'\n",
        ip = addr.ip(),
        port = addr.port(),
    );
    s += &format!(
        "\nAfter the break, app1's answer moves to {r1} {a1} within {v} s (the agent's verdict) + {i} s x {th} (the checkers) = {srv} s\nat this server, and up to {ttl} s (TTL) later at a resolver that cached it: {all} s in all. app2's never moves.\nEach change prints a line:\n",
        r1 = REGIONS[1],
        a1 = ADDRESSES[1],
        v = secs(verdict),
        i = secs(t.interval),
        th = t.threshold,
        srv = secs(at_server),
        ttl = dns::TTL,
        all = secs(at_server) + f64::from(dns::TTL),
    );
    s
}

#[cfg(test)]
#[path = "standin_tests.rs"]
mod tests;
