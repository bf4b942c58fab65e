//! The node's own duty: probe the endpoints that run on this node, debounce the
//! results, and write them to this node's `ProbeReport` when a state changes.
//!
//! Each pod is probed by exactly one agent, the one on its node, so probe traffic
//! per pod does not grow with the node count.

use super::crd::ProbeScheme;
use super::report::{self, app_ref, ProbeReport, ProbeReportSpec};
use super::resolve::Resolution;
use super::slices::{by_service, endpoints_of_services};
use super::spec::settings;
use crate::config::ProbeTargets;
use crate::model::{ProbeResult, Target};
use crate::policy::{EndpointState, EndpointTracker, Policy};
use crate::probe::Job;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
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

/// The probe jobs for the endpoints on `node` of every served app. Endpoints that
/// may not be probed under `rules` ([`super::slices::refusal`]) get no job: the
/// leader judges them on readiness alone.
pub fn local_jobs(
    resolution: &Resolution,
    slices: &[Arc<EndpointSlice>],
    node: &str,
    rules: ProbeTargets,
) -> Vec<Job<Tag>> {
    let index = by_service(slices.iter().map(|s| s.as_ref()));
    let mut jobs = Vec::new();
    for (key, ah) in &resolution.served {
        let Ok(set) = settings(&ah.spec) else { continue };
        let ns = ah.namespace().unwrap_or_default();
        let app: Arc<str> = app_ref(&ns, key).into();
        for ep in endpoints_of_services(&index, &ns, &set.services, rules).into_values() {
            if ep.node.as_deref() != Some(node) {
                continue;
            }
            if let Some(why) = ep.refused {
                tracing::debug!(namespace = %ns, app = %key, ip = %ep.ip, why = why.as_str(), "endpoint is not a probe target; judged on readiness alone");
                continue;
            }
            let Some(target) = ep.probe_addr(set.port).and_then(|a| target(a, set.scheme, &set.path)) else {
                continue;
            };
            let tag = Tag {
                app: app.clone(),
                ip: ep.ip,
                policy: set.policy,
            };
            jobs.push(Job {
                target,
                spec: set.probe.clone(),
                group: app.clone(),
                tag,
            });
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
mod tests {
    use super::*;
    use crate::sources::kube::resolve::resolve;

    const RULES: ProbeTargets = ProbeTargets { allow_loopback: false };

    fn objects() -> (Resolution, Vec<Arc<EndpointSlice>>) {
        let ah = |name: &str, probe: serde_json::Value| {
            Arc::new(
                serde_json::from_value::<super::super::crd::AppHealth>(serde_json::json!({
                    "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
                    "metadata": { "name": name, "namespace": "ns" },
                    "spec": { "services": [name], "probe": probe },
                }))
                .unwrap(),
            )
        };
        // As the EndpointSlice controller writes them: labelled, endpoints are Pods.
        let slice = |svc: &str, eps: serde_json::Value| {
            let mut eps = eps;
            for e in eps.as_array_mut().into_iter().flatten() {
                e["targetRef"] = serde_json::json!({ "kind": "Pod", "namespace": "ns", "name": "p" });
            }
            Arc::new(
                serde_json::from_value::<EndpointSlice>(serde_json::json!({
                    "metadata": { "name": format!("{svc}-1"), "namespace": "ns", "labels": {
                        "kubernetes.io/service-name": svc, super::super::slices::MANAGED_BY_LABEL: super::super::slices::CONTROLLER } },
                    "addressType": "IPv4", "ports": [{ "port": 8080 }], "endpoints": eps,
                }))
                .unwrap(),
            )
        };
        let apps = resolve([
            ah("web", serde_json::json!({ "path": "/ready" })),
            ah("db", serde_json::json!({ "scheme": "TCP", "port": 5432 })),
        ]);
        let slices = vec![
            slice(
                "web",
                serde_json::json!([{ "addresses": ["10.0.0.1"], "nodeName": "a" }, { "addresses": ["10.0.0.2"], "nodeName": "b" }]),
            ),
            slice(
                "db",
                serde_json::json!([{ "addresses": ["10.0.0.3"], "nodeName": "a" }]),
            ),
        ];
        // A hand-made slice of web's Service on node a, and a loopback Pod address.
        let mut hand_made = slice(
            "web",
            serde_json::json!([{ "addresses": ["10.9.9.9"], "nodeName": "a" }]),
        )
        .as_ref()
        .clone();
        hand_made.metadata.name = Some("web-hand-made".into());
        hand_made
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .remove(super::super::slices::MANAGED_BY_LABEL);
        let lo = slice(
            "db",
            serde_json::json!([{ "addresses": ["127.0.0.9"], "nodeName": "a" }]),
        );
        let mut slices = slices;
        slices.extend([Arc::new(hand_made), lo]);
        (apps, slices)
    }

    #[test]
    fn a_node_probes_only_its_own_endpoints() {
        let (apps, slices) = objects();
        let jobs = |node: &str, rules: ProbeTargets| {
            let mut v: Vec<String> = local_jobs(&apps, &slices, node, rules)
                .iter()
                .map(|j| format!("{} {}", j.tag.app, j.target))
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            jobs("a", RULES),
            ["ns/db tcp://10.0.0.3:5432", "ns/web http://10.0.0.1:8080/ready"],
            "neither the hand-made slice's endpoint nor the loopback one"
        );
        assert_eq!(jobs("b", RULES), ["ns/web http://10.0.0.2:8080/ready"]);
        assert!(jobs("c", RULES).is_empty());
        assert_eq!(
            jobs("a", ProbeTargets { allow_loopback: true }),
            [
                "ns/db tcp://10.0.0.3:5432",
                "ns/db tcp://127.0.0.9:5432",
                "ns/web http://10.0.0.1:8080/ready"
            ]
        );
    }

    #[test]
    fn reports_change_only_on_debounced_transitions() {
        let (apps, slices) = objects();
        let jobs = local_jobs(&apps, &slices, "a", RULES);
        let probes = NodeProbes::default();
        let dirty = probes.subscribe();
        let ok = ProbeResult {
            outcome: crate::model::ProbeOutcome::Success,
            latency: Duration::ZERO,
            status: Some(200),
        };
        probes.observe(&jobs[0].tag, ok);
        assert!(!dirty.has_changed().unwrap(), "one success is not yet riseCount 2");
        probes.observe(&jobs[0].tag, ok);
        assert!(dirty.has_changed().unwrap());
        let report = probes.report();
        assert_eq!(
            report[&*jobs[0].tag.app][&jobs[0].tag.ip.to_string()],
            EndpointState::Up
        );
        probes.retain(&jobs[1..]);
        assert!(
            !probes.report().contains_key(&*jobs[0].tag.app),
            "gone endpoints leave the report"
        );
    }
}
