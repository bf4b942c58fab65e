//! EndpointSlices to endpoints: the readiness signal and the probe targets.
//!
//! Pure: no client, no clock. Follows the EndpointSlice contract: `ready` and
//! `serving` left unset mean true, `terminating` unset means false; an address in
//! several slices of one Service (as happens while slices are rebalanced) counts once.

use crate::probe::guard;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_LABEL: &str = "kubernetes.io/service-name";

/// One endpoint of a Service, as the EndpointSlices describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    /// The first port of its slice, used when the app's probe names none.
    pub port: Option<u16>,
    /// The node the endpoint runs on; only that node's agent probes it.
    pub node: Option<String>,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

impl Endpoint {
    /// Counts as ready for the verdict: ready and not terminating.
    pub fn is_ready(&self) -> bool {
        self.ready && !self.terminating
    }

    /// The socket to probe, given the app's probe port (if any).
    pub fn probe_addr(&self, probe_port: Option<u16>) -> Option<SocketAddr> {
        probe_port.or(self.port).map(|p| SocketAddr::new(self.ip, p))
    }
}

/// The Service a slice belongs to, from its label.
pub fn service_of(slice: &EndpointSlice) -> Option<&str> {
    slice.metadata.labels.as_ref()?.get(SERVICE_LABEL).map(String::as_str)
}

/// Slices grouped by `(namespace, service)`, so each app looks only at its own.
pub fn by_service<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> HashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>> {
    let mut m: HashMap<(&str, &str), Vec<&EndpointSlice>> = HashMap::new();
    for s in slices {
        if let (Some(ns), Some(svc)) = (s.metadata.namespace.as_deref(), service_of(s)) {
            m.entry((ns, svc)).or_default().push(s);
        }
    }
    m
}

/// The endpoints of every service in `services` of `namespace`, by IP, from an index.
pub fn endpoints_of_services(
    index: &HashMap<(&str, &str), Vec<&EndpointSlice>>,
    namespace: &str,
    services: &[String],
) -> BTreeMap<IpAddr, Endpoint> {
    let mut out = BTreeMap::new();
    for svc in services {
        if let Some(slices) = index.get(&(namespace, svc.as_str())) {
            out.extend(endpoints_of(namespace, svc, slices.iter().copied()));
        }
    }
    out
}

/// All endpoints of `service` in `namespace` from `slices` (any slices may be
/// passed; others are skipped), by IP. Addresses that must never be probed
/// (link-local, metadata) and unparsable ones are dropped.
pub fn endpoints_of<'a>(
    namespace: &str,
    service: &str,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
) -> BTreeMap<IpAddr, Endpoint> {
    let mut out = BTreeMap::new();
    for slice in slices {
        if slice.metadata.namespace.as_deref() != Some(namespace) || service_of(slice) != Some(service) {
            continue;
        }
        let port = slice
            .ports
            .as_ref()
            .and_then(|ps| ps.first())
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok());
        for ep in &slice.endpoints {
            let c = ep.conditions.as_ref();
            let ready = c.and_then(|c| c.ready).unwrap_or(true);
            let serving = c.and_then(|c| c.serving).unwrap_or(ready);
            let terminating = c.and_then(|c| c.terminating).unwrap_or(false);
            for a in &ep.addresses {
                let Ok(ip) = a.parse::<IpAddr>() else { continue };
                if guard::forbidden(ip).is_some() {
                    continue;
                }
                let e = Endpoint {
                    ip,
                    port,
                    node: ep.node_name.clone(),
                    ready,
                    serving,
                    terminating,
                };
                // During a slice rebalance one address may appear twice; a ready copy wins.
                match out.get(&ip) {
                    Some(old) if Endpoint::is_ready(old) => {}
                    _ => {
                        out.insert(ip, e);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(ns: &str, svc: &str, port: i32, eps: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": format!("{svc}-x"), "namespace": ns, "labels": { SERVICE_LABEL: svc } },
            "addressType": "IPv4",
            "ports": [{ "name": "http", "port": port, "protocol": "TCP" }],
            "endpoints": eps,
        }))
        .unwrap()
    }

    #[test]
    fn conditions_follow_the_endpointslice_contract() {
        let s = slice(
            "ns",
            "app1",
            8080,
            serde_json::json!([
                { "addresses": ["10.0.0.1"], "nodeName": "a" },
                { "addresses": ["10.0.0.2"], "nodeName": "b", "conditions": { "ready": false, "serving": true, "terminating": true } },
                { "addresses": ["10.0.0.3"], "nodeName": "b", "conditions": { "ready": false } },
                { "addresses": ["169.254.169.254", "not-an-ip"], "nodeName": "c" },
            ]),
        );
        let other = slice("ns", "other", 80, serde_json::json!([{ "addresses": ["10.0.0.9"] }]));
        let elsewhere = slice("ns2", "app1", 80, serde_json::json!([{ "addresses": ["10.0.0.8"] }]));
        let eps = endpoints_of("ns", "app1", [&s, &other, &elsewhere]);
        assert_eq!(
            eps.len(),
            3,
            "metadata address dropped, other services and namespaces skipped"
        );
        let e1 = &eps[&"10.0.0.1".parse().unwrap()];
        assert!(e1.ready && e1.serving && !e1.terminating && e1.is_ready());
        assert_eq!(e1.node.as_deref(), Some("a"));
        assert_eq!(e1.probe_addr(None), Some("10.0.0.1:8080".parse().unwrap()));
        assert_eq!(e1.probe_addr(Some(9000)), Some("10.0.0.1:9000".parse().unwrap()));
        let e2 = &eps[&"10.0.0.2".parse().unwrap()];
        assert!(e2.serving && e2.terminating && !e2.is_ready());
        let e3 = &eps[&"10.0.0.3".parse().unwrap()];
        assert!(!e3.ready && !e3.serving, "serving defaults to ready");
    }

    #[test]
    fn an_address_in_two_slices_counts_once_and_ready_wins() {
        let a = slice(
            "ns",
            "s",
            80,
            serde_json::json!([{ "addresses": ["10.0.0.1"], "conditions": { "ready": false } }]),
        );
        let b = slice(
            "ns",
            "s",
            80,
            serde_json::json!([{ "addresses": ["10.0.0.1"], "conditions": { "ready": true } }]),
        );
        for order in [[&a, &b], [&b, &a]] {
            let eps = endpoints_of("ns", "s", order);
            assert_eq!(eps.len(), 1);
            assert!(eps.values().next().unwrap().ready);
        }
    }
}
