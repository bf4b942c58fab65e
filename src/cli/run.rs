//! `failover-agent run`: bind the two listeners, register the metrics, and run
//! the agent of either mode until `shutdown`. `main.rs` only picks the mode.
//!
//! Guarantees: a listener that cannot be bound is an error before anything is
//! served, and every error names what failed (its source chain says why).

use super::RunArgs;
use crate::cluster::kube::client as cluster_client;
use crate::run::cluster;
use crate::run::standalone;
use crate::spec;
use crate::telemetry;
use crate::tls;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why a run stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot reach Kubernetes (in-cluster config or KUBECONFIG)")]
    Kube(#[source] kube::Error),
    #[error(transparent)]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Agent(#[from] crate::run::Error),
}

impl Error {
    /// A fixed label for this kind of error, for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Bind { .. } => "bind",
            Error::Kube(_) => "kube",
            Error::Metrics(_) => "metrics",
            Error::Agent(_) => "agent",
        }
    }
}

/// `check-config FILE`: the file's one-line summary, or why it is invalid.
pub fn check_config(file: &std::path::Path) -> spec::Result<String> {
    let cfg = spec::load(file)?;
    Ok(format!("{}: OK: {}", file.display(), cfg.summary()))
}

/// The static agent's configuration: the file at `path`, with the listeners
/// given on the command line taking precedence over the file's.
pub fn static_config(path: &std::path::Path, args: &RunArgs) -> spec::Result<spec::AgentConfig> {
    let mut cfg = spec::load(path)?;
    cfg.health_listen = args.health_listen.unwrap_or(cfg.health_listen);
    cfg.admin_listen = args.admin_listen.unwrap_or(cfg.admin_listen);
    Ok(cfg)
}

/// Runs the static agent for `cfg` until `shutdown`.
pub async fn run_static(cfg: spec::AgentConfig, shutdown: CancellationToken) -> Result<(), Error> {
    let listeners = standalone::Listeners {
        health: bind(cfg.health_listen)?,
        admin: bind(cfg.admin_listen)?,
    };
    tracing::info!(health = %cfg.health_listen, admin = %cfg.admin_listen, "listening");
    let metrics = telemetry::Metrics::new(&cfg.region)?;
    standalone::run(cfg, listeners, metrics, shutdown).await?;
    Ok(())
}

/// Runs this replica of the in-cluster agent until `shutdown`. The listeners
/// given on the command line take precedence over the environment's.
pub async fn run_cluster(env: cluster::Env, args: &RunArgs, shutdown: CancellationToken) -> Result<(), Error> {
    tls::install_crypto_provider();
    let client = cluster_client::connect().await.map_err(Error::Kube)?;
    let health = bind(args.health_listen.unwrap_or(env.health_listen))?;
    let admin = bind(args.admin_listen.unwrap_or(env.admin_listen))?;
    let metrics = telemetry::Metrics::new(&env.region)?;
    let listeners = standalone::Listeners { health, admin };
    cluster::run(client, env, listeners, metrics, shutdown).await?;
    Ok(())
}

/// Binds a listener the way the agent serves it ([`crate::publish::http::bind`]).
fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    crate::publish::http::bind(addr).map_err(|source| Error::Bind { addr, source })
}
