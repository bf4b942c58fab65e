//! The node's own duty: probe the endpoints its `ProbeAssignment` names, debounce
//! the results, and write them to this node's `ProbeReport` when a state changes.
//!
//! Each pod is probed by exactly one agent, the one on its node (the leader assigns
//! it there), so probe traffic per pod does not grow with the node count. A node
//! needs nothing but its assignment to probe: no `AppHealth` spec, no EndpointSlice.

use super::assignment::ProbeAssignmentSpec;
use super::report::{self, ProbeReport, ProbeReportSpec};
use crate::cluster::kube::crd::ProbeScheme;
use crate::cluster::kube::slices::is_loopback;
use crate::model::EndpointState;
use crate::model::{ProbeResult, Target};
use crate::observe::probe::Job;
use crate::spec::guard;
use crate::spec::policy::Policy;
use crate::spec::probe_and_policy;
use crate::spec::PolicyKeys;
use crate::spec::ProbeKeys;
use crate::spec::ProbeTargets;
use crate::verdict::policy::EndpointTracker;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, PostParams};
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

/// The probe jobs of this node's assignment (`None`: no assignment, nothing to
/// probe). The node checks what it is given with the rules it would apply itself:
/// an app whose settings fail validation is skipped, and so is an address that is
/// unparsable, forbidden ([`guard::forbidden`]: link-local, metadata) or loopback
/// without `rules.allow_loopback`. Each is logged.
pub fn assigned_jobs(assignment: Option<&ProbeAssignmentSpec>, rules: ProbeTargets) -> Vec<Job<Tag>> {
    let Some(assignment) = assignment else {
        return Vec::new();
    };
    let mut jobs = Vec::new();
    for (app_ref, a) in &assignment.apps {
        let probe = ProbeKeys {
            interval_seconds: Some(a.probe.interval_seconds),
            timeout_seconds: Some(a.probe.timeout_seconds),
            path: a.probe.path.clone(),
            expected_status: a.probe.expected_status.clone(),
            body_contains: a.probe.body_contains.clone(),
            grpc_service: a.probe.grpc_service.clone(),
            tls: a.probe.tls.clone(),
        };
        let policy = PolicyKeys {
            fall_count: Some(a.fall_count),
            rise_count: Some(a.rise_count),
            ..PolicyKeys::default()
        };
        let mut errs = Vec::new();
        let (mut spec, policy, _) = probe_and_policy(app_ref, &probe, &policy, &mut errs);
        if let Some(tls) = &mut spec.tls {
            in_ca_dir(app_ref, tls, &mut errs);
        }
        if !errs.is_empty() {
            tracing::warn!(app = %app_ref, problems = %errs.join("; "), "this node's ProbeAssignment has invalid settings for an app; not probing it");
            continue;
        }
        let (app, spec): (Arc<str>, _) = (app_ref.as_str().into(), Arc::new(spec));
        let path = a.probe.path.as_deref().unwrap_or("/");
        for ep in &a.endpoints {
            let Ok(addr) = ep.parse::<SocketAddr>() else {
                tracing::warn!(app = %app_ref, endpoint = %ep, "not a socket address in this node's ProbeAssignment; not probed");
                continue;
            };
            if guard::forbidden(addr.ip()).is_some() || (!rules.allow_loopback && is_loopback(addr.ip())) {
                tracing::warn!(app = %app_ref, endpoint = %ep, "an address this agent never probes is in its ProbeAssignment; not probed");
                continue;
            }
            let Some(target) = target(addr, a.probe.scheme, path) else {
                continue;
            };
            let tag = Tag {
                app: app.clone(),
                ip: addr.ip(),
                policy,
            };
            jobs.push(Job {
                target,
                spec: spec.clone(),
                group: app.clone(),
                tag,
            });
        }
    }
    jobs
}

/// Resolves an assigned `caFile`, a plain file name, in this agent's probe CA
/// directory ([`crate::tls::probe_ca_dir`]); any other name is a problem.
fn in_ca_dir(app_ref: &str, tls: &mut crate::spec::ProbeTls, errs: &mut Vec<String>) {
    let Some(name) = tls.ca_file.take() else { return };
    match name.to_str().filter(|n| crate::tls::plain_file_name(n)) {
        Some(n) => tls.ca_file = Some(crate::tls::probe_ca_dir().join(n)),
        None => errs.push(format!(
            "{app_ref}.probe.tls.caFile: `{}` is not a plain file name",
            name.display()
        )),
    }
}

fn target(addr: SocketAddr, scheme: ProbeScheme, path: &str) -> Option<Target> {
    match scheme {
        ProbeScheme::Tcp => Some(Target::Tcp { addr }),
        ProbeScheme::Grpc => Some(Target::Grpc { addr }),
        ProbeScheme::Http | ProbeScheme::Https => {
            let s = if scheme == ProbeScheme::Https { "https" } else { "http" };
            let uri = format!("{s}://{addr}{path}").parse().ok()?;
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
/// carries the whole current state, cut to [`report::REPORT_BUDGET`] if need be
/// (with a warning and the `truncated` count). The report is owned by `owner` (this agent's
/// Pod), so Kubernetes garbage-collects it when the Pod is deleted and the leader
/// then judges that node's endpoints on readiness alone.
pub async fn write_reports(
    api: Api<ProbeReport>,
    node: String,
    pod: String,
    owner: Option<OwnerReference>,
    probes: Arc<NodeProbes>,
    shutdown: CancellationToken,
) {
    let mut dirty = probes.subscribe();
    let mut written: Option<report::Apps> = None;
    let mut was_cut = None;
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
        let (kept, truncated) = report::bound(apps.clone(), report::REPORT_BUDGET);
        if truncated != was_cut {
            if let Some(t) = truncated {
                tracing::warn!(
                    apps_cut = t.apps,
                    endpoints_cut = t.endpoints,
                    budget_bytes = report::REPORT_BUDGET,
                    "this node's ProbeReport would be too large; apps left out are judged on readiness alone"
                );
            }
            was_cut = truncated;
        }
        let spec = ProbeReportSpec {
            node: node.clone(),
            pod: pod.clone(),
            apps: kept,
            truncated,
        };
        match put(&api, &node, spec, owner.clone()).await {
            Ok(()) => {
                written = Some(apps);
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

async fn put(
    api: &Api<ProbeReport>,
    name: &str,
    spec: ProbeReportSpec,
    owner: Option<OwnerReference>,
) -> kube::Result<()> {
    let owners = owner.map(|o| vec![o]);
    match api.get_opt(name).await? {
        None => {
            let mut obj = ProbeReport::new(name, spec);
            obj.metadata.owner_references = owners;
            api.create(&PostParams::default(), &obj).await?;
        }
        Some(mut obj) => {
            obj.spec = spec;
            obj.metadata.managed_fields = None;
            // A new agent Pod on the node takes the report over.
            obj.metadata.owner_references = owners;
            api.replace(name, &PostParams::default(), &obj).await?;
        }
    }
    Ok(())
}

/// The owner reference to this agent's Pod, when its UID is known.
pub fn pod_owner(pod: &str, uid: Option<&str>) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "v1".into(),
        kind: "Pod".into(),
        name: pod.into(),
        uid: uid?.into(),
        ..Default::default()
    })
}

#[cfg(test)]
#[path = "prober_tests.rs"]
mod tests;
