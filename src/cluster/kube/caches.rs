//! The watched caches. Every replica keeps two, both flat in the cluster's size
//! except for one small entry per app:
//!
//! - the lean serving view of every `AppHealth` ([`ServedApp`]: key, verdict,
//!   reason, counts), to answer `/health/<app>`;
//! - its own node's `ProbeAssignment` (field selector `metadata.name=<node>`), to
//!   know what to probe.
//!
//! The leader keeps, only during its term ([`start_leader`]), the full `AppHealth`
//! objects and the EndpointSlices of Services (label `kubernetes.io/service-name`):
//! a follower never watches an EndpointSlice. Reflectors with backoff;
//! `managedFields` and annotations are dropped to keep memory lean.
//!
//! Every event bumps a generation counter that the loops using a cache watch, and
//! names its object in the cache's [`Dirty`] set, so they can work on what changed. If
//! the API server cannot be reached, the caches keep their last contents and the
//! source is marked stale until a watch succeeds again.

use super::crd::AppHealth;
use super::dirty::Dirty;
use super::slices::SERVICE_LABEL;
use super::view::{self, ServedApp};
use crate::cluster::node::assignment::ProbeAssignment;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Health of one watched source.
#[derive(Debug, Default)]
pub struct SourceHealth {
    stale: AtomicBool,
}

impl SourceHealth {
    /// True while the last attempt to watch failed: the cache holds the last good data.
    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }
}

/// Two caches, their change counter and their health: `A` and `B` are the lean
/// apps and this node's assignment on every replica ([`Caches`]), the full apps
/// and the EndpointSlices on the leader ([`LeaderCaches`]).
#[derive(Clone)]
pub struct Pair<A, B>
where
    A: Resource + 'static,
    B: Resource + 'static,
    A::DynamicType: Eq + std::hash::Hash,
    B::DynamicType: Eq + std::hash::Hash,
{
    pub apps: Store<A>,
    pub other: Store<B>,
    /// Bumped on every watch event of either cache.
    pub changed: watch::Receiver<u64>,
    /// The objects of `apps` and `other` named in those events.
    pub apps_dirty: Dirty,
    pub other_dirty: Dirty,
    pub apps_health: Arc<SourceHealth>,
    pub other_health: Arc<SourceHealth>,
    /// True once both caches have listed. A watch channel rather than the stores'
    /// own `wait_until_ready`, which wakes only one of several concurrent waiters.
    synced: watch::Receiver<bool>,
    /// The leader's own status writes, whose events do not bump `changed`.
    pub own: OwnWrites,
}

/// The `resourceVersion`s of the leader's own status writes. Their watch events
/// still update the cache, but do not bump its change counter: the pass that
/// wrote them already knows what they say, so waking a new pass over every app
/// for them would only double the passes (and the wait of the next real change).
/// Each version is forgotten once its event is seen, and all are forgotten past
/// [`OwnWrites::KEPT`] (a missed event then costs one spare pass, nothing more).
#[derive(Clone, Debug, Default)]
pub struct OwnWrites(Arc<parking_lot::Mutex<std::collections::HashSet<String>>>);

impl OwnWrites {
    const KEPT: usize = 10_000;

    /// Remembers that this replica wrote the object version `rv`.
    pub fn wrote(&self, rv: Option<String>) {
        let Some(rv) = rv else { return };
        let mut w = self.0.lock();
        if w.len() >= Self::KEPT {
            w.clear();
        }
        w.insert(rv);
    }

    /// True (once) if `rv` is a version this replica wrote.
    fn take(&self, rv: Option<&str>) -> bool {
        rv.is_some_and(|rv| self.0.lock().remove(rv))
    }
}

/// Every replica's caches: the lean view of every app, and this node's assignment.
pub type Caches = Pair<ServedApp, ProbeAssignment>;
/// The leader's caches, for one term: full `AppHealth` objects and EndpointSlices.
pub type LeaderCaches = Pair<AppHealth, EndpointSlice>;

impl<A, B> Pair<A, B>
where
    A: Resource + Clone + Send + Sync + 'static,
    B: Resource + Clone + Send + Sync + 'static,
    A::DynamicType: Default + Eq + std::hash::Hash + Clone,
    B::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    /// True while either watch is failing.
    pub fn is_stale(&self) -> bool {
        self.apps_health.is_stale() || self.other_health.is_stale()
    }

    /// Waits until both caches have listed once. Any number of tasks may wait.
    pub async fn synced(&self) -> Result<(), watch::error::RecvError> {
        self.synced.clone().wait_for(|s| *s).await.map(|_| ())
    }

    fn new(
        (apps, apps_health, apps_dirty): Reflected<A>,
        (other, other_health, other_dirty): Reflected<B>,
        changed: watch::Receiver<u64>,
        own: OwnWrites,
    ) -> Self {
        let (synced_tx, synced) = watch::channel(false);
        let (a, b) = (apps.clone(), other.clone());
        tokio::spawn(async move {
            // The only waiter on the stores' readiness; everyone else waits on `synced`.
            if a.wait_until_ready().await.is_ok() && b.wait_until_ready().await.is_ok() {
                synced_tx.send_replace(true);
            }
        });
        Pair {
            apps,
            other,
            changed,
            apps_dirty,
            other_dirty,
            apps_health,
            other_health,
            synced,
            own,
        }
    }
}

impl Caches {
    /// This node's assignment, if the leader wrote one.
    pub fn assignment(&self) -> Option<Arc<ProbeAssignment>> {
        self.other.state().into_iter().next()
    }
}

impl LeaderCaches {
    /// Every EndpointSlice of a Service.
    pub fn slices(&self) -> Vec<Arc<EndpointSlice>> {
        self.other.state()
    }
}

/// Starts every replica's reflectors: the lean view of every `AppHealth`, and the
/// `ProbeAssignment` named `node` in `namespace`. They run until `shutdown`.
pub fn start(client: &Client, namespace: &str, node: &str, shutdown: &CancellationToken) -> Caches {
    let (tx, changed) = watch::channel(0u64);
    let tx = Arc::new(tx);
    let apps = reflect(
        Api::<ServedApp>::all(client.clone()),
        watcher::Config::default(),
        "apphealths",
        Sink::new(tx.clone(), None),
        shutdown.clone(),
        view::trim,
    );
    let assignment = reflect(
        Api::<ProbeAssignment>::namespaced(client.clone(), namespace),
        watcher::Config::default().fields(&format!("metadata.name={node}")),
        "probeassignment",
        Sink::new(tx, None),
        shutdown.clone(),
        |_| {},
    );
    Pair::new(apps, assignment, changed, OwnWrites::default())
}

/// Starts the leader's reflectors for one term: every `AppHealth` in full, and the
/// EndpointSlices of Services. They stop when `stop` (the term's token) is cancelled.
pub fn start_leader(client: &Client, stop: &CancellationToken) -> LeaderCaches {
    let (tx, changed) = watch::channel(0u64);
    let tx = Arc::new(tx);
    let own = OwnWrites::default();
    let apps = reflect(
        Api::<AppHealth>::all(client.clone()),
        watcher::Config::default(),
        "apphealths",
        Sink::new(tx.clone(), Some(own.clone())),
        stop.clone(),
        |_| {},
    );
    let slices = reflect(
        Api::<EndpointSlice>::all(client.clone()),
        watcher::Config::default().labels(SERVICE_LABEL),
        "endpointslices",
        Sink::new(tx, None),
        stop.clone(),
        trim_slice,
    );
    Pair::new(apps, slices, changed, own)
}

/// Drops the parts of an EndpointSlice the agent never reads (topology hints,
/// zones, hostnames, and of the target reference all but its kind and namespace,
/// which decide whether the endpoint may be probed), so 10,000 endpoints cost
/// little memory.
fn trim_slice(s: &mut EndpointSlice) {
    for e in &mut s.endpoints {
        e.hints = None;
        e.zone = None;
        e.deprecated_topology = None;
        e.hostname = None;
        if let Some(r) = e.target_ref.as_mut() {
            *r = ObjectReference {
                kind: r.kind.take(),
                namespace: r.namespace.take(),
                ..ObjectReference::default()
            };
        }
    }
}

/// A reflector's store, its health, and the objects its events named.
pub type Reflected<K> = (Store<K>, Arc<SourceHealth>, Dirty);

/// Where a reflector reports its events: every event except those of `own`
/// writes bumps `changed` and is noted in a new [`Dirty`].
pub struct Sink {
    changed: Arc<watch::Sender<u64>>,
    own: Option<OwnWrites>,
}

impl Sink {
    pub fn new(changed: Arc<watch::Sender<u64>>, own: Option<OwnWrites>) -> Sink {
        Sink { changed, own }
    }
}

/// Runs one reflector into a new store, reporting its events to `sink`. `trim`
/// drops fields the agent never reads before an object is cached; `managedFields`
/// and annotations are always dropped.
pub fn reflect<K>(
    api: Api<K>,
    cfg: watcher::Config,
    what: &'static str,
    sink: Sink,
    shutdown: CancellationToken,
    trim: fn(&mut K),
) -> Reflected<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let health = Arc::new(SourceHealth::default());
    let dirty = Dirty::default();
    let (h, d) = (health.clone(), dirty.clone());
    let Sink { changed, own } = sink;
    tokio::spawn(async move {
        let stream = watcher(api, cfg)
            .default_backoff()
            .modify(|o: &mut K| {
                o.managed_fields_mut().clear();
                o.annotations_mut().clear();
                trim(o);
            })
            .reflect(writer);
        futures_util::pin_mut!(stream);
        loop {
            let ev = tokio::select! {
                _ = shutdown.cancelled() => return,
                ev = stream.next() => ev,
            };
            match ev {
                Some(Ok(ev)) => {
                    if h.stale.swap(false, Ordering::Relaxed) {
                        tracing::info!(source = what, "watch recovered; data is fresh again");
                    }
                    let quiet = match (&ev, &own) {
                        (watcher::Event::Apply(o), Some(own)) => own.take(o.meta().resource_version.as_deref()),
                        _ => false,
                    };
                    if !quiet {
                        d.note(&ev);
                        changed.send_modify(|g| *g += 1);
                    }
                }
                Some(Err(e)) => {
                    if !h.stale.swap(true, Ordering::Relaxed) {
                        tracing::warn!(source = what, error = %e, "watch failed; serving last known data (stale) and retrying");
                    }
                }
                None => return,
            }
        }
    });
    (reader, health, dirty)
}
