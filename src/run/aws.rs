//! The AWS side of a static agent, which is the leader of one: it polls its apps'
//! target groups, reconciles their Route 53 objects, and reads Route 53's view,
//! through the wiring both modes share ([`crate::publish::aws`]).

use crate::model::AppKey;
use crate::observe::targets::TargetStore;
use crate::publish::aws::AwsTasks;
use crate::publish::cloudwatch::Verdicts;
use crate::publish::route53::{view, AppSet, Desired, DesiredApp, Owner, Report};
use crate::spec::AgentConfig;
use crate::telemetry::Metrics;
use crate::verdict::store::{App, Apps};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

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

/// Starts the AWS tasks `cfg` needs, if any (through the one wiring both modes
/// share, [`AwsTasks`]). They stop at `shutdown`.
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
    let aws = AwsTasks::new(&cfg.region, cfg.aws.clone(), metrics, shutdown.clone()).await;
    let mut tasks = Vec::new();
    if !arns.is_empty() {
        tasks.push(spawn_targets(&aws, arns, &apps));
    }
    // With an owner, the static agent also garbage-collects what it owns and no app wants.
    if let Some(owner) = cfg.aws.owner.clone() {
        tasks.extend(spawn_route53(&aws, cfg, owner, &apps));
    }
    tasks
}

/// Polls the target health of `arns` and gives each app the view of its target
/// groups at every change. The static config never changes, so the ARNs' sender
/// is kept as long as the poller.
fn spawn_targets(aws: &AwsTasks, arns: BTreeSet<String>, apps: &Arc<Apps>) -> JoinHandle<()> {
    let store = Arc::new(TargetStore::default());
    let (tx, rx) = watch::channel(arns);
    let (apps, s) = (apps.clone(), store.clone());
    aws.poll_targets(rx, store, move || {
        // The sender lives as long as the poller: a dropped one would end its watch.
        let _arns = &tx;
        for app in apps.list() {
            let Some(groups) = app.here().map(|h| &h.target_groups).filter(|g| !g.is_empty()) else {
                continue;
            };
            app.set_targets(s.view(groups), tokio::time::Instant::now());
        }
    })
}

/// What the static agent last read of every app's record set, for its DNS view.
#[derive(Default)]
struct Sets {
    sets: BTreeMap<AppKey, AppSet>,
    cloudwatch: BTreeMap<String, Option<bool>>,
}

impl Sets {
    /// Gives `app` its DNS view from what was last read (its own check as
    /// `GetHealthCheckStatus` read it, the others from CloudWatch).
    fn refresh(&self, app: &App) {
        let Some(s) = self.sets.get(&app.key) else { return };
        app.update_route53(|v| {
            let own = v.health_check_id.as_deref().zip(v.route53_healthy);
            let statuses = view::statuses_with(&self.cloudwatch, own);
            v.dns = view::dns_view(&s.set, &s.here, &statuses, v.dns.as_ref(), || {
                humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
            });
        });
    }
}

/// Reconciles the Route 53 objects of the apps that ask for them (as `owner`), and
/// gives each app its check id and problems after every reconcile, Route 53's
/// view of its check, and its DNS view. A static agent leads alone: its fence is
/// always open.
fn spawn_route53(aws: &AwsTasks, cfg: &AgentConfig, owner: Owner, apps: &Arc<Apps>) -> Vec<JoinHandle<()>> {
    let sets = Arc::new(Mutex::new(Sets::default()));
    let (tx, rx) = watch::channel(Desired {
        apps: desired(cfg),
        hold: Default::default(),
    });
    let (a, s) = (apps.clone(), sets.clone());
    let managed: BTreeSet<_> = rx.borrow().apps.iter().map(|d| d.key.clone()).collect();
    let on_report = move |r: Report| {
        // The sender lives as long as the reconciler: a dropped one would end its watch.
        let _desired = &tx;
        let mut sets = s.lock();
        sets.sets.clone_from(&r.sets);
        for app in a.list().into_iter().filter(|app| managed.contains(&app.key)) {
            let id = r.check_ids.get(&app.key).cloned();
            let problems = r.problems.get(&app.key).cloned().unwrap_or_default();
            app.update_route53(|v| {
                v.health_check_id = id.clone();
                v.problems = problems;
            });
            sets.refresh(&app);
        }
    };
    let (a, s) = (apps.clone(), sets.clone());
    let on_status = move |key: &AppKey, healthy: Option<bool>| {
        if let Some(app) = a.get(&key.name) {
            app.update_route53(|v| v.route53_healthy = healthy);
            s.lock().refresh(&app);
        }
    };
    let a = apps.clone();
    let on_statuses = move |statuses: BTreeMap<String, Option<bool>>| {
        let mut sets = sets.lock();
        sets.cloudwatch = statuses;
        for app in a.list() {
            sets.refresh(&app);
        }
    };
    let a = apps.clone();
    let verdicts: Verdicts = Arc::new(move |key: &AppKey| a.get(&key.name).map(|app| app.public().healthy));
    let publisher = aws.publish_verdicts(&owner, rx.clone(), verdicts);
    let fence = Arc::new(crate::fence::Always);
    let mut tasks = aws.keep_route53(owner, rx, fence, on_report, on_status, on_statuses);
    tasks.push(publisher);
    tasks
}
