//! The `failover-agent.io/route53` finalizer: an `AppHealth` with a `route53`
//! block is not removed until the leader has deleted its health check and record.

use crate::cluster::kube::crd::AppHealth;
use crate::fence::Fence;
use crate::model::AppKey;
use crate::publish::route53::Report;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};

pub const FINALIZER: &str = "failover-agent.io/route53";

/// Why the finalizer was not changed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Lost(#[from] crate::fence::Lost),
}

impl Error {
    /// A fixed name per variant, for metric labels and log fields.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Lost(l) => l.metric_label(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Add,
    Remove,
}

/// What to do with the finalizer of `ah` (served under `key` when `served`).
///
/// - Added to a served object with a `route53` block, when Route 53 is managed.
/// - Removed once the object is being deleted (or has dropped its block) and a
///   reconcile that neither wanted nor held it finished without a problem for its
///   app, so its check and record are gone. Also removed when Route 53 is not managed
///   (no `CLUSTER_ID`), so that deletions are never blocked forever.
pub fn decide(ah: &AppHealth, key: &AppKey, served: bool, managed: bool, last: Option<&Report>) -> Option<Action> {
    let has = ah.finalizers().iter().any(|f| f == FINALIZER);
    let deleting = ah.metadata.deletion_timestamp.is_some();
    let wants = ah.spec.route53.is_some() && !deleting;
    if !managed {
        return has.then_some(Action::Remove);
    }
    if wants && served && !has {
        return Some(Action::Add);
    }
    if has && !wants {
        let r = last?;
        let uid = ah.uid().unwrap_or_default();
        if !r.incarnations.contains(&uid) && !r.held.contains(key) && !r.problems.contains_key(key) {
            return Some(Action::Remove);
        }
    }
    None
}

/// Adds or removes the finalizer, if `fence` is open. The patch carries the object's
/// resourceVersion, so it fails, rather than drop someone else's finalizer, if the
/// list changed.
pub async fn apply(client: &Client, ah: &AppHealth, action: Action, fence: &dyn Fence) -> Result<(), Error> {
    fence.check()?;
    let mut list: Vec<String> = ah.finalizers().to_vec();
    match action {
        Action::Add => list.push(FINALIZER.into()),
        Action::Remove => list.retain(|f| f != FINALIZER),
    }
    let api = Api::<AppHealth>::namespaced(client.clone(), &ah.namespace().unwrap_or_default());
    let patch = serde_json::json!({ "metadata": { "finalizers": list, "resourceVersion": ah.resource_version() } });
    api.patch(&ah.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    tracing::info!(namespace = %ah.namespace().unwrap_or_default(), name = %ah.name_any(), ?action, "finalizer {FINALIZER}");
    Ok(())
}

#[cfg(test)]
#[path = "finalizer_tests.rs"]
mod tests;
