//! Target groups discovered from the AWS Load Balancer Controller's
//! `TargetGroupBinding` objects (`elbv2.k8s.aws/v1beta1`), for apps that do not
//! list `targetGroupArns`. Listed by the leader only, every [`REFRESH`].

use kube::api::{Api, ListParams};
use kube::{Client, CustomResource, ResourceExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How often the leader lists TargetGroupBindings.
pub const REFRESH: Duration = Duration::from_secs(30);

/// The fields of a TargetGroupBinding the agent reads.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, Default)]
#[kube(
    group = "elbv2.k8s.aws",
    version = "v1beta1",
    kind = "TargetGroupBinding",
    namespaced,
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupBindingSpec {
    #[serde(default)]
    pub service_ref: ServiceRef,
    #[serde(default, rename = "targetGroupARN")]
    pub target_group_arn: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default)]
pub struct ServiceRef {
    #[serde(default)]
    pub name: String,
}

/// Target group ARNs by (namespace, Service name).
pub type Bindings = BTreeMap<(String, String), BTreeSet<String>>;

/// Indexes bindings by the Service they route to.
pub fn index<'a>(tgbs: impl IntoIterator<Item = &'a TargetGroupBinding>) -> Bindings {
    let mut out = Bindings::new();
    for t in tgbs {
        let (Some(ns), Some(arn)) = (t.namespace(), t.spec.target_group_arn.clone()) else {
            continue;
        };
        if crate::spec::valid_target_group_arn(&arn) && !t.spec.service_ref.name.is_empty() {
            out.entry((ns, t.spec.service_ref.name.clone()))
                .or_default()
                .insert(arn);
        }
    }
    out
}

/// Lists every binding. A cluster without the controller (no such resource) has none.
pub async fn list(client: &Client) -> Result<Bindings, kube::Error> {
    match Api::<TargetGroupBinding>::all(client.clone())
        .list(&ListParams::default())
        .await
    {
        Ok(l) => Ok(index(l.items.iter())),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(Bindings::new()),
        Err(e) => Err(e),
    }
}

/// The target groups of an app: its own list if given, else those bound to its Services.
pub fn of_app(explicit: Option<&Vec<String>>, ns: &str, services: &[String], b: &Bindings) -> Vec<String> {
    if let Some(v) = explicit {
        return v.clone();
    }
    let mut arns: BTreeSet<String> = BTreeSet::new();
    if b.is_empty() {
        return Vec::new();
    }
    for s in services {
        if let Some(set) = b.get(&(ns.to_owned(), s.clone())) {
            arns.extend(set.iter().cloned());
        }
    }
    arns.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_arns_win_over_bindings_of_the_apps_services() {
        let arn = |n: &str| format!("arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/{n}/abc");
        let tgb = |ns: &str, svc: &str, tg: Option<String>| {
            let mut t = TargetGroupBinding::new(
                "b",
                TargetGroupBindingSpec {
                    service_ref: ServiceRef { name: svc.into() },
                    target_group_arn: tg,
                },
            );
            t.metadata.namespace = Some(ns.into());
            t
        };
        let all = [
            tgb("a", "web", Some(arn("x"))),
            tgb("a", "api", Some(arn("y"))),
            tgb("b", "web", Some(arn("z"))),
            tgb("a", "web", Some("nonsense".into())),
        ];
        let b = index(all.iter());
        assert_eq!(of_app(None, "a", &["web".into()], &b), [arn("x")]);
        assert_eq!(
            of_app(None, "a", &["web".into(), "api".into()], &b),
            [arn("x"), arn("y")]
        );
        assert_eq!(of_app(Some(&vec![arn("q")]), "a", &["web".into()], &b), [arn("q")]);
        assert!(of_app(None, "c", &["web".into()], &b).is_empty());
    }
}
