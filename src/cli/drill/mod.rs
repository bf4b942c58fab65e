//! `failover-agent drill APP --for DURATION`: a game-day drill of one app with a
//! measured result. It turns the app's override to `fail`, watches the agent's
//! verdict, Route 53's view of this Region's check and the DNS answer leave this
//! Region, puts the override back after DURATION (or on Ctrl-C or SIGTERM), watches them come
//! back, and prints the six times.
//!
//! Guarantees:
//! - it refuses to start, changing nothing, unless the app has a DNS view, this
//!   Region's record gets answers now, the verdict is healthy, and another record of
//!   the set is healthy as Route 53 sees it ([`phase::check_start`]);
//! - once it set the override, it puts it back as it was whatever happens next
//!   (traffic never moves, reads fail, Ctrl-C, SIGTERM); if even that fails it says how to
//!   do it by hand. Static, the `fail` override also carries a TTL of DURATION + 60 s,
//!   so a drill killed outright still ends;
//! - exit 0 only if traffic moved, came back, and the override was put back; 1
//!   otherwise, or when it refuses; 64 for bad usage (flags, config, unknown app).

mod phase;
mod report;
mod target;

pub use phase::{check_start, Figures, Phase, Refusal, Snapshot, Start};
pub use report::Report;
pub use target::{Prior, Target};

use crate::cli::route53_answer::Output;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tokio::signal::unix::SignalKind;
use tokio::time::{sleep, Instant};

/// How often the drill reads the app.
pub const POLL: Duration = Duration::from_millis(500);
/// The shortest the drill waits for the way back (longer if `--for` is).
pub const MIN_BACK_WAIT: Duration = Duration::from_secs(300);
/// The longest `--for`.
pub const MAX_FOR: Duration = Duration::from_secs(12 * 3600);
/// Added to `--for` for the static override's TTL.
const TTL_MARGIN: Duration = Duration::from_secs(60);

/// `drill` flags.
#[derive(Debug, clap::Args)]
pub struct DrillArgs {
    /// The app: its `/health/<app>` name (static), or its AppHealth's name (--cluster).
    pub app: String,
    /// How long the override stays `fail`, e.g. 90s or 5m (at most 12h).
    #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The static agent's config file: the app must be in it; its adminListen is called.
    #[arg(
        long,
        short,
        env = "FAILOVER_AGENT_CONFIG",
        required_unless_present = "cluster",
        conflicts_with = "cluster"
    )]
    pub config: Option<PathBuf>,
    /// The agent's admin listener, when it was started with --admin-listen (default:
    /// the config's adminListen, on loopback if it listens on every interface).
    #[arg(long, requires = "config")]
    pub admin_listen: Option<SocketAddr>,
    /// Drill an AppHealth of the current kube context: patches its spec.override.
    #[arg(long)]
    pub cluster: bool,
    /// The AppHealth's namespace (default: the kube context's).
    #[arg(long, short = 'n', requires = "cluster")]
    pub namespace: Option<String>,
    /// `text`: a short report; `json`: the same as one object.
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// Why a drill did not run to its report; [`Error::is_usage`] ones exit 64.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("drill: {0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] crate::spec::Error),
    #[error("drill {app} refused: {reason}")]
    Refused { app: String, reason: Refusal },
    #[error("drill: the agent: {0}")]
    Agent(String),
    #[error("drill: Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot write the report: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot encode the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// True for bad flags, config or app (exit 64).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Usage(_) | Error::Config(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs the drill and writes its report to `out`; `Ok(true)` when it passed.
pub async fn run(args: &DrillArgs, out: &mut impl Write) -> Result<bool> {
    if args.duration > MAX_FOR {
        return Err(Error::Usage(format!(
            "--for {}: at most 12h",
            humantime::format_duration(args.duration)
        )));
    }
    let (target, region) = connect(args).await?;
    let (before, prior) = target.read().await?;
    let start = check_start(&before).map_err(|reason| Error::Refused {
        app: args.app.clone(),
        reason,
    })?;
    let region = region.unwrap_or_else(|| start.here.clone());
    eprintln!(
        "drill {}: override fail for {}, then back to {prior}; Ctrl-C puts it back early",
        args.app,
        humantime::format_duration(args.duration)
    );
    let report = drill(&target, &prior, &start, args).await?;
    let report = Report { region, ..report };
    report.write(args.output == Output::Json, out)?;
    Ok(report.result == "PASS")
}

/// The target of `args`, and the agent's Region when the config names it.
async fn connect(args: &DrillArgs) -> Result<(Target, Option<String>)> {
    if args.cluster {
        let client = crate::cluster::kube::client::connect().await?;
        let c = target::Cluster::new(client, &args.app, args.namespace.as_deref());
        return Ok((Target::Cluster(Box::new(c)), None));
    }
    let Some(path) = &args.config else {
        return Err(Error::Usage("give --config FILE (a static agent) or --cluster".into()));
    };
    let cfg = crate::spec::load(path)?;
    if !cfg.apps.iter().any(|a| a.key.name == args.app) {
        let names: Vec<&str> = cfg.apps.iter().map(|a| a.key.name.as_str()).collect();
        return Err(Error::Usage(format!(
            "{}: no app {} (apps: {}); name one of them",
            path.display(),
            args.app,
            names.join(", ")
        )));
    }
    let addr = loopback_if_any(args.admin_listen.unwrap_or(cfg.admin_listen));
    let admin = target::Admin {
        addr,
        app: args.app.clone(),
        token: target::admin_token()?,
    };
    Ok((Target::Static(admin), Some(cfg.region)))
}

/// A listener on every interface is called on loopback (overrides are accepted
/// from loopback only, unless `allowRemoteOverride`).
fn loopback_if_any(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), a.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), a.port()),
        _ => a,
    }
}

/// How a watch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    TimeUp,
    Complete,
    Interrupted,
}

/// Reads the app every [`POLL`] until `limit` (or, on the way back, every figure
/// is back), recording figures. Returns how it ended and the answer when DNS left.
async fn watch(
    target: &Target,
    phase: Phase,
    limit: Duration,
    start: &Start,
    f: &mut Figures,
) -> (Ended, Option<String>) {
    let began = Instant::now();
    let interrupt = crate::run::standalone::signalled();
    tokio::pin!(interrupt);
    let mut answer = None;
    let mut errors = 0u32;
    loop {
        let read = target.read().await;
        let at = began.elapsed();
        match read {
            Ok((s, _)) => {
                let seen = report::labelled(f).map(|(_, d)| d.is_some());
                f.observe(phase, at, &s, start);
                for ((label, d), was) in report::labelled(f).iter().zip(seen) {
                    if !was && d.is_some() {
                        eprintln!("  +{:.1}s  {label}", at.as_secs_f64());
                    }
                }
                if answer.is_none() && f.dns_left.is_some() {
                    answer = s.dns.map(|d| d.answer);
                }
            }
            Err(e) => {
                errors += 1;
                if errors == 1 || errors.is_multiple_of(20) {
                    eprintln!("  +{:.1}s  cannot read the app ({errors} times): {e}", at.as_secs_f64());
                }
            }
        }
        if phase == Phase::Back && f.back_complete() {
            return (Ended::Complete, answer);
        }
        let Some(left) = limit.checked_sub(began.elapsed()).filter(|d| !d.is_zero()) else {
            return (Ended::TimeUp, answer);
        };
        tokio::select! {
            _ = sleep(POLL.min(left)) => {}
            _ = &mut interrupt => {
                eprintln!("  +{:.1}s  interrupted", began.elapsed().as_secs_f64());
                return (Ended::Interrupted, answer);
            }
        }
    }
}

/// Puts `prior` back, trying a few times.
async fn restore(target: &Target, prior: &Prior) -> bool {
    for attempt in 1..=5u32 {
        match target.restore(prior).await {
            Ok(()) => return true,
            Err(e) => eprintln!("drill: cannot put the override back (attempt {attempt} of 5): {e}"),
        }
        sleep(Duration::from_secs(u64::from(attempt))).await;
    }
    eprintln!("drill: put the override back by hand: {}", target.undo_hint(prior));
    false
}

/// Sets the override, watches both ways, restores it; the report (Region unset).
/// An error only when the override could not be set.
async fn drill(target: &Target, prior: &Prior, start: &Start, args: &DrillArgs) -> Result<Report> {
    // From here on, SIGINT and SIGTERM no longer kill the process: they end a watch,
    // and the override is put back first.
    for kind in [SignalKind::interrupt(), SignalKind::terminate()] {
        let _ = tokio::signal::unix::signal(kind);
    }
    let started = SystemTime::now();
    let t0 = Instant::now();
    let mut f = Figures::default();
    let back_wait = args.duration.max(MIN_BACK_WAIT);
    let mut report = Report::new(&args.app, start, prior, started, back_wait);
    if let Err(e) = target.fail(args.duration + TTL_MARGIN).await {
        // Most likely nothing changed; a call cut short may have, so put it back once.
        let _ = target.restore(prior).await;
        return Err(e);
    }
    let (away, answer) = watch(target, Phase::Away, args.duration, start, &mut f).await;
    report.fail_seconds = report::secs(t0.elapsed());
    report.answer_away = answer;
    report.override_restored = restore(target, prior).await;
    let back = if report.override_restored {
        watch(target, Phase::Back, back_wait, start, &mut f).await.0
    } else {
        Ended::TimeUp
    };
    report.interrupted = away == Ended::Interrupted || back == Ended::Interrupted;
    let report = report.with_figures(&f);
    Ok(report.judge(&f, args.duration))
}
