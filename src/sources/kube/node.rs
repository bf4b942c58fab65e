//! The node's own duty: probe the endpoints that run on this node, debounce the
//! results, and write them to this node's `ProbeReport` when a state changes.
//!
//! Each pod is probed by exactly one agent, the one on its node, so probe traffic
//! per pod does not grow with the node count.

use super::crd::ProbeScheme;
use super::report::{app_ref, ProbeReport, ProbeReportSpec};
use super::resolve::Resolution;
use super::slices::{endpoints_of, service_of};
use super::spec::settings;
use crate::model::{ProbeResult, Target};
use crate::policy::{EndpointState, EndpointTracker, Policy};
use crate::probe::Job;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, PostParams};
use kube::ResourceExt;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What a probe result is for: the app (`namespace/app`), the endpoint, and the
/// app's policy for debouncing.
#[derive(Clone, Debug)]
pub struct Tag {
    pub app: Arc<str>,
    pub ip: IpAddr,
    pub policy: Policy,
}

/// The probe jobs for the endpoints on `node` of every served app.
pub fn local_jobs(resolution: &Resolution, slices: &[Arc<EndpointSlice>], node: &str) -> Vec<Job<Tag>> {
    let mut by_service: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
    for s in slices {
        if let (Some(ns), Some(svc)) = (s.metadata.namespace.as_deref(), service_of(s)) {
            by_service.entry((ns, svc)).or_default().push(s);
        }
    }
    let mut jobs = Vec::new();
    for (key, ah) in &resolution.served {
        let Ok(set) = settings(&ah.spec) else { continue };
        let ns = ah.namespace().unwrap_or_default();
        let app: Arc<str> = app_ref(&ns, key).into();
        for svc in &set.services {
            let Some(slices) = by_service.get(&(ns.as_str(), svc.as_str())) else {
                continue;
            };
            for ep in endpoints_of(&ns, svc, slices.iter().copied()).into_values() {
                if ep.node.as_deref() != Some(node) {
                    continue;
                }
                let Some(addr) = ep.probe_addr(set.port) else { continue };
                let Some(target) = target(addr, set.scheme, &set.path) else {
                    continue;
                };
                jobs.push(Job {
                    target,
                    spec: set.probe.clone(),
                    tag: Tag {
                        app: app.clone(),
                        ip: ep.ip,
                        policy: set.policy,
                    },
                });
            }
        }
    }
    jobs
}

fn target(addr: SocketAddr, scheme: ProbeScheme, path: &str) -> Option<Target> {
    match scheme {
        ProbeScheme::Tcp => Some(Target::Tcp { addr }),
        ProbeScheme::Http => {
            let uri = format!("http://{addr}{path}").parse().ok()?;
            Some(Target::Http { uri, addr })
        }
    }
}

/// The debounced probe states of this node's endpoints.
pub struct NodeProbes {
    trackers: Mutex<HashMap<(Arc<str>, IpAddr), EndpointTracker>>,
    /// Bumped when a debounced state changes or an endpoint goes away.
    dirty: watch::Sender<u64>,
}

impl Default for NodeProbes {
    fn default() -> Self {
        NodeProbes {
            trackers: Mutex::default(),
            dirty: watch::channel(0).0,
        }
    }
}

impl NodeProbes {
    /// Feeds one probe result.
    pub fn observe(&self, tag: &Tag, result: ProbeResult) {
        let mut t = self.trackers.lock();
        let tracker = t.entry((tag.app.clone(), tag.ip)).or_default();
        if tracker.observe(result.outcome.is_success(), &tag.policy) {
            self.dirty.send_modify(|g| *g += 1);
        }
    }

    /// Keeps only the trackers of current jobs.
    pub fn retain(&self, jobs: &[Job<Tag>]) {
        let keep: HashSet<(Arc<str>, IpAddr)> = jobs.iter().map(|j| (j.tag.app.clone(), j.tag.ip)).collect();
        let mut t = self.trackers.lock();
        let before = t.len();
        t.retain(|k, _| keep.contains(k));
        if t.len() != before {
            self.dirty.send_modify(|g| *g += 1);
        }
    }

    /// The report content: state by app, then IP.
    pub fn report(&self) -> BTreeMap<String, BTreeMap<String, EndpointState>> {
        let mut out: BTreeMap<String, BTreeMap<String, EndpointState>> = BTreeMap::new();
        for ((app, ip), t) in self.trackers.lock().iter() {
            out.entry(app.to_string()).or_default().insert(ip.to_string(), t.state);
        }
        out
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.dirty.subscribe()
    }
}

/// How long changes are gathered before one report write.
pub const REPORT_COALESCE: Duration = Duration::from_millis(100);

/// Writes this node's report whenever its content changes, until `shutdown`.
/// A failed write is retried with backoff; nothing is dropped, because each write
/// carries the whole current state.
pub async fn write_reports(
    api: Api<ProbeReport>,
    node: String,
    pod: String,
    probes: Arc<NodeProbes>,
    shutdown: CancellationToken,
) {
    let mut dirty = probes.subscribe();
    let mut written: Option<BTreeMap<String, BTreeMap<String, EndpointState>>> = None;
    let mut backoff = Duration::from_millis(200);
    let mut retry = false;
    loop {
        if !retry {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = dirty.changed() => if r.is_err() { return },
            }
        }
        tokio::time::sleep(REPORT_COALESCE).await;
        dirty.borrow_and_update();
        let apps = probes.report();
        if written.as_ref() == Some(&apps) {
            continue;
        }
        let spec = ProbeReportSpec {
            node: node.clone(),
            pod: pod.clone(),
            apps,
        };
        match put(&api, &node, spec.clone()).await {
            Ok(()) => {
                written = Some(spec.apps);
                backoff = Duration::from_millis(200);
                retry = false;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "writing this node's ProbeReport failed; will retry");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                retry = true;
            }
        }
    }
}

async fn put(api: &Api<ProbeReport>, name: &str, spec: ProbeReportSpec) -> kube::Result<()> {
    match api.get_opt(name).await? {
        None => {
            api.create(&PostParams::default(), &ProbeReport::new(name, spec))
                .await?;
        }
        Some(mut obj) => {
            obj.spec = spec;
            obj.metadata.managed_fields = None;
            api.replace(name, &PostParams::default(), &obj).await?;
        }
    }
    Ok(())
}
