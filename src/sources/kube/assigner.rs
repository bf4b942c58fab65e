//! The leader's `ProbeAssignment` writer: one object per node with endpoints to
//! probe, kept equal to what the fold's resolution says, during one term.
//!
//! - **Only on change, coalesced.** The fold hands over every node's assignment
//!   ([`Nodes`]) only when it differs from the last one. Changes are gathered for
//!   [`ASSIGN_COALESCE`], then each node's object is compared with what the leader
//!   last read of it (a reflector on the agent's namespace, which also sees the
//!   leader's own writes come back) and created or replaced only if it differs. A
//!   new leader therefore rewrites nothing that is already right.
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

use super::assignment::{self, Nodes, ProbeAssignment, ProbeAssignmentSpec};
use super::caches;
use crate::fence::Fence;
use kube::api::{Api, DeleteParams, PostParams, Preconditions};
use kube::runtime::watcher;
use kube::ResourceExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How long changes are gathered before assignments are written.
pub const ASSIGN_COALESCE: Duration = Duration::from_millis(100);

/// One write that brings an assignment in line.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// The node has endpoints to probe and no assignment yet.
    Create(ProbeAssignmentSpec),
    /// The node's assignment differs: replace it, if it is still at `resource_version`.
    Replace {
        spec: ProbeAssignmentSpec,
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
/// (specs by node). Pure.
pub fn changes(
    want: &BTreeMap<String, ProbeAssignmentSpec>,
    have: &BTreeMap<String, Arc<ProbeAssignment>>,
) -> Vec<Change> {
    let mut out = Vec::new();
    for (node, spec) in want {
        match have.get(node) {
            Some(obj) if obj.spec == *spec => {}
            Some(obj) => out.push(Change::Replace {
                spec: spec.clone(),
                resource_version: obj.resource_version(),
            }),
            None => out.push(Change::Create(spec.clone())),
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

/// Every node's assignment spec, bounded, warning once for each node whose cut changes.
fn specs(nodes: &Nodes, cut: &mut BTreeMap<String, (u32, u32)>) -> BTreeMap<String, ProbeAssignmentSpec> {
    let out: BTreeMap<String, ProbeAssignmentSpec> = nodes
        .iter()
        .map(|(node, apps)| (node.clone(), assignment::spec(node, apps.clone())))
        .collect();
    let now: BTreeMap<String, (u32, u32)> = out
        .iter()
        .filter_map(|(n, s)| s.truncated.map(|t| (n.clone(), (t.apps, t.endpoints))))
        .collect();
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
    let (current, _) = caches::reflect(
        api.clone(),
        watcher::Config::default(),
        "probeassignments",
        Arc::new(tx),
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
            want = specs(&nodes, &mut cut);
            planned = Some(nodes);
        }
        let have: BTreeMap<String, Arc<ProbeAssignment>> =
            current.state().into_iter().map(|a| (a.name_any(), a)).collect();
        retry = false;
        for change in changes(&want, &have) {
            if let Err(lost) = fence.check() {
                tracing::debug!(reason = %lost, "ProbeAssignments not written");
                return;
            }
            match apply(&api, change).await {
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

async fn apply(api: &Api<ProbeAssignment>, change: Change) -> kube::Result<()> {
    match change {
        Change::Create(spec) => {
            let name = spec.node.clone();
            api.create(&PostParams::default(), &ProbeAssignment::new(&name, spec))
                .await?;
        }
        Change::Replace { spec, resource_version } => {
            let name = spec.node.clone();
            let mut obj = ProbeAssignment::new(&name, spec);
            obj.metadata.resource_version = resource_version;
            api.replace(&name, &PostParams::default(), &obj).await?;
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
mod tests {
    use super::*;
    use crate::sources::kube::assignment::{AssignedApp, AssignedProbe};
    use crate::sources::kube::crd::ProbeScheme;

    fn apps(eps: &[&str]) -> assignment::Apps {
        let app = AssignedApp {
            probe: AssignedProbe {
                scheme: ProbeScheme::Tcp,
                path: None,
                interval_seconds: 2.0,
                timeout_seconds: 1.0,
                expected_status: None,
                body_contains: None,
            },
            rise_count: 2,
            fall_count: 3,
            endpoints: eps.iter().map(|e| e.to_string()).collect(),
        };
        BTreeMap::from([("ns/web".to_string(), app)])
    }

    fn stored(node: &str, eps: &[&str], rv: &str) -> (String, Arc<ProbeAssignment>) {
        let mut a = ProbeAssignment::new(node, assignment::spec(node, apps(eps)));
        a.metadata.resource_version = Some(rv.into());
        (node.to_string(), Arc::new(a))
    }

    #[test]
    fn only_what_differs_is_written_and_nodes_without_endpoints_lose_their_assignment() {
        let nodes: Nodes = BTreeMap::from([
            ("a".to_string(), apps(&["10.0.0.1:80"])),
            ("b".to_string(), apps(&["10.0.0.2:80", "10.0.0.3:80"])),
            ("c".to_string(), apps(&["10.0.0.4:80"])),
        ]);
        let want = specs(&nodes, &mut BTreeMap::new());
        let have = BTreeMap::from([
            stored("a", &["10.0.0.1:80"], "5"),
            stored("b", &["10.0.0.2:80"], "6"),
            stored("gone", &["10.0.0.9:80"], "7"),
        ]);
        assert_eq!(
            changes(&want, &have),
            [
                Change::Replace {
                    spec: want["b"].clone(),
                    resource_version: Some("6".into())
                },
                Change::Create(want["c"].clone()),
                Change::Delete {
                    name: "gone".into(),
                    resource_version: Some("7".into())
                },
            ],
            "a is already right"
        );
        let settled: BTreeMap<String, Arc<ProbeAssignment>> = want
            .iter()
            .map(|(n, s)| (n.clone(), Arc::new(ProbeAssignment::new(n, s.clone()))))
            .collect();
        assert!(changes(&want, &settled).is_empty(), "nothing to write twice");
    }
}
