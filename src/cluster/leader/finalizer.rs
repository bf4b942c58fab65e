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
mod tests {
    use super::*;
    use crate::spec::route53::Route53Block;
    use std::collections::{BTreeMap, BTreeSet};

    fn ah(route53: bool, finalizer: bool, deleting: bool) -> AppHealth {
        let mut a: AppHealth = serde_json::from_value(serde_json::json!({
            "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
            "metadata": { "name": "app1", "namespace": "team", "uid": "uid-1" },
            "spec": { "services": ["web"] }
        }))
        .unwrap();
        if route53 {
            a.spec.route53 = Some(
                serde_json::from_value::<Route53Block>(serde_json::json!({
                    "hostedZoneId": "Z1", "recordName": "app1.example.com", "routing": { "latency": {} }
                }))
                .unwrap(),
            );
        }
        if finalizer {
            a.metadata.finalizers = Some(vec![FINALIZER.into()]);
        }
        if deleting {
            a.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::now(),
            ));
        }
        a
    }

    fn report(wanted: &[&str], problem: bool) -> Report {
        let key = AppKey {
            namespace: "team".into(),
            name: "app1".into(),
        };
        Report {
            check_ids: BTreeMap::new(),
            problems: if problem {
                BTreeMap::from([(key, vec!["x".into()])])
            } else {
                BTreeMap::new()
            },
            complete: !problem,
            incarnations: wanted.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            held: BTreeSet::new(),
        }
    }

    #[test]
    fn added_while_wanted_removed_only_after_a_clean_reconcile_without_it() {
        let key = AppKey {
            namespace: "team".into(),
            name: "app1".into(),
        };
        assert_eq!(
            decide(&ah(true, false, false), &key, true, true, None),
            Some(Action::Add)
        );
        assert_eq!(decide(&ah(true, true, false), &key, true, true, None), None);
        assert_eq!(decide(&ah(false, false, false), &key, true, true, None), None);
        let deleting = ah(true, true, true);
        assert_eq!(
            decide(&deleting, &key, true, true, None),
            None,
            "no reconcile yet this term"
        );
        assert_eq!(
            decide(&deleting, &key, true, true, Some(&report(&["uid-1"], false))),
            None,
            "still wanted then"
        );
        assert_eq!(
            decide(&deleting, &key, true, true, Some(&report(&[], true))),
            None,
            "its delete failed"
        );
        assert_eq!(
            decide(&deleting, &key, true, true, Some(&report(&[], false))),
            Some(Action::Remove)
        );
        assert_eq!(
            decide(&ah(false, true, false), &key, true, true, Some(&report(&[], false))),
            Some(Action::Remove),
            "block dropped"
        );
        assert_eq!(
            decide(&deleting, &key, true, false, None),
            Some(Action::Remove),
            "Route 53 not managed: never block deletion"
        );
    }
}
