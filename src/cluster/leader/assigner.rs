//! The leader's `ProbeAssignment` writer: one object per node with endpoints to
//! probe, kept equal to what the fold's resolution says, during one term.
//!
//! - **Only on change, coalesced.** The fold hands over every node's assignment
//!   ([`Nodes`]) only when it differs from the last one. Changes are gathered for
//!   [`ASSIGN_COALESCE`], then each node's object is compared with what the leader
//!   last read of it (a reflector on the agent's namespace, which also sees the
//!   leader's own writes come back, and keeps only a [`fingerprint`] of each spec)
//!   and created or replaced only if it differs. A new leader therefore rewrites
//!   nothing that is already right.
//! - **Fenced.** Every create, replace and delete first asks the term's fence; a
//!   closed fence ends the writer at once.
//! - **Garbage rule.** No owner references: an assignment belongs to no Pod. The
//!   leader deletes the assignment of every node that no longer has an endpoint to
//!   probe (its pods moved or went, or the node left: its endpoints leave the
//!   EndpointSlices), and any other object in the namespace it did not plan. While
//!   no replica leads, assignments stay as last written and nodes keep probing
//!   what they say; the next leader reconciles them at the start of its term.
//! - **Failures** (other than a conflict with a newer object, which the next watch
//!   event settles) are retried with backoff (200 ms doubling to 10 s).

use crate::cluster::kube::caches;
use crate::cluster::node::assignment;
use crate::cluster::node::assignment::Nodes;
use crate::cluster::node::assignment::ProbeAssignment;
use crate::cluster::node::assignment::ProbeAssignmentSpec;
use crate::fence::Fence;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::core::NamespaceResourceScope;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long changes are gathered before assignments are written.
pub const ASSIGN_COALESCE: Duration = Duration::from_millis(100);

/// What the leader keeps of an assignment it reads: its metadata and a
/// [`fingerprint`] of its spec, not the spec itself (at 10,000 endpoints the
/// specs would cost the leader several MiB more, for a comparison a hash makes).
#[derive(Deserialize, Clone, Debug)]
#[serde(from = "Read")]
pub struct Written {
    pub metadata: ObjectMeta,
    /// The spec's fingerprint; 0 for a spec that is not a valid assignment.
    pub fingerprint: u64,
}

#[derive(Deserialize)]
struct Read {
    metadata: ObjectMeta,
    #[serde(default)]
    spec: serde_json::Value,
}

impl From<Read> for Written {
    fn from(r: Read) -> Written {
        let fingerprint = serde_json::from_value::<ProbeAssignmentSpec>(r.spec).map_or(0, |s| fingerprint(&s));
        Written {
            metadata: r.metadata,
            fingerprint,
        }
    }
}

impl Resource for Written {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        ProbeAssignment::kind(&())
    }
    fn group(_: &()) -> Cow<'_, str> {
        ProbeAssignment::group(&())
    }
    fn version(_: &()) -> Cow<'_, str> {
        ProbeAssignment::version(&())
    }
    fn plural(_: &()) -> Cow<'_, str> {
        ProbeAssignment::plural(&())
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// A 64-bit FNV-1a hash of the spec's JSON: equal specs (as typed values, so `2`
/// and `2.0` alike) have equal fingerprints, in every build and on every replica.
/// Never 0.
pub fn fingerprint(spec: &ProbeAssignmentSpec) -> u64 {
    struct Fnv(u64);
    impl std::io::Write for Fnv {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            for b in buf {
                self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    // Writing to a hasher cannot fail, nor can serializing these plain types.
    let _ = serde_json::to_writer(&mut h, spec);
    h.0.max(1)
}

/// One write that brings an assignment in line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The node has endpoints to probe and no assignment yet.
    Create { node: String },
    /// The node's assignment differs: replace it, if it is still at `resource_version`.
    Replace {
        node: String,
        resource_version: Option<String>,
    },
    /// An assignment of a node with nothing to probe (or of no node): delete it, if
    /// it is still at `resource_version`.
    Delete {
        name: String,
        resource_version: Option<String>,
    },
}

/// The writes that turn `have` (assignments by name, as last read) into `want`
/// (spec fingerprints by node). Pure.
pub fn changes(want: &BTreeMap<String, u64>, have: &BTreeMap<String, Arc<Written>>) -> Vec<Change> {
    let mut out = Vec::new();
    for (node, fp) in want {
        match have.get(node) {
            Some(obj) if obj.fingerprint == *fp => {}
            Some(obj) => out.push(Change::Replace {
                node: node.clone(),
                resource_version: obj.resource_version(),
            }),
            None => out.push(Change::Create { node: node.clone() }),
        }
    }
    for (name, obj) in have {
        if !want.contains_key(name) {
            out.push(Change::Delete {
                name: name.clone(),
                resource_version: obj.resource_version(),
            });
        }
    }
    out
}

/// Every node's bounded assignment fingerprint, warning once for each node whose cut changes.
fn fingerprints(nodes: &Nodes, cut: &mut BTreeMap<String, (u32, u32)>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut now = BTreeMap::new();
    for (node, shares) in nodes {
        let spec = assignment::spec_of(node, shares);
        if let Some(t) = spec.truncated {
            now.insert(node.clone(), (t.apps, t.endpoints));
        }
        out.insert(node.clone(), fingerprint(&spec));
    }
    for (node, (apps, endpoints)) in &now {
        if cut.get(node) != Some(&(*apps, *endpoints)) {
            tracing::warn!(%node, apps_cut = apps, endpoints_cut = endpoints, budget_bytes = assignment::ASSIGNMENT_BUDGET,
                "this node's ProbeAssignment would be too large; apps left out are not probed there and are judged on readiness alone");
        }
    }
    *cut = now;
    out
}

/// Keeps the assignments in `api`'s namespace equal to `desired` (`None` until the
/// first fold), until `stop` or until `fence` closes. Runs inside the term's duties.
pub async fn run(
    api: Api<ProbeAssignment>,
    mut desired: watch::Receiver<Option<Arc<Nodes>>>,
    fence: &dyn Fence,
    stop: &CancellationToken,
) {
    let (tx, mut read_changed) = watch::channel(0u64);
    let (current, _, _) = caches::reflect(
        Api::<Written>::namespaced(api.clone().into_client(), api.namespace().unwrap_or_default()),
        watcher::Config::default(),
        "probeassignments",
        caches::Sink::new(Arc::new(tx), None),
        stop.clone(),
        |_| {},
    );
    if current.wait_until_ready().await.is_err() {
        return;
    }
    let mut planned: Option<Arc<Nodes>> = None;
    let mut want = BTreeMap::new();
    let mut cut = BTreeMap::new();
    let mut backoff = Duration::from_millis(200);
    let mut retry = false;
    loop {
        if !retry {
            tokio::select! {
                r = desired.changed() => if r.is_err() { return },
                r = read_changed.changed() => if r.is_err() { return },
            }
        }
        tokio::time::sleep(ASSIGN_COALESCE).await;
        read_changed.borrow_and_update();
        let Some(nodes) = desired.borrow_and_update().clone() else {
            continue;
        };
        if !planned.as_ref().is_some_and(|p| Arc::ptr_eq(p, &nodes)) {
            want = fingerprints(&nodes, &mut cut);
            planned = Some(nodes.clone());
        }
        let have: BTreeMap<String, Arc<Written>> = current.state().into_iter().map(|a| (a.name_any(), a)).collect();
        retry = false;
        for change in changes(&want, &have) {
            if let Err(lost) = fence.check() {
                tracing::debug!(reason = %lost, "ProbeAssignments not written");
                return;
            }
            match apply(&api, change, &nodes).await {
                Ok(()) => {}
                // Read out of date: the watch event that follows settles it.
                Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => retry = true,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "writing a ProbeAssignment failed; will retry");
                    retry = true;
                }
            }
        }
        if retry {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        } else {
            backoff = Duration::from_millis(200);
        }
    }
}

/// Makes one change; the spec of a created or replaced assignment is built again
/// from `nodes`, exactly as its fingerprint was.
async fn apply(api: &Api<ProbeAssignment>, change: Change, nodes: &Nodes) -> kube::Result<()> {
    let none = assignment::Shares::new();
    let spec = |node: &str| assignment::spec_of(node, nodes.get(node).map_or(&none, |s| &**s));
    match change {
        Change::Create { node } => {
            api.create(&PostParams::default(), &ProbeAssignment::new(&node, spec(&node)))
                .await?;
        }
        Change::Replace { node, resource_version } => {
            let mut obj = ProbeAssignment::new(&node, spec(&node));
            obj.metadata.resource_version = resource_version;
            api.replace(&node, &PostParams::default(), &obj).await?;
        }
        Change::Delete { name, resource_version } => {
            let dp = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version,
                    uid: None,
                }),
                ..DeleteParams::default()
            };
            api.delete(&name, &dp).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "assigner_tests.rs"]
mod tests;
