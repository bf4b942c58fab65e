//! In-cluster mode: one replica of the DaemonSet.
//!
//! ```text
//!                 every replica                                       the leader (Lease), during its term
//!  own ProbeAssignment ─► probe jobs ─► probes ─► own ProbeReport ─┐   AppHealth (full) ─┐
//!  (metadata.name=node)   (exactly what (debounced)                └──► ProbeReports     ├─► fold ─► AppHealth.status
//!                          it says)                                     EndpointSlices ──┘    │     (+ Events)
//!  AppHealth (lean view) ─► served apps ─► /health/<app>                                      └──► ProbeAssignments
//!  (key, verdict, counts)   (Conflict rule here; Held from status)                                 (one per node)
//! ```
//!
//! Every replica serves the verdict the leader wrote into `AppHealth.status`, so
//! all replicas answer alike, from memory. A follower watches only the lean view
//! of the apps and its own node's assignment: nothing it watches grows with the
//! endpoints on other nodes.

use crate::cluster::kube::caches;
use crate::cluster::kube::caches::Caches;
use crate::cluster::leader::election as leader;
use crate::cluster::leader::status;
use crate::cluster::node::probe_series::ProbeSeries;
use crate::cluster::node::prober as node;
use crate::cluster::node::prober::assigned_jobs;
use crate::cluster::node::prober::NodeProbes;
use crate::cluster::node::report::ProbeReport;
use crate::cluster::serving::served::Served;
use crate::observe::probe;
use crate::publish::http::Context;
use crate::publish::http::Readiness;
use crate::run::standalone::serve_listeners;
use crate::run::standalone::Listeners;
use crate::telemetry::Metrics;
use crate::verdict::store::Apps;
use kube::api::Api;
use kube::{Client, ResourceExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// This replica's identity, from the downward API.
#[derive(Clone, Debug)]
pub struct Env {
    /// `NODE_NAME` (`spec.nodeName`): only this node's endpoints are probed here.
    pub node: String,
    /// `POD_NAME`: the Lease holder identity and the report's writer.
    pub pod: String,
    /// `POD_NAMESPACE`: where the Lease and ProbeReports live.
    pub namespace: String,
    /// `POD_UID` (`metadata.uid`), optional: owns this node's ProbeReport.
    pub pod_uid: Option<String>,
    /// `AWS_REGION`, else the settings file's `region`, else [`UNKNOWN_REGION`].
    pub region: String,
    /// The settings file's `healthListen` (default `0.0.0.0:8080`); `--health-listen` wins.
    pub health_listen: std::net::SocketAddr,
    /// The settings file's `adminListen` (default `0.0.0.0:9090`); `--admin-listen` wins.
    pub admin_listen: std::net::SocketAddr,
    /// The settings file's `probeConcurrency` (default 512).
    pub probe_concurrency: usize,
    /// The settings file's `publicListener` (limits, trusted proxies).
    pub public_listener: crate::spec::PublicListener,
    /// The settings file's `probeTargets` (default: no loopback).
    pub probe_targets: crate::spec::ProbeTargets,
    /// The settings file's `limits` (defaults: 200 apps and 2000 endpoints per
    /// namespace, 8 probes in flight per app).
    pub limits: crate::spec::Limits,
    /// From `CLUSTER_ID` and `PUBLIC_HOSTNAME` (Route 53 is managed when both are
    /// set) and `PUBLIC_PORT`, `PUBLIC_PROTOCOL`, `MATCH_VERDICT` (the listener),
    /// each over its key in the settings file; the file's `aws` pacing; and its
    /// `route53Policy` (always `Some`: empty when the file has none, deny all).
    pub aws: crate::spec::AwsSettings,
}

impl Env {
    /// Reads `NODE_NAME`, `POD_NAME` and `POD_NAMESPACE` (set from the downward
    /// API), the operator's settings file at `settings` (`--settings`), and the
    /// variables that win over its keys (`AWS_REGION`, `CLUSTER_ID`, ...).
    pub fn from_env(settings: Option<&std::path::Path>) -> Result<Env, MissingEnv> {
        let var = |name: &'static str| {
            std::env::var(name).map_err(|_| MissingEnv(format!("{name} is not set: {DOWNWARD_HINT}")))
        };
        let opt = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let file = match settings {
            Some(path) => crate::spec::load_settings(path)
                .map_err(|e| MissingEnv(format!("--settings {}: {e}", path.display())))?,
            None => crate::spec::OperatorSettings::default(),
        };
        let s = file.in_cluster(opt).map_err(|e| MissingEnv(e.join("; ")))?;
        Ok(Env {
            node: var("NODE_NAME")?,
            pod: var("POD_NAME")?,
            namespace: var("POD_NAMESPACE")?,
            pod_uid: std::env::var("POD_UID").ok().filter(|u| !u.is_empty()),
            region: s.region.unwrap_or_else(|| UNKNOWN_REGION.into()),
            health_listen: s.health_listen,
            admin_listen: s.admin_listen,
            probe_concurrency: s.probe_concurrency,
            public_listener: s.public_listener,
            probe_targets: s.probe_targets,
            limits: s.limits,
            aws: s.aws,
        })
    }
}

const DOWNWARD_HINT: &str = "in-cluster mode reads NODE_NAME, POD_NAME and POD_NAMESPACE from the downward API (see deploy/helm/failover-agent); for static mode pass --config FILE";

/// A variable in-cluster mode needs is missing or wrong, or the settings file is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MissingEnv(pub String);

impl MissingEnv {
    /// A fixed name, for metric labels and log fields.
    pub fn metric_label(&self) -> &'static str {
        "missing_env"
    }
}

/// Default public listener in the cluster.
pub const HEALTH_LISTEN: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 8080);
/// Default admin listener in the cluster: every interface, so Prometheus on other nodes can scrape it.
pub const ADMIN_LISTEN: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 9090);

/// The Lease every replica competes for.
pub const LEASE_NAME: &str = "failover-agent-leader";
use crate::cluster::leader::aws::UNKNOWN_REGION;
pub use crate::cluster::serving::served::AWAITING;

pub use super::Error;

/// Runs this replica until `shutdown`.
pub async fn run(
    client: Client,
    env: Env,
    listeners: Listeners,
    metrics: Metrics,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    // A Region that is not configured is looked up from the SDK's chain only when this
    // replica leads (`LeaderAws::start`): a follower makes no AWS call.
    let caches = caches::start(&client, &env.namespace, &env.node, &shutdown);
    let apps = Arc::new(Apps::default());
    // Only while this replica leads (metrics.leader) are its apps' verdict series exported.
    metrics.export_verdicts(apps.clone());
    let ready = Arc::new(Readiness::default());
    let ctx = Context {
        apps: apps.clone(),
        metrics: metrics.clone(),
        ready: ready.clone(),
        region: env.region.clone(),
        allow_remote_override: false,
    };
    let (public, admin) = serve_listeners(ctx, listeners, &env.public_listener, &shutdown);

    let (mut jobs, [prober, writer]) = spawn_node(&client, &env, &metrics, &shutdown);
    let [election, duties] = spawn_leadership(client, &env, &metrics, &shutdown);
    tracing::info!(node = %env.node, pod = %env.pod, namespace = %env.namespace, "in-cluster agent starting; waiting for caches");
    follow_caches(&caches, &apps, &metrics, &mut jobs, &env, &ready, &shutdown).await;
    for t in [public, admin, prober, writer, election, duties] {
        t.await?;
    }
    tracing::info!("agent stopped");
    Ok(())
}

/// Starts this node's prober (bounded by `probeConcurrency` and the per-app limit)
/// and the writer of its `ProbeReport`. The jobs start empty: [`sync`] fills them
/// from this node's assignment.
fn spawn_node(
    client: &Client,
    env: &Env,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> (Jobs, [JoinHandle<()>; 2]) {
    let probes = Arc::new(NodeProbes::default());
    let series = Arc::new(ProbeSeries::new(metrics.clone()));
    let (jobs_tx, jobs_rx) = watch::channel(Arc::new(Vec::new()));
    let (p, s) = (probes.clone(), series.clone());
    let prober = tokio::spawn(probe::run(
        jobs_rx,
        probe::Limits {
            global: env.probe_concurrency,
            per_app: env.limits.probes_in_flight_per_app,
        },
        move |job: &probe::Job<node::Tag>, r| {
            s.observe(&job.tag.app, &r);
            p.observe(&job.tag, r)
        },
        shutdown.clone(),
    ));
    let reports = Api::<ProbeReport>::namespaced(client.clone(), &env.namespace);
    let writer = tokio::spawn(node::write_reports(
        reports,
        env.node.clone(),
        env.pod.clone(),
        node::pod_owner(&env.pod, env.pod_uid.as_deref()),
        probes.clone(),
        shutdown.clone(),
    ));
    let jobs = Jobs {
        probes,
        series,
        served: Served::default(),
        tx: jobs_tx,
        seen: None,
    };
    (jobs, [prober, writer])
}

/// Starts the Lease election and the duties this replica carries out while it
/// leads (assignments, the fold into `AppHealth.status`, the AWS tasks).
fn spawn_leadership(client: Client, env: &Env, metrics: &Metrics, shutdown: &CancellationToken) -> [JoinHandle<()>; 2] {
    let (terms_tx, terms_rx) = watch::channel(None);
    let leases = Api::namespaced(client.clone(), &env.namespace);
    let election = tokio::spawn(leader::run(
        leases,
        LEASE_NAME.into(),
        env.pod.clone(),
        terms_tx,
        metrics.leader.clone(),
        shutdown.clone(),
    ));
    let duties = status::Duties {
        namespace: env.namespace.clone(),
        pod: env.pod.clone(),
        region: env.region.clone(),
        aws: env.aws.clone(),
        probe_targets: env.probe_targets,
        limits: env.limits,
        metrics: metrics.clone(),
    };
    let duties = tokio::spawn(status::run(client, duties, terms_rx, shutdown.clone()));
    [election, duties]
}

/// Waits for the caches' first sync (then marks the agent ready), and from then on
/// brings the served apps and probe jobs in line at every cache change, until
/// `shutdown`. Every second, the apps and `source_stale{source="kubernetes"}` learn
/// whether the caches are stale.
async fn follow_caches(
    caches: &Caches,
    apps: &Apps,
    metrics: &Metrics,
    jobs: &mut Jobs,
    env: &Env,
    ready: &Readiness,
    shutdown: &CancellationToken,
) {
    let mut changed = caches.changed.clone();
    tokio::select! {
        _ = shutdown.cancelled() => {}
        r = caches.synced() => {
            if r.is_ok() {
                sync(caches, apps, metrics, jobs, env);
                ready.set_ready();
                tracing::info!(apps = apps.list().len(), "caches synced; ready");
            }
        }
    }
    let stale_gauge = metrics.source_stale.with_label_values(&["kubernetes"]);
    let mut every = tokio::time::interval(Duration::from_secs(1));
    while !shutdown.is_cancelled() {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = every.tick() => {
                let stale = caches.is_stale();
                apps.set_stale(stale);
                stale_gauge.set(stale as i64);
                continue;
            }
            r = changed.changed() => if r.is_err() { break },
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        changed.borrow_and_update();
        sync(caches, apps, metrics, jobs, env);
    }
}

/// This node's probe jobs, and the assignment they were made from.
struct Jobs {
    probes: Arc<NodeProbes>,
    /// This node's probe series (`telemetry`): kept to the apps it probes.
    series: Arc<ProbeSeries>,
    /// What this replica last published of each app.
    served: Served,
    tx: watch::Sender<Arc<Vec<probe::Job<node::Tag>>>>,
    /// The `resourceVersion` of the assignment the jobs come from (`Some(None)`: none).
    seen: Option<Option<String>>,
}

/// Brings the served apps, and this node's probe jobs if its assignment changed,
/// in line with the caches.
fn sync(caches: &Caches, apps: &Apps, metrics: &Metrics, jobs: &mut Jobs, env: &Env) {
    jobs.served.sync(apps, &caches.apps, caches.apps_dirty.take(), metrics);
    let assignment = caches.assignment();
    let rv = assignment.as_ref().map(|a| a.resource_version().unwrap_or_default());
    if jobs.seen.as_ref() == Some(&rv) {
        return;
    }
    let local = assigned_jobs(assignment.as_ref().map(|a| &a.spec), env.probe_targets);
    tracing::debug!(jobs = local.len(), "this node's ProbeAssignment changed");
    jobs.probes.retain(&local);
    jobs.series.retain(&local);
    jobs.tx.send_replace(Arc::new(local));
    jobs.seen = Some(rv);
}
