//! `failover-agent demo`: two simulated Regions on loopback, each with one agent
//! and two demo pods for each of app1 and app2, plus a control endpoint that breaks
//! and repairs an app in one Region, and a stand-in for Route 53 ([`standin`]):
//! checkers that poll each Region's agent and a DNS server that answers
//! `app1.example.com` and `app2.example.com` by failover policy. No cluster, no AWS.

pub mod checkers;
pub mod dns;
pub mod pod;
pub mod standin;

use crate::publish::http as serve;
use crate::publish::http::text;
use crate::publish::http::Limits;
use crate::run::standalone;
use crate::run::standalone::Listeners;
use crate::spec;
use crate::telemetry::Metrics;
use crate::verdict::store::Apps;
use checkers::Views;
use http::{Method, StatusCode};
use pod::{Mode, Pod};
use standin::StandIn;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub const REGIONS: [&str; 2] = ["eu-west-1", "eu-central-1"];
pub const APPS: [&str; 2] = ["app1", "app2"];
const PODS_PER_APP: usize = 2;
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// The longest an app's verdict takes to turn once its pods stop: `fallCount` 2 ×
/// the 1 s probe interval + the 0.5 s probe timeout ([`region_config`]).
pub const VERDICT_TIME: Duration = Duration::from_millis(2500);

/// Why the demo could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source} (pick other ports with --base-port)")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot start a demo pod: {0}")]
    Pod(std::io::Error),
    #[error("demo config is invalid (a bug): {0}")]
    Config(#[from] spec::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Agent(#[from] standalone::Error),
    #[error(transparent)]
    Dns(#[from] dns::Error),
}

impl Error {
    /// A fixed label for this kind of error, for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Bind { .. } => "bind",
            Error::Pod(_) => "pod",
            Error::Config(_) => "config",
            Error::Metrics(_) => "metrics",
            Error::Agent(e) => e.metric_label(),
            Error::Dns(_) => "dns",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The ports the demo listens on, all on 127.0.0.1: `base` for the control
/// endpoint, then each Region's health and admin ports in turn; `dns` for the DNS
/// server (UDP and TCP).
pub struct Ports {
    pub base: u16,
    pub dns: u16,
}

impl From<&crate::cli::DemoArgs> for Ports {
    fn from(args: &crate::cli::DemoArgs) -> Ports {
        Ports {
            base: args.base_port,
            dns: args.dns_port,
        }
    }
}

impl Ports {
    /// The DNS server's port by default (UDP and TCP).
    pub const DEFAULT_DNS: u16 = 18053;

    pub fn dns(&self) -> SocketAddr {
        SocketAddr::new(LOCALHOST, self.dns)
    }
    pub fn control(&self) -> SocketAddr {
        SocketAddr::new(LOCALHOST, self.base)
    }
    pub fn health(&self, region: usize) -> SocketAddr {
        SocketAddr::new(LOCALHOST, self.base + 1 + 2 * region as u16)
    }
    pub fn admin(&self, region: usize) -> SocketAddr {
        SocketAddr::new(LOCALHOST, self.base + 2 + 2 * region as u16)
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// The demo config of one Region: fast probes so a failure shows within seconds.
pub fn region_config(region: &str, pods: &BTreeMap<(usize, &str), Vec<Pod>>, r: usize) -> String {
    let mut y = format!("region: {region}\napps:\n");
    for app in APPS {
        let eps: Vec<String> = pods[&(r, app)].iter().map(|p| format!("\"{}\"", p.url())).collect();
        y += &format!(
            "  - name: {app}\n    endpoints: [{}]\n    probe: {{ intervalSeconds: 1, timeoutSeconds: 0.5 }}\n    policy: {{ minHealthyEndpoints: 1, fallCount: 2, riseCount: 2 }}\n",
            eps.join(", ")
        );
    }
    y
}

/// Runs the demo until `shutdown` is cancelled.
pub async fn run(ports: Ports, shutdown: CancellationToken) -> Result<()> {
    let control = bind(ports.control()).await?;
    let dns_sockets = dns::Sockets::bind(ports.dns()).await?;
    let mut pods: BTreeMap<(usize, &str), Vec<Pod>> = BTreeMap::new();
    for r in 0..REGIONS.len() {
        for app in APPS {
            let mut v = Vec::new();
            for _ in 0..PODS_PER_APP {
                v.push(Pod::start(LOCALHOST).await.map_err(Error::Pod)?);
            }
            pods.insert((r, app), v);
        }
    }
    // Every listener is bound before the checkers start, so none of them sees a
    // refused connection while the agents start.
    let mut listeners = Vec::new();
    for r in 0..REGIONS.len() {
        listeners.push(Listeners {
            health: bind(ports.health(r)).await?,
            admin: bind(ports.admin(r)).await?,
        });
    }
    let p = &ports;
    let targets = APPS
        .iter()
        .flat_map(|app| (0..REGIONS.len()).map(move |r| ((r, *app), p.health(r))))
        .collect();
    let stand_in = StandIn::start(&targets, checkers::DEMO_TIMING, dns_sockets, &shutdown)?;
    let mut agents = Vec::new();
    for ((r, region), listeners) in REGIONS.iter().enumerate().zip(listeners) {
        let cfg = spec::parse(&region_config(region, &pods, r))?;
        let metrics = Metrics::new(region)?;
        let span = tracing::info_span!("agent", region = *region);
        // Each agent's status page and /apps show the stand-in's DNS view.
        let (views, stop) = (stand_in.views(), shutdown.clone());
        let region: &'static str = region;
        let show = move |apps: &Arc<Apps>| {
            tokio::spawn(show_dns(views, apps.clone(), region, stop));
        };
        agents.push(tokio::spawn(
            standalone::run_with(cfg, listeners, metrics, shutdown.clone(), show).instrument(span),
        ));
    }
    print_banner(&ports);
    println!("{}", standin::banner(ports.dns(), checkers::DEMO_TIMING, VERDICT_TIME));

    let pods = Arc::new(pods);
    let handler = {
        let pods = pods.clone();
        move |req: http::Request<hyper::body::Incoming>, _peer| std::future::ready(control_handle(&req, &pods))
    };
    let ctl = tokio::spawn(serve::serve(
        control,
        Limits::default(),
        handler,
        None,
        shutdown.clone(),
    ));
    for a in agents {
        a.await.map_err(standalone::Error::from)??;
    }
    let _ = ctl.await;
    Ok(())
}

/// Gives every app of `apps` (the agent of `region`) the stand-in's DNS view, at
/// once and after every change of the checkers' `views`.
async fn show_dns(mut views: watch::Receiver<Views>, apps: Arc<Apps>, region: &'static str, stop: CancellationToken) {
    loop {
        let v = views.borrow_and_update().clone();
        for app in APPS {
            if let Some(a) = apps.get(app) {
                a.update_route53(|r| r.dns = standin::dns_view(&v, app, region, r.dns.as_ref()));
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            r = views.changed() => if r.is_err() { return },
        }
    }
}

/// `POST /break/<region>/<app>` stops the app's pods in that Region;
/// `POST /fix/<region>/<app>` starts them again; `GET /` lists pod states.
fn control_handle<B>(req: &http::Request<B>, pods: &BTreeMap<(usize, &str), Vec<Pod>>) -> http::Response<serve::Body> {
    let segs: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
    match (req.method(), segs.as_slice()) {
        (&Method::GET, [""]) => {
            let mut s = String::new();
            for ((r, app), ps) in pods {
                let modes: Vec<String> = ps.iter().map(|p| format!("{}={:?}", p.addr, p.mode())).collect();
                s += &format!("{} {app}: {}\n", REGIONS[*r], modes.join(" "));
            }
            text(StatusCode::OK, s)
        }
        (&Method::POST, [action @ ("break" | "fix"), region, app]) => {
            let Some(r) = REGIONS.iter().position(|x| x == region) else {
                return text(
                    StatusCode::NOT_FOUND,
                    format!("unknown region; use one of {REGIONS:?}\n"),
                );
            };
            let Some(ps) = pods.get(&(r, *app)) else {
                return text(StatusCode::NOT_FOUND, format!("unknown app; use one of {APPS:?}\n"));
            };
            let mode = if *action == "break" { Mode::Down } else { Mode::Healthy };
            ps.iter().for_each(|p| p.set_mode(mode));
            tracing::warn!(
                region = *region,
                app = *app,
                "demo: {action} ({} pods now {mode:?})",
                ps.len()
            );
            text(
                StatusCode::OK,
                format!("{action}: {app} in {region}: {} pods now {mode:?}\n", ps.len()),
            )
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "use POST /break/<region>/<app>, POST /fix/<region>/<app> or GET /\n",
        ),
    }
}

fn print_banner(p: &Ports) {
    let mut s =
        String::from("\nfailover-agent demo: two Regions, one agent each, two demo pods per app per Region.\n\n");
    for (r, region) in REGIONS.iter().enumerate() {
        s += &format!(
            "  {region:<13} health  http://{h}/health/app1   http://{h}/health/app2\n",
            h = p.health(r)
        );
        s += &format!("  {:<13} status  http://{}/\n", "", p.admin(r));
    }
    let (h0, h1) = (p.health(0), p.health(1));
    s += &format!(
        "\nWatch all four verdicts:\n  watch -n1 'for u in http://{h0}/health/app1 http://{h0}/health/app2 http://{h1}/health/app1 http://{h1}/health/app2; do curl -s -o /dev/null -w \"%{{http_code}} $u\\n\" $u; done'\n\
         \nBreak app1 in eu-west-1 (stops both of its pods there; only that verdict turns 503 within ~2.5 s):\n  curl -X POST http://{c}/break/eu-west-1/app1\n\
         \nRepair it:\n  curl -X POST http://{c}/fix/eu-west-1/app1\n\
         \nOr drill without breaking anything:\n  curl -X POST -H 'X-Failover-Agent: 1' 'http://{a}/apps/app2/override?mode=fail&ttlSeconds=60'\n\
         \nCtrl-C stops the demo.\n",
        c = p.control(),
        a = p.admin(0),
    );
    println!("{s}");
}
