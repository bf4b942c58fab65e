//! What the leader discovers for apps that do not spell it out: their target
//! groups (from TargetGroupBindings), and the ALB in front of them (from Ingress
//! status) with its canonical hosted zone (from ELBv2). Refreshed every
//! [`tgb::REFRESH`]; a failed list keeps the last one.

use super::ingress;
use super::tgb::{self, Bindings};
use crate::aws::{lbs, Caller};
use crate::route53::spec::Alias;
use kube::Client;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A hostname missing from the zone map is looked up at most this often.
const ZONE_LOOKUP_EVERY: Duration = Duration::from_secs(300);

/// The latest discoveries.
#[derive(Debug, Default)]
pub struct Discovered {
    pub bindings: Bindings,
    pub ingresses: ingress::Index,
    /// Load balancer DNS name (lowercase) → canonical hosted zone ID.
    pub zones: HashMap<String, String>,
}

impl Discovered {
    /// The alias target of an app whose `route53` block has none.
    pub fn alias_of(&self, ns: &str, services: &[String]) -> Result<Alias, String> {
        let host = ingress::of_app(&self.ingresses, ns, services)?;
        match self.zones.get(&host) {
            Some(zone) => Ok(Alias::new(&host, zone)),
            None => Err(format!("the load balancer {host} (from the Ingress status) is not an ELB this account can describe yet; set route53.aliasTarget")),
        }
    }
}

/// Keeps `state` fresh until `stop`; bumps `refold` when something changed.
/// Ingresses and zones are looked up only when `aliases` (Route 53 is managed).
pub fn spawn(
    client: Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    caller: Arc<Caller>,
    aliases: bool,
    state: Arc<Mutex<Discovered>>,
    refold: Arc<watch::Sender<u64>>,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut last_lookup: Option<Instant> = None;
        loop {
            let mut changed = false;
            match tgb::list(&client).await {
                Ok(found) => changed |= replace(&mut state.lock().bindings, found),
                Err(e) => tracing::warn!(error = %e, "cannot list TargetGroupBindings; keeping the last list"),
            }
            if aliases {
                match ingress::list(&client).await {
                    Ok(found) => changed |= replace(&mut state.lock().ingresses, found),
                    Err(e) => tracing::warn!(error = %e, "cannot list Ingresses; keeping the last list"),
                }
                let missing = {
                    let s = state.lock();
                    s.ingresses.values().flatten().any(|h| !s.zones.contains_key(h))
                };
                if missing && last_lookup.is_none_or(|t| t.elapsed() >= ZONE_LOOKUP_EVERY) {
                    last_lookup = Some(Instant::now());
                    match lbs::canonical_zones(&elb, &caller).await {
                        Ok(z) => changed |= replace(&mut state.lock().zones, z),
                        Err(e) => tracing::warn!(error = %e, "cannot describe load balancers; keeping the last zones"),
                    }
                }
            }
            if changed {
                refold.send_modify(|g| *g += 1);
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(tgb::REFRESH) => {}
            }
        }
    });
}

fn replace<T: PartialEq>(slot: &mut T, new: T) -> bool {
    let changed = *slot != new;
    *slot = new;
    changed
}
