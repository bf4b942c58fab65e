//! The `failover-agent` binary: parse the command line, set up tracing, and run
//! until SIGTERM or SIGINT. Everything else lives in the library.
#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use failover_agent::cli::{demo, drill, preflight, route53 as r53, route53_answer as answer};
use failover_agent::cli::{run, Cli, Command, Route53Command, EXIT_CONFIG};
use failover_agent::cluster::kube::crd;
use failover_agent::run::cluster;
use failover_agent::run::standalone as agent;
use failover_agent::telemetry;
use std::process::ExitCode;
use std::{future::Future, io::stdout};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_CONFIG } else { 0 });
        }
    };
    telemetry::init_tracing(cli.log_format);
    // A bad admin token file is bad configuration: refused before serving.
    if let Some(Err(e)) = matches!(cli.command, Command::Run(_)).then(failover_agent::publish::http::admin::init) {
        return usage_error(e);
    }
    match cli.command {
        Command::CheckConfig { file } => match run::check_config(&file) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => usage_error(e),
        },
        Command::Crd => report(crd::crd_yaml().map(|y| print!("{y}")).map_err(Into::into)),
        Command::Run(args) => match &args.config {
            None => match cluster::Env::from_env(args.settings.as_deref()) {
                Ok(env) => report(block_on(|stop| run::run_cluster(env, &args, stop))),
                Err(e) => usage_error(e),
            },
            Some(path) => match run::static_config(path, &args) {
                Ok(cfg) => report(block_on(|stop| run::run_static(cfg, stop))),
                Err(e) => usage_error(e),
            },
        },
        Command::Route53(Route53Command::Plan(a)) => finish(r53::run(&a, false, &mut stdout()), r53::Error::is_usage),
        Command::Route53(Route53Command::Apply(a)) => finish(r53::run(&a, true, &mut stdout()), r53::Error::is_usage),
        Command::Route53(Route53Command::Answer(a)) => finish(answer::run(&a, &mut stdout()), answer::Error::is_usage),
        Command::Preflight(args) => finish(preflight::main(&args, &mut stdout()), preflight::Error::is_usage),
        Command::Drill(args) => finish(drill::run(&args, &mut stdout()), drill::Error::is_usage),
        Command::Demo(args) => report(block_on(|stop| demo::run((&args).into(), stop)).context("demo failed")),
    }
}

/// Runs `run` to completion on a new multi-threaded runtime, cancelled by SIGTERM or SIGINT.
fn block_on<F, E>(run: impl FnOnce(CancellationToken) -> F) -> anyhow::Result<()>
where
    F: Future<Output = Result<(), E>>,
    E: Into<anyhow::Error>,
{
    runtime()?.block_on(async { run(agent::cancel_on_signal()).await.map_err(Into::into) })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Runs a command that says whether it got everything done: exit 0 or 1, 64 for bad usage.
fn finish<E: Into<anyhow::Error>>(cmd: impl Future<Output = Result<bool, E>>, usage: fn(&E) -> bool) -> ExitCode {
    match runtime().map(|rt| rt.block_on(cmd)) {
        Ok(Ok(complete)) => ExitCode::from(u8::from(!complete)),
        Ok(Err(e)) if usage(&e) => usage_error(Into::<anyhow::Error>::into(e)),
        r => report(r.and_then(|r| r.map(drop).map_err(Into::into))),
    }
}

fn usage_error(e: impl std::fmt::Display) -> ExitCode {
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
