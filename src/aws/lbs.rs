//! The canonical hosted zone of each load balancer, which an alias record needs
//! besides the DNS name (an Ingress status gives only the name).

use super::call::{Api, CallError, Caller};
use aws_sdk_elasticloadbalancingv2::Client;
use std::collections::HashMap;
use tracing::instrument;

/// Every load balancer's DNS name (lowercase) → its canonical hosted zone ID.
#[instrument(skip_all)]
pub async fn canonical_zones(elb: &Client, caller: &Caller) -> Result<HashMap<String, String>, CallError> {
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
                out.insert(dns.to_ascii_lowercase(), zone.to_owned());
            }
        }
        match page.next_marker() {
            Some(m) if !m.is_empty() && Some(m) != marker.as_deref() => marker = Some(m.to_owned()),
            _ => return Ok(out),
        }
    }
}
