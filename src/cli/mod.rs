//! The command line. Parsing lives here; `main.rs` only dispatches.

mod agent_flags;
pub mod run;

pub use agent_flags::{AgentFlags, AgentSettings, ListenerArgs, ListenerProtocol};

use crate::telemetry::LogFormat;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Exit code for bad configuration or usage (sysexits `EX_USAGE`).
pub const EXIT_CONFIG: u8 = 64;

#[derive(Debug, Parser)]
#[command(
    name = "failover-agent",
    version,
    about = "Per-app Region failover: one verdict per app at /health/<app> for Route 53."
)]
pub struct Cli {
    /// Log format.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "FAILOVER_AGENT_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent.
    Run(RunArgs),
    /// Validate a config file and print what it would run; exit 64 if it is bad.
    CheckConfig {
        /// The YAML config file.
        file: PathBuf,
    },
    /// Print the AppHealth CustomResourceDefinition as YAML (kubectl apply -f -).
    Crd,
    /// Route 53: print (`plan`) or make (`apply`) the changes to the apps' health checks and records.
    #[command(subcommand)]
    Route53(Route53Command),
    /// Two simulated Regions with demo pods on loopback; break one app and watch it fail over alone.
    Demo(DemoArgs),
    /// Check from here what Route 53's checkers will see for each app (port, redirect, host
    /// rule, search string); exit 1 if any check would be wrong.
    Preflight(PreflightArgs),
    /// Drill one app: turn its override to `fail` for DURATION, time its verdict, Route 53's
    /// view and the DNS answer leaving this Region and coming back, and put the override
    /// back; exit 0 only if traffic moved and came back.
    Drill(drill::DrillArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Static YAML config file.
    #[arg(long, short, env = "FAILOVER_AGENT_CONFIG")]
    pub config: Option<PathBuf>,
    /// In-cluster mode: the operator's settings file (listeners, clusterId,
    /// publicHostname, aws.*, route53Policy; the chart's ConfigMap). The
    /// environment variables win over its keys. Static mode has its own keys.
    #[arg(long, env = "FAILOVER_AGENT_SETTINGS", conflicts_with = "config")]
    pub settings: Option<PathBuf>,
    /// Public listener, e.g. 0.0.0.0:8080. Overrides `healthListen` in the config.
    #[arg(long)]
    pub health_listen: Option<SocketAddr>,
    /// Admin listener, e.g. 127.0.0.1:9090. Overrides `adminListen` in the config.
    #[arg(long)]
    pub admin_listen: Option<SocketAddr>,
}

#[derive(Debug, Subcommand)]
pub enum Route53Command {
    /// Read Route 53 and print the changes that `apply` would make. Changes nothing.
    Plan(Route53Args),
    /// Make the changes; exit 1 if any failed (each is printed; run again to retry).
    Apply(Route53Args),
    /// Print what Route 53 answers for NAME now, and why: every record of its set with
    /// its check's status as Route 53 judges it. Only reads; exit 1 if NAME has no
    /// routed records.
    Answer(route53_answer::AnswerArgs),
}

#[derive(Debug, Args)]
pub struct Route53Args {
    /// Static YAML config file.
    #[arg(
        long,
        short,
        env = "FAILOVER_AGENT_CONFIG",
        required_unless_present = "cluster",
        conflicts_with = "cluster"
    )]
    pub config: Option<PathBuf>,
    /// Plan from the `AppHealth` objects of the current kube context instead, as the
    /// cluster's leader does (it reconciles continuously; this shows what it will do).
    #[arg(long)]
    pub cluster: bool,
    #[command(flatten)]
    pub agent: AgentFlags,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// First of five consecutive loopback ports: control, then health and admin for each Region.
    #[arg(long, default_value_t = 18080)]
    pub base_port: u16,
    /// The demo DNS server's loopback port, UDP and TCP.
    #[arg(long, default_value_t = crate::cli::demo::Ports::DEFAULT_DNS)]
    pub dns_port: u16,
}

/// `failover-agent preflight`: the apps come from `--config`, `--cluster`, or
/// `--public-hostname` with `--app`.
#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// Check the apps with a `route53` block in this static config, at its `publicHostname`.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Check the `AppHealth` objects with a `route53` block in the current kube context.
    #[arg(long)]
    pub cluster: bool,
    /// An app to check (repeat for more), with --public-hostname and the listener flags.
    #[arg(long = "app", value_name = "NAME")]
    pub apps: Vec<String>,
    /// The hostname and listener (with --config, --public-hostname overrides the
    /// file's `publicHostname`; the rest is the file's).
    #[command(flatten)]
    pub agent: AgentFlags,
}
pub mod demo;
pub mod drill;
pub mod preflight;
pub mod route53;
pub mod route53_answer;
