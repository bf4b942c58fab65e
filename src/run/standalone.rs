//! Wires one agent together: the verdict store, the probe scheduler, the tick that
//! ends start-up grace and expired overrides, and both listeners.

pub use super::aws::desired as route53_desired;

use crate::observe::probe;
use crate::publish::http as serve;
use crate::publish::http::admin;
use crate::publish::http::public;
use crate::publish::http::Context;
use crate::publish::http::Limits;
use crate::publish::http::Readiness;
use crate::spec::AgentConfig;
use crate::telemetry::Metrics;
use crate::verdict::store::Apps;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How often every app is re-evaluated without a new observation.
pub const TICK: Duration = Duration::from_millis(250);

pub use super::{Error, Result};

/// The two bound listeners. Binding is the caller's job, so tests can bind port 0.
pub struct Listeners {
    pub health: TcpListener,
    pub admin: TcpListener,
}

/// Runs one agent for `cfg` until `shutdown` is cancelled, then stops probing and
/// drains both listeners. `metrics` must be registered for this agent alone.
pub async fn run(cfg: AgentConfig, listeners: Listeners, metrics: Metrics, shutdown: CancellationToken) -> Result<()> {
    run_with(cfg, listeners, metrics, shutdown, |_| ()).await
}

/// [`run`], handing the agent's app store to `with_apps` once it exists (the demo
/// gives each app the DNS view of its stand-in for Route 53 this way).
pub async fn run_with(
    cfg: AgentConfig,
    listeners: Listeners,
    metrics: Metrics,
    shutdown: CancellationToken,
    with_apps: impl FnOnce(&Arc<Apps>),
) -> Result<()> {
    let apps = Arc::new(Apps::from_config(&cfg.apps, &metrics));
    with_apps(&apps);
    // A static agent leads alone: it exports every app's verdict series.
    metrics.export_verdicts(apps.clone());
    metrics.leader.set(1);
    let ready = Arc::new(Readiness::default());
    let ctx = Context {
        apps: apps.clone(),
        metrics: metrics.clone(),
        ready: ready.clone(),
        region: cfg.region.clone(),
        allow_remote_override: cfg.allow_remote_override,
    };

    let jobs: Vec<probe::Job<(Arc<crate::verdict::store::App>, usize)>> = apps
        .list()
        .into_iter()
        .flat_map(|app| {
            let Some(here) = app.here() else { return Vec::new() };
            (0..here.targets.len())
                .map(|i| probe::Job {
                    target: here.targets[i].clone(),
                    spec: here.probe.clone(),
                    group: format!("{}/{}", app.key.namespace, app.key.name).into(),
                    tag: (app.clone(), i),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let n_jobs = jobs.len();
    // Spawned tasks carry the caller's span (the demo's Region) into their logs.
    let span = tracing::Span::current();
    // The static source never changes the job set; the sender lives as long as the agent.
    let (_jobs_tx, jobs_rx) = tokio::sync::watch::channel(Arc::new(jobs));
    let prober = tokio::spawn(
        probe::run(
            jobs_rx,
            probe::Limits {
                global: cfg.probe_concurrency,
                per_app: probe::PER_APP,
            },
            |job, result| job.tag.0.observe(job.tag.1, result, tokio::time::Instant::now()),
            shutdown.clone(),
        )
        .instrument(span.clone()),
    );

    let ticker = tokio::spawn(tick(apps.clone(), shutdown.clone()).instrument(span.clone()));

    let aws_tasks = super::aws::spawn(&cfg, apps.clone(), &metrics, &shutdown).await;
    let (public, admin) = serve_listeners(ctx, listeners, &cfg.public_listener, &shutdown);
    // Static sources are complete once loaded: ready as soon as we serve.
    ready.set_ready();
    tracing::info!(region = %cfg.region, apps = cfg.apps.len(), endpoints = n_jobs, "agent running");
    let (a, b, c, d) = tokio::join!(prober, ticker, public, admin);
    a?;
    b?;
    c?;
    d?;
    for t in aws_tasks {
        t.await?;
    }
    tracing::info!("agent stopped");
    Ok(())
}

/// Ticks `apps` every [`TICK`] (grace and overrides end on a tick) until `shutdown`.
async fn tick(apps: Arc<Apps>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            now = every.tick() => apps.tick(now),
        }
    }
}

/// Serves the public and admin listeners for `ctx` until `shutdown`, in tasks that
/// carry the caller's span.
pub fn serve_listeners(
    ctx: Context,
    listeners: Listeners,
    public_listener: &crate::spec::PublicListener,
    shutdown: &CancellationToken,
) -> (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>) {
    let span = tracing::Span::current();
    let public_ctx = ctx.clone();
    let public_limits = Limits::public(public_listener);
    let metrics = ctx.metrics.clone();
    let sd = shutdown.clone();
    let public = tokio::spawn(
        async move {
            let h = move |req, _peer| std::future::ready(public::handle(&req, &public_ctx));
            serve::serve(listeners.health, public_limits, h, Some(&metrics), sd).await
        }
        .instrument(span.clone()),
    );
    let admin = tokio::spawn(
        serve::serve(
            listeners.admin,
            Limits::admin(),
            move |req, peer| std::future::ready(admin::handle(&req, peer, &ctx)),
            None,
            shutdown.clone(),
        )
        .instrument(span),
    );
    (public, admin)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn signalled() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let sigterm = async {
        match term.as_mut() {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = sigterm => {},
    }
}

/// A token cancelled on the first SIGTERM or SIGINT. Must be called inside a
/// Tokio runtime.
pub fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        signalled().await;
        tracing::info!("signal received: shutting down gracefully");
        t.cancel();
    });
    token
}
