//! The `failover-agent` binary: parse the command line, set up tracing, and run
//! until SIGTERM or SIGINT. Everything else lives in the library.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use failover_agent::cli::{Cli, Command, EXIT_CONFIG};
use failover_agent::{agent, config, demo, telemetry};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_CONFIG } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    telemetry::init_tracing(cli.log_format);
    match cli.command {
        Command::CheckConfig { file } => match config::load(&file) {
            Ok(cfg) => {
                let endpoints: usize = cfg.apps.iter().map(|a| a.targets.len()).sum();
                println!(
                    "{}: OK: region {}, {} apps, {endpoints} endpoints",
                    file.display(),
                    cfg.region,
                    cfg.apps.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => config_error(e),
        },
        Command::Crd => match failover_agent::sources::kube::crd::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => report(Err(e.into())),
        },
        Command::Run(args) => {
            let Some(path) = args.config else {
                eprintln!("error: --config FILE is required (in-cluster mode is not available yet)");
                return ExitCode::from(EXIT_CONFIG);
            };
            let mut cfg = match config::load(&path) {
                Ok(c) => c,
                Err(e) => return config_error(e),
            };
            cfg.health_listen = args.health_listen.unwrap_or(cfg.health_listen);
            cfg.admin_listen = args.admin_listen.unwrap_or(cfg.admin_listen);
            report(runtime().and_then(|rt| rt.block_on(run(cfg))))
        }
        Command::Demo(args) => report(runtime().and_then(|rt| {
            rt.block_on(async {
                let shutdown = agent::cancel_on_signal();
                demo::run(demo::Ports { base: args.base_port }, shutdown)
                    .await
                    .context("demo failed")
            })
        })),
    }
}

async fn run(cfg: config::AgentConfig) -> anyhow::Result<()> {
    let bind = |addr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))
    };
    let listeners = agent::Listeners {
        health: bind(cfg.health_listen).await?,
        admin: bind(cfg.admin_listen).await?,
    };
    tracing::info!(health = %cfg.health_listen, admin = %cfg.admin_listen, "listening");
    let metrics = telemetry::Metrics::new(&cfg.region)?;
    agent::run(cfg, listeners, metrics, agent::cancel_on_signal()).await?;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn config_error(e: config::Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

fn report(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
