//! The watched caches every replica keeps: `AppHealth` in all namespaces and the
//! EndpointSlices of Services (label `kubernetes.io/service-name`). Reflectors
//! with backoff; `managedFields` and annotations are dropped to keep memory lean.
//!
//! Every event bumps a generation counter that the node, serving and leader loops
//! watch. If the API server cannot be reached, the caches keep their last
//! contents and the source is marked stale until a watch succeeds again.

use super::crd::AppHealth;
use super::slices::SERVICE_LABEL;
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

/// The caches, their change counter and their health.
#[derive(Clone)]
pub struct Caches {
    pub apps: Store<AppHealth>,
    pub slices: Store<EndpointSlice>,
    /// Bumped on every watch event of either cache.
    pub changed: watch::Receiver<u64>,
    pub apps_health: Arc<SourceHealth>,
    pub slices_health: Arc<SourceHealth>,
    /// True once both caches have listed. A watch channel rather than the stores'
    /// own `wait_until_ready`, which wakes only one of several concurrent waiters.
    synced: watch::Receiver<bool>,
}

impl Caches {
    /// True while either watch is failing.
    pub fn is_stale(&self) -> bool {
        self.apps_health.is_stale() || self.slices_health.is_stale()
    }

    /// Waits until both caches have listed once. Any number of tasks may wait.
    pub async fn synced(&self) -> Result<(), watch::error::RecvError> {
        self.synced.clone().wait_for(|s| *s).await.map(|_| ())
    }
}

/// Starts both reflectors; they run until `shutdown`.
pub fn start(client: &Client, shutdown: &CancellationToken) -> Caches {
    let (tx, changed) = watch::channel(0u64);
    let tx = Arc::new(tx);
    let (apps, apps_health) = reflect(
        Api::<AppHealth>::all(client.clone()),
        watcher::Config::default(),
        "apphealths",
        tx.clone(),
        shutdown.clone(),
        |_| {},
    );
    let (slices, slices_health) = reflect(
        Api::<EndpointSlice>::all(client.clone()),
        watcher::Config::default().labels(SERVICE_LABEL),
        "endpointslices",
        tx,
        shutdown.clone(),
        trim_slice,
    );
    let (synced_tx, synced) = watch::channel(false);
    let (a, b) = (apps.clone(), slices.clone());
    tokio::spawn(async move {
        // The only waiter on the stores' readiness; everyone else waits on `synced`.
        if a.wait_until_ready().await.is_ok() && b.wait_until_ready().await.is_ok() {
            synced_tx.send_replace(true);
        }
    });
    Caches {
        apps,
        slices,
        changed,
        apps_health,
        slices_health,
        synced,
    }
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

/// Runs one reflector into a new store, bumping `changed` on every event. `trim`
/// drops fields the agent never reads before an object is cached; `managedFields`
/// and annotations are always dropped.
pub fn reflect<K>(
    api: Api<K>,
    cfg: watcher::Config,
    what: &'static str,
    changed: Arc<watch::Sender<u64>>,
    shutdown: CancellationToken,
    trim: fn(&mut K),
) -> (Store<K>, Arc<SourceHealth>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let health = Arc::new(SourceHealth::default());
    let h = health.clone();
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
                Some(Ok(_)) => {
                    if h.stale.swap(false, Ordering::Relaxed) {
                        tracing::info!(source = what, "watch recovered; data is fresh again");
                    }
                    changed.send_modify(|g| *g += 1);
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
    (reader, health)
}
