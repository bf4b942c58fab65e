//! EndpointSlices to endpoints: the readiness signal and the probe targets.
//!
//! Pure: no client, no clock. Follows the EndpointSlice contract: `ready` and
//! `serving` left unset mean true, `terminating` unset means false; an address in
//! several slices of one Service (as happens while slices are rebalanced) counts once.
//!
//! **Probe targets.** Anyone who may write an EndpointSlice (a selector-less Service
//! is enough) can name any address in it. So an endpoint is probed only when
//! [`refusal`] finds nothing against it: it is in a slice of the EndpointSlice
//! controller (label [`MANAGED_BY_LABEL`] = [`CONTROLLER`]), its `targetRef` is a
//! Pod in the app's own namespace, and its address is not loopback (unless the
//! operator's `probeTargets.allowLoopback`). Every other endpoint still counts for
//! readiness and is judged on readiness alone. Link-local and metadata addresses
//! ([`guard::forbidden`]) are dropped altogether, whatever the settings.

use crate::spec::guard;
use crate::spec::ProbeTargets;
use k8s_openapi::api::discovery::v1::{self as discovery, EndpointSlice};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_LABEL: &str = "kubernetes.io/service-name";
/// The label naming the controller that manages an EndpointSlice.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// [`MANAGED_BY_LABEL`]'s value on the slices Kubernetes' EndpointSlice controller
/// writes from a Service's selector: the only slices whose endpoints are probed.
pub const CONTROLLER: &str = "endpointslice-controller.k8s.io";

/// Why an endpoint is never probed in-cluster. A closed set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Refused {
    /// Its slice was not written by the EndpointSlice controller (a hand-made slice
    /// of a selector-less Service, or another controller's).
    NotControllerManaged,
    /// Its `targetRef` is missing or not a Pod.
    NotAPod,
    /// Its `targetRef` is a Pod in another namespace than the app's.
    OtherNamespace,
    /// A loopback address (127.0.0.0/8, ::1), and `probeTargets.allowLoopback` is off.
    Loopback,
}

impl Refused {
    pub const ALL: [Refused; 4] = [
        Refused::NotControllerManaged,
        Refused::NotAPod,
        Refused::OtherNamespace,
        Refused::Loopback,
    ];

    /// What is wrong with the endpoint, in words (for status and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::NotControllerManaged => "not in an EndpointSlice of the EndpointSlice controller",
            Refused::NotAPod => "not a Pod (targetRef)",
            Refused::OtherNamespace => "a Pod of another namespace (targetRef)",
            Refused::Loopback => "a loopback address",
        }
    }

    /// A stable index into [`Refused::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why the endpoint `ep` of `slice`, at `ip`, must not be probed for an app in
/// `namespace`, or `None` if it may be. The first rule it breaks, in the order of
/// [`Refused::ALL`].
pub fn refusal(
    slice: &EndpointSlice,
    ep: &discovery::Endpoint,
    ip: IpAddr,
    namespace: &str,
    rules: ProbeTargets,
) -> Option<Refused> {
    let managed = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MANAGED_BY_LABEL))
        .is_some_and(|v| v == CONTROLLER);
    if !managed {
        return Some(Refused::NotControllerManaged);
    }
    let Some(r) = ep.target_ref.as_ref().filter(|r| r.kind.as_deref() == Some("Pod")) else {
        return Some(Refused::NotAPod);
    };
    let pod_ns = r.namespace.as_deref().or(slice.metadata.namespace.as_deref());
    if pod_ns != Some(namespace) {
        return Some(Refused::OtherNamespace);
    }
    if !rules.allow_loopback && is_loopback(ip) {
        return Some(Refused::Loopback);
    }
    None
}

/// 127.0.0.0/8, ::1, and 127.0.0.0/8 mapped into IPv6.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

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
    /// Why it is never probed; `None` if its node's agent probes it.
    pub refused: Option<Refused>,
}

impl Endpoint {
    /// Counts as ready for the verdict: ready and not terminating.
    pub fn is_ready(&self) -> bool {
        self.ready && !self.terminating
    }

    /// Which of two copies of one address counts: a ready one, then a probed one.
    fn rank(&self) -> (bool, bool) {
        (self.is_ready(), self.refused.is_none())
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

/// The endpoints of every service in `services` of `namespace`, by IP, with
/// `slices_of(service)` giving each service's slices (from an index).
pub fn endpoints_of_services<'a, 's, I>(
    slices_of: impl Fn(&'s str) -> I,
    namespace: &str,
    services: &'s [String],
    rules: ProbeTargets,
) -> BTreeMap<IpAddr, Endpoint>
where
    I: IntoIterator<Item = &'a EndpointSlice>,
{
    let mut out = BTreeMap::new();
    for svc in services {
        out.extend(endpoints_of(namespace, svc, slices_of(svc), rules));
    }
    out
}

/// All endpoints of `service` in `namespace` from `slices` (any slices may be
/// passed; others are skipped), by IP, each with its [`refusal`] under `rules`.
/// Addresses that must never be probed whatever the rules (link-local, metadata,
/// see [`guard::forbidden`]) and unparsable ones are dropped.
pub fn endpoints_of<'a>(
    namespace: &str,
    service: &str,
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    rules: ProbeTargets,
) -> BTreeMap<IpAddr, Endpoint> {
    let mut out: BTreeMap<IpAddr, Endpoint> = BTreeMap::new();
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
                    refused: refusal(slice, ep, ip, namespace, rules),
                };
                // During a slice rebalance one address may appear twice; a ready
                // copy wins, then a probed one, then the first.
                match out.get(&ip) {
                    Some(old) if old.rank() >= e.rank() => {}
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
#[path = "slices_tests.rs"]
mod tests;
