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
    pub dns: Option<crate::model::DnsView>,
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
#[path = "view_tests.rs"]
mod tests;
