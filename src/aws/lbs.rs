//! The canonical hosted zone of each load balancer, which an alias record needs
//! besides the DNS name (an Ingress status gives only the name), and whether it
//! is dual stack (so the alias wants an `AAAA` record beside the `A`).

use super::call::{Api, CallError, Caller};
use aws_sdk_elasticloadbalancingv2::Client;
use std::collections::HashMap;
use tracing::instrument;

/// What an alias record needs to know of a load balancer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadBalancer {
    /// Its canonical hosted zone ID.
    pub zone: String,
    /// `IpAddressType` is `dualstack` or `dualstack-without-public-ipv4`.
    pub dual_stack: bool,
}

/// Every load balancer's DNS name (lowercase) → its zone and address type.
#[instrument(skip_all)]
pub async fn load_balancers(elb: &Client, caller: &Caller) -> Result<HashMap<String, LoadBalancer>, CallError> {
    let mut out = HashMap::new();
    let mut marker: Option<String> = None;
    loop {
        let page = caller
            .call(Api::DescribeLoadBalancers, || {
                elb.describe_load_balancers()
                    .set_marker(marker.clone())
                    .page_size(400)
                    .send()
            })
            .await?;
        for lb in page.load_balancers() {
            if let (Some(dns), Some(zone)) = (lb.dns_name(), lb.canonical_hosted_zone_id()) {
                let dual_stack = lb
                    .ip_address_type()
                    .is_some_and(|t| t.as_str().starts_with("dualstack"));
                let zone = zone.to_owned();
                out.insert(dns.to_ascii_lowercase(), LoadBalancer { zone, dual_stack });
            }
        }
        match page.next_marker() {
            Some(m) if !m.is_empty() && Some(m) != marker.as_deref() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}
