//! The lean serving view of an `AppHealth`: what every replica keeps to answer
//! `/health/<app>`, and nothing else.
//!
//! [`ServedApp`] is read from the same `apphealths` watch as the full object, but
//! deserializes only the key (`spec.app`), `spec.override`, whether a `route53`
//! block is present, the metadata the Conflict rule orders by, and the status fields
//! serving reads. The rest of the spec (Services, probe, policy, target groups, the
//! Route 53 block) is skipped while parsing, never held in memory; labels, annotations,
//! owner references, finalizers and `managedFields` are dropped before caching, and
//! so are the conditions serving does not read.
//!
//! Only the leader keeps full `AppHealth` objects (for the fold, limits, AWS and
//! Route 53), and only during its term.

use crate::cluster::serving::resolve::Claim;
use crate::model::{Health, OverrideMode};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::core::NamespaceResourceScope;
use kube::Resource;
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;

/// The conditions serving reads: `Held` (its status only; everything else it
/// serves is in typed status fields).
const KEPT_CONDITIONS: [&str; 1] = ["Held"];

/// An `AppHealth` as serving sees it.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct ServedApp {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ServedSpec,
    #[serde(default)]
    pub status: Option<ServedStatus>,
}

/// The spec fields serving reads.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServedSpec {
    /// The `/health/<app>` key; absent: `metadata.name`.
    #[serde(default)]
    pub app: Option<String>,
    /// Game-day override, shown beside the verdict.
    #[serde(default, rename = "override")]
    pub override_mode: OverrideMode,
    /// True when the object has a `route53` block (its content is not kept).
    #[serde(default, deserialize_with = "present")]
    pub route53: bool,
}

/// The status fields serving reads (all written by the leader; see
/// `crd::AppHealthStatus`). A field an older leader did not write is absent.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServedStatus {
    #[serde(default)]
    pub verdict: Option<Health>,
    /// Served as is, never parsed.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub total_endpoints: Option<u32>,
    #[serde(default)]
    pub healthy_endpoints: Option<u32>,
    #[serde(default)]
    pub unknown_endpoints: Option<u32>,
    #[serde(default)]
    pub healthy_targets: Option<u32>,
    #[serde(default)]
    pub total_targets: Option<u32>,
    #[serde(default)]
    pub targets_stale: Option<bool>,
    #[serde(default)]
    pub health_check_id: Option<String>,
    #[serde(default)]
    pub route53_healthy: Option<bool>,
    #[serde(default)]
    pub route53_problems: Vec<String>,
    #[serde(default)]
    pub conditions: Vec<ServedCondition>,
}

/// A condition, without its times and generation.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ServedCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub message: String,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<serde::de::IgnoredAny>::deserialize(d)?.is_some())
}

impl ServedApp {
    /// True when the leader holds this app by its namespace's limits (`Held` is True).
    /// Followers cannot compute limits (they see no EndpointSlices), so they take
    /// this from the status the leader wrote.
    pub fn is_held(&self) -> bool {
        self.condition("Held").is_some_and(|c| c.status == "True")
    }

    /// The condition of type `type_`, if the leader wrote one.
    pub fn condition(&self, type_: &str) -> Option<&ServedCondition> {
        self.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
    }
}

impl Claim for ServedApp {
    fn claimed_key(&self) -> Option<&str> {
        self.spec.app.as_deref()
    }
}

/// Drops what serving never reads (the reflector also clears `managedFields` and
/// annotations): labels, owner references, finalizers, and unread conditions.
pub fn trim(a: &mut ServedApp) {
    let m = &mut a.metadata;
    m.labels = None;
    m.owner_references = None;
    m.finalizers = None;
    m.generate_name = None;
    if let Some(s) = a.status.as_mut() {
        s.conditions.retain(|c| KEPT_CONDITIONS.contains(&c.type_.as_str()));
        for c in &mut s.conditions {
            c.message = String::new();
        }
    }
}

impl Resource for ServedApp {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "AppHealth".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "failover-agent.io".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1alpha1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "apphealths".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::kube::crd::AppHealth;

    #[test]
    fn the_view_keeps_what_serving_reads_and_names_the_same_resource() {
        let v = serde_json::json!({
            "apiVersion": "failover-agent.io/v1alpha1", "kind": "AppHealth",
            "metadata": { "name": "web", "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z",
                          "labels": { "team": "x" }, "finalizers": ["failover-agent.io/route53"] },
            "spec": { "app": "shop", "services": ["web", "api"], "override": "fail",
                      "probe": { "path": "/healthz" }, "targetGroupArns": [],
                      "route53": { "hostedZoneId": "Z1", "recordName": "shop.example.com" } },
            "status": { "verdict": "unhealthy", "reason": "0/2 endpoints healthy", "totalEndpoints": 2,
                        "healthyEndpoints": 0, "readyEndpoints": 2, "lastTransitionTime": "2026-01-01T00:00:00Z",
                        "unknownEndpoints": 1, "healthyTargets": 0, "totalTargets": 2, "targetsStale": true,
                        "route53Problems": ["denied"],
                        "conditions": [
                          { "type": "Healthy", "status": "False", "reason": "Unhealthy", "message": "long", "lastTransitionTime": "t" },
                          { "type": "Held", "status": "True", "reason": "AppsPerNamespace", "message": "long", "lastTransitionTime": "t" },
                          { "type": "Route53Synced", "status": "False", "reason": "Error", "message": "denied", "lastTransitionTime": "t" } ] },
        });
        let mut a: ServedApp = serde_json::from_value(v.clone()).unwrap();
        trim(&mut a);
        assert_eq!(a.spec.app.as_deref(), Some("shop"));
        assert_eq!(a.spec.override_mode, OverrideMode::Fail);
        assert!(a.spec.route53);
        assert!(a.is_held());
        assert_eq!((a.metadata.labels.clone(), a.metadata.finalizers.clone()), (None, None));
        let s = a.status.clone().unwrap_or_default();
        assert_eq!(s.verdict, Some(Health::Unhealthy));
        assert_eq!((s.total_endpoints, s.healthy_endpoints), (Some(2), Some(0)));
        let kept: Vec<&str> = s.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(kept, ["Held"], "the rest is in typed fields");
        assert_eq!(s.route53_problems, ["denied"]);
        assert_eq!((s.unknown_endpoints, s.targets_stale), (Some(1), Some(true)));
        let mut bare = v;
        bare["spec"] = serde_json::json!({ "services": ["web"] });
        bare["status"] = serde_json::Value::Null;
        let b: ServedApp = serde_json::from_value(bare).unwrap();
        assert!(!b.spec.route53 && b.status.is_none() && !b.is_held());
        assert_eq!(
            ServedApp::url_path(&(), Some("shop")),
            AppHealth::url_path(&(), Some("shop"))
        );
    }
}
