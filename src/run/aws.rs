//! The AWS side of a static agent, which is the leader of one: it polls its apps'
//! target groups, reconciles their Route 53 objects, and reads Route 53's view.

use crate::aws;
use crate::aws::Caller;
use crate::aws::ELBV2_SOURCE;
use crate::observe::targets;
use crate::publish::route53;
use crate::publish::route53::DesiredApp;
use crate::spec::AgentConfig;
use crate::telemetry::Metrics;
use crate::verdict::store::Apps;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The Route 53 objects the static config asks for.
pub fn desired(cfg: &AgentConfig) -> Vec<DesiredApp> {
    cfg.apps
        .iter()
        .filter_map(|a| {
            Some(DesiredApp {
                key: a.key.clone(),
                incarnation: "static".into(),
                settings: a.route53.clone()?,
            })
        })
        .collect()
}

/// Starts the AWS tasks `cfg` needs, if any. They stop at `shutdown`.
pub async fn spawn(
    cfg: &AgentConfig,
    apps: Arc<Apps>,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let arns: BTreeSet<String> = cfg.apps.iter().flat_map(|a| a.target_groups.iter().cloned()).collect();
    if arns.is_empty() && cfg.aws.owner.is_none() {
        return Vec::new();
    }
    let clients = aws::load(&cfg.region).await;
    let caller = Arc::new(Caller::new(cfg.aws.budget, metrics.aws.clone()));
    let mut tasks = Vec::new();
    if !arns.is_empty() {
        tasks.push(spawn_targets(cfg, arns, &clients, &caller, &apps, metrics, shutdown));
    }
    // With an owner, the static agent also garbage-collects what it owns and no app wants.
    if let Some(owner) = cfg.aws.owner.clone() {
        tasks.extend(spawn_route53(cfg, owner, clients, caller, &apps, shutdown));
    }
    tasks
}

/// Polls the target health of `arns` and gives each app the view of its target
/// groups at every change; `source_stale{source="aws_elbv2"}` is 1 while any
/// target group's view is stale.
fn spawn_targets(
    cfg: &AgentConfig,
    arns: BTreeSet<String>,
    clients: &aws::Clients,
    caller: &Arc<Caller>,
    apps: &Arc<Apps>,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> JoinHandle<()> {
    let store = Arc::new(targets::TargetStore::default());
    let (tx, rx) = watch::channel(arns);
    let (apps, m, s) = (apps.clone(), metrics.clone(), store.clone());
    let on_change = move || {
        for app in apps.list() {
            let Some(groups) = app.here().map(|h| &h.target_groups).filter(|g| !g.is_empty()) else {
                continue;
            };
            app.set_targets(s.view(groups), tokio::time::Instant::now());
        }
        m.source_stale
            .with_label_values(&[ELBV2_SOURCE])
            .set(i64::from(s.any_stale()));
    };
    let poll = targets::poll(
        clients.elbv2.clone(),
        caller.clone(),
        rx,
        cfg.aws.target_health_interval,
        cfg.aws.budget.elbv2_rate,
        store,
        on_change,
        shutdown.clone(),
    );
    tokio::spawn(holding(tx, poll).in_current_span())
}

/// Reconciles the Route 53 objects of the apps that ask for them (as `owner`),
/// gives each app its check id and problems after every reconcile, and watches
/// Route 53's view of those checks. Two tasks: the reconciler and the status watch.
fn spawn_route53(
    cfg: &AgentConfig,
    owner: route53::Owner,
    clients: aws::Clients,
    caller: Arc<Caller>,
    apps: &Arc<Apps>,
    shutdown: &CancellationToken,
) -> [JoinHandle<()>; 2] {
    let (tx, rx) = watch::channel(route53::Desired {
        apps: desired(cfg),
        hold: Default::default(),
    });
    let (ids_tx, ids_rx) = watch::channel(BTreeMap::new());
    let a = apps.clone();
    let managed: BTreeSet<_> = rx.borrow().apps.iter().map(|d| d.key.clone()).collect();
    let on_report = move |r: route53::Report| {
        for app in a.list().into_iter().filter(|app| managed.contains(&app.key)) {
            let id = r.check_ids.get(&app.key).cloned();
            let problems = r.problems.get(&app.key).cloned().unwrap_or_default();
            app.update_route53(|v| {
                v.health_check_id = id.clone();
                v.problems = problems;
            });
        }
        ids_tx.send_if_modified(|ids| {
            let changed = *ids != r.check_ids;
            *ids = r.check_ids.clone();
            changed
        });
    };
    let run = route53::run(
        clients.route53.clone(),
        caller.clone(),
        owner,
        rx,
        cfg.aws.reconcile_interval,
        on_report,
        // A static agent leads alone: its fence is always open.
        Arc::new(crate::fence::Always),
        shutdown.clone(),
    );
    let reconcile = tokio::spawn(holding(tx, run).in_current_span());
    let a = apps.clone();
    let on_status = move |key: &crate::model::AppKey, healthy: Option<bool>| {
        if let Some(app) = a.get(&key.name) {
            app.update_route53(|v| v.route53_healthy = healthy);
        }
    };
    let status = route53::status::watch(
        clients.route53,
        caller,
        ids_rx,
        cfg.aws.check_status_interval,
        on_status,
        shutdown.clone(),
    );
    [reconcile, tokio::spawn(status.in_current_span())]
}

/// Runs `task`, keeping `tx` alive as long: the static config never changes, but a
/// dropped sender would end the task's watch.
async fn holding<T, F: std::future::Future>(tx: watch::Sender<T>, task: F) -> F::Output {
    let out = task.await;
    drop(tx);
    out
}
