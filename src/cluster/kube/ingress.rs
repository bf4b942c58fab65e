//! The ALB behind an app, discovered from the status of the Ingresses that route
//! to its Services, for `route53` blocks without an `aliasTarget`. Listed by the
//! leader only, with the TargetGroupBindings.

use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use std::collections::{BTreeMap, BTreeSet};

/// Load balancer hostnames by (namespace, Service name).
pub type Index = BTreeMap<(String, String), BTreeSet<String>>;

/// Indexes each Ingress's load balancer hostnames by the Services it routes to.
pub fn index<'a>(ingresses: impl IntoIterator<Item = &'a Ingress>) -> Index {
    let mut out = Index::new();
    for ing in ingresses {
        let Some(ns) = ing.namespace() else { continue };
        let hosts: BTreeSet<String> = ing
            .status
            .as_ref()
            .and_then(|s| s.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|v| {
                v.iter()
                    .filter_map(|i| i.hostname.clone())
                    .map(|h| h.to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        if hosts.is_empty() {
            continue;
        }
        let Some(spec) = &ing.spec else { continue };
        let mut services = BTreeSet::new();
        if let Some(s) = spec.default_backend.as_ref().and_then(|b| b.service.as_ref()) {
            services.insert(s.name.clone());
        }
        for rule in spec.rules.iter().flatten() {
            for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
                if let Some(s) = &path.backend.service {
                    services.insert(s.name.clone());
                }
            }
        }
        for s in services {
            out.entry((ns.clone(), s)).or_default().extend(hosts.iter().cloned());
        }
    }
    out
}

/// Lists every Ingress.
pub async fn list(client: &Client) -> Result<Index, kube::Error> {
    let l = Api::<Ingress>::all(client.clone()).list(&ListParams::default()).await?;
    Ok(index(l.items.iter()))
}

/// The one load balancer hostname in front of `services`, or why there is none.
pub fn of_app(idx: &Index, ns: &str, services: &[String]) -> Result<String, String> {
    let hosts: BTreeSet<&String> = services
        .iter()
        .filter_map(|s| idx.get(&(ns.to_owned(), s.clone())))
        .flatten()
        .collect();
    match hosts.len() {
        1 => Ok(hosts.into_iter().next().cloned().unwrap_or_default()),
        0 => Err(format!("no aliasTarget given and no Ingress with a load balancer address routes to {services:?}; set route53.aliasTarget")),
        _ => Err(format!("no aliasTarget given and several load balancers route to {services:?} ({}); set route53.aliasTarget", hosts.into_iter().cloned().collect::<Vec<_>>().join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ing(ns: &str, services: &[&str], host: Option<&str>) -> Ingress {
        let paths: Vec<serde_json::Value> = services
            .iter()
            .map(|s| serde_json::json!({ "path": "/", "pathType": "Prefix", "backend": { "service": { "name": s, "port": { "number": 80 } } } }))
            .collect();
        let mut v = serde_json::json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": { "name": "shared", "namespace": ns },
            "spec": { "rules": [{ "http": { "paths": paths } }] },
        });
        if let Some(h) = host {
            v["status"] = serde_json::json!({ "loadBalancer": { "ingress": [{ "hostname": h }] } });
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn one_alb_per_app_or_a_clear_reason() {
        let all = [
            ing("a", &["web", "api"], Some("k8s-shared-1.eu-west-1.elb.amazonaws.com")),
            ing("a", &["admin"], Some("k8s-other-2.eu-west-1.elb.amazonaws.com")),
            ing("a", &["new"], None),
        ];
        let idx = index(all.iter());
        assert_eq!(
            of_app(&idx, "a", &["web".into(), "api".into()]).unwrap(),
            "k8s-shared-1.eu-west-1.elb.amazonaws.com"
        );
        assert!(of_app(&idx, "a", &["new".into()])
            .unwrap_err()
            .contains("no Ingress with a load balancer address"));
        assert!(of_app(&idx, "a", &["web".into(), "admin".into()])
            .unwrap_err()
            .contains("several load balancers"));
        assert!(
            of_app(&idx, "b", &["web".into()]).is_err(),
            "other namespaces do not count"
        );
    }
}
