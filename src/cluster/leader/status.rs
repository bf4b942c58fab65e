//! The leader's duty: fold every served app's signals into `AppHealth.status`,
//! writing only when something changed, with an Event on every verdict transition;
//! mark objects that lose the Conflict rule; and hand each node the endpoints it
//! must probe (`ProbeAssignment`s, see [`super::assigner`]).
//!
//! Everything here runs under one [`Term`]: the leader's caches (full `AppHealth`
//! objects, EndpointSlices, ProbeReports, ProbeAssignments) are watched only during
//! the term; the fold, the status and assignment writes, the finalizer patches and
//! the AWS tasks stop the moment its token is cancelled (writes in flight are
//! dropped), and each write first asks the term as a fence.

use super::assigner;
use super::aws::LeaderAws;
use super::pass::{Folder, Io};
use super::term::Term;
use crate::cluster::kube::caches;
use crate::cluster::node::assignment::ProbeAssignment;
use crate::cluster::node::report::ProbeReport;
use crate::fence::Fence;
use crate::spec::AwsSettings;
use crate::telemetry::Metrics;
use kube::api::Api;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::Client;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long changes are gathered before one fold.
pub const FOLD_COALESCE: Duration = Duration::from_millis(10);
/// A full pass over every app runs at least this often (see [`super::pass`]):
/// a safety net, as a controller's resync is. Rare, because at 5,000 apps a full
/// pass takes some 40 ms, which a change arriving meanwhile waits for.
pub const RESYNC: Duration = Duration::from_secs(60);
/// While some app's status write has failed, a pass runs at least this often to
/// retry it.
pub const RETRY: Duration = Duration::from_secs(2);

/// What the leader needs besides the caches.
pub struct Duties {
    pub namespace: String,
    pub pod: String,
    pub region: String,
    pub aws: AwsSettings,
    /// The operator's probe target rules, which decide which endpoints are never probed.
    pub probe_targets: crate::spec::ProbeTargets,
    /// The operator's per-namespace limits, which decide which apps are held.
    pub limits: crate::spec::Limits,
    pub metrics: Metrics,
}

/// Runs the leader's duties during each term published on `terms`, until `shutdown`.
pub async fn run(client: Client, d: Duties, mut terms: watch::Receiver<Option<Term>>, shutdown: CancellationToken) {
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "failover-agent".into(),
            instance: Some(d.pod.clone()),
        },
    );
    loop {
        // Wait to lead.
        let term = loop {
            if let Some(t) = terms.borrow_and_update().clone().filter(|t| !t.is_over()) {
                break t;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = terms.changed() => if r.is_err() { return },
            }
        };
        if !lead(&client, &d, &recorder, &term).await || shutdown.is_cancelled() {
            return;
        }
        tracing::info!("term ended: fold, status writes and Route 53 reconcile stopped");
    }
}

/// Watches the ProbeReports of `namespace` until `stop`: the store, a receiver that
/// changes with every event, and which reports changed. Waits up to 10 s for the
/// first list, so that the term's first pass sees the nodes' reports.
async fn watch_reports(
    client: &Client,
    namespace: &str,
    stop: &tokio_util::sync::CancellationToken,
) -> (
    kube::runtime::reflector::Store<ProbeReport>,
    watch::Receiver<u64>,
    crate::cluster::kube::dirty::Dirty,
) {
    let (tx, changed) = watch::channel(0u64);
    let (reports, _, dirty) = caches::reflect(
        Api::<ProbeReport>::namespaced(client.clone(), namespace),
        watcher::Config::default(),
        "probereports",
        caches::Sink::new(Arc::new(tx), None),
        stop.clone(),
        |_| {},
    );
    let _ = tokio::time::timeout(Duration::from_secs(10), reports.wait_until_ready()).await;
    (reports, changed, dirty)
}

/// The duties of one term; returns as soon as its token (a child of the agent's
/// shutdown) is cancelled: true then, false if the caches can never sync.
async fn lead(client: &Client, d: &Duties, recorder: &Recorder, term: &Term) -> bool {
    let metrics = &d.metrics;
    let stop = term.token().clone();
    let caches = &caches::start_leader(client, &stop);
    let (assign_tx, assign_rx) = watch::channel(None);
    let duties = async {
        // Never fold from half-filled caches: an EndpointSlice cache that has not
        // listed yet would make every app look like it has no endpoints.
        if caches.synced().await.is_err() {
            return;
        }
        let (reports, mut reports_changed, reports_dirty) = watch_reports(client, &d.namespace, &stop).await;
        let mut changed = caches.changed.clone();
        let (refold, mut aws_changed) = watch::channel(0u64);
        let fence: Arc<dyn Fence> = Arc::new(term.clone());
        let leader_aws = LeaderAws::start(
            client.clone(),
            d.aws.clone(),
            d.region.clone(),
            metrics,
            Arc::new(refold),
            fence,
            stop.clone(),
        )
        .await;
        tracing::info!("leading: folding probe reports and AWS signals into AppHealth status");
        let mut folder = Folder::default();
        loop {
            let io = Io {
                client,
                caches,
                reports: &reports,
                reports_dirty: &reports_dirty,
                recorder,
                aws: &leader_aws,
                duties: d,
                fence: term,
                aws_version: *aws_changed.borrow_and_update(),
            };
            if let Some(nodes) = folder.pass(&io).await {
                assign_tx.send_replace(Some(Arc::new(nodes)));
            }
            let idle = tokio::time::Instant::now() + if folder.retrying() { RETRY } else { RESYNC };
            // A start-up grace that ends changes its app's verdict: fold then.
            let wake = folder.next_grace_end().map_or(idle, |end| end.min(idle));
            tokio::select! {
                _ = changed.changed() => {}
                _ = reports_changed.changed() => {}
                _ = aws_changed.changed() => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
            tokio::time::sleep(FOLD_COALESCE).await;
        }
    };
    let assignments = assigner::run(
        Api::<ProbeAssignment>::namespaced(client.clone(), &d.namespace),
        assign_rx,
        term,
        &stop,
    );
    // Whatever is in flight (a fold, a status or assignment write, AWS start-up) is
    // dropped at once.
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = duties => false,
        _ = assignments => {
            // It returns only when the fence closed (the term is over) or its watch
            // ended; in the second case, end the term too, so the next renewal starts
            // every duty afresh rather than leading without assignments.
            if !stop.is_cancelled() {
                tracing::error!("the ProbeAssignment writer stopped; ending this term so the next one starts afresh");
                term.end();
            }
            true
        }
    }
}
