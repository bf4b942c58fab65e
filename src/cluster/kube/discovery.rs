//! What the leader discovers for apps that do not spell it out: their target
//! groups (from TargetGroupBindings), and the ALB in front of them (from Ingress
//! status) with its canonical hosted zone (from ELBv2). Refreshed every
//! [`tgb::REFRESH`]; a failed list keeps the last one.

use super::crd::AppHealth;
use super::ingress;
use super::spec::{Checked, Invalid};
use super::tgb::{self, Bindings};
use crate::aws::lbs::{self, LoadBalancer};
use crate::aws::Caller;
use crate::model::AppKey;
use crate::publish::route53::Desired;
use crate::publish::route53::DesiredApp;
use crate::publish::route53::Hold;
use crate::spec::route53::Alias;
use crate::spec::route53::RecordType;
use kube::Client;
use kube::ResourceExt;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
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
    /// Load balancer DNS name (lowercase) → its canonical hosted zone and address type.
    pub lbs: HashMap<String, LoadBalancer>,
}

impl Discovered {
    /// The alias target of an app whose `route53` block has none, and the record
    /// types its load balancer's `IpAddressType` calls for.
    pub fn alias_of(&self, ns: &str, services: &[String]) -> Result<(Alias, Vec<RecordType>), String> {
        let host = ingress::of_app(&self.ingresses, ns, services)?;
        match self.lbs.get(&host) {
            Some(lb) => {
                let types = if lb.dual_stack { "dualstack" } else { "ipv4" };
                Ok((Alias::new(&host, &lb.zone), RecordType::for_ip_address_type(types)))
            }
            None => Err(format!("the load balancer {host} (from the Ingress status) is not an ELB this account can describe yet; set route53.aliasTarget")),
        }
    }
}

/// Why a served app's Route 53 objects are held, for its `Route53Synced` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The condition's reason: `InvalidSpec`, `NotAllowed` or `RecordClaimed`; or
    /// (`route53 plan --cluster` only) the limit that holds the whole app.
    pub reason: &'static str,
    pub message: String,
}

impl From<&Invalid> for Held {
    /// An app held for its spec ([`Invalid`]'s rule).
    fn from(invalid: &Invalid) -> Held {
        Held {
            reason: Invalid::REASON,
            message: invalid.message(),
        }
    }
}

/// The Route 53 objects the served apps (key, object, its validated spec) want,
/// and why the others cannot have theirs yet. Apps in `hold`, apps with an
/// invalid `route53` block or an ALB not discovered yet (`InvalidSpec`, the
/// [`Invalid`] rule), apps whose record the operator's
/// `policy` does not allow (`NotAllowed`; `None` = no policy to apply), and apps
/// that want a record an older app already claims (`RecordClaimed`) are held:
/// left exactly as they are. Claims go by age, as the Conflict rule does.
pub fn desired(
    served: &[(AppKey, &AppHealth, Arc<Checked>)],
    hold: Hold,
    found: &Discovered,
    policy: Option<&crate::spec::route53_policy::Route53Policy>,
) -> (Desired, BTreeMap<AppKey, Held>) {
    let mut invalid = BTreeMap::new();
    let mut want = Desired { apps: Vec::new(), hold };
    let mut by_age: Vec<&(AppKey, &AppHealth, Arc<Checked>)> = served.iter().collect();
    by_age.sort_by_key(|(_, ah, _)| {
        let age = crate::cluster::serving::resolve::age_order(*ah);
        (age.0.is_none(), age)
    });
    let mut claimed: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for (key, ah, checked) in by_age {
        let (Some(route53), None) = (&checked.route53, &ah.metadata.deletion_timestamp) else {
            continue;
        };
        let settings = route53.clone().and_then(|mut s| {
            if s.alias.is_none() {
                let (alias, types) = found.alias_of(&key.namespace, &ah.spec.services).map_err(|e| Invalid {
                    problems: vec![format!("spec.route53.aliasTarget: {e}")],
                })?;
                s.alias = Some(alias);
                s.record_types.get_or_insert(types);
            }
            Ok(s)
        });
        let held = match settings {
            Err(invalid) => Err(Held::from(&invalid)),
            Ok(s) => match policy.map(|p| p.check(&key.namespace, &s.zone_id, &s.record_name)) {
                Some(Err(missed)) => Err(Held {
                    reason: "NotAllowed",
                    message: missed,
                }),
                _ => {
                    let record = (s.zone_id.clone(), s.record_name.clone(), s.set_identifier.clone());
                    let me = format!("{}/{}", key.namespace, ah.name_any());
                    match claimed.get(&record) {
                        Some(owner) => Err(Held {
                            reason: "RecordClaimed",
                            message: format!(
                                "record {} [{}] in {} is claimed by the older AppHealth {owner}; this app's Route 53 objects are held until one of them changes",
                                s.record_name, s.set_identifier, s.zone_id
                            ),
                        }),
                        None => {
                            claimed.insert(record, me);
                            Ok(s)
                        }
                    }
                }
            },
        };
        match held {
            Ok(settings) => want.apps.push(DesiredApp {
                key: key.clone(),
                incarnation: ah.uid().unwrap_or_default(),
                settings,
            }),
            Err(h) => {
                invalid.insert(key.clone(), h);
                want.hold.apps.insert(key.clone());
            }
        }
    }
    (want, invalid)
}

/// Keeps `state` fresh until `stop` (which also drops a round in flight); bumps
/// `refold` when something changed.
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
            // A round in flight is dropped at `stop` (the end of the leader's term).
            let round = async {
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
                        s.ingresses.values().flatten().any(|h| !s.lbs.contains_key(h))
                    };
                    if missing && last_lookup.is_none_or(|t| t.elapsed() >= ZONE_LOOKUP_EVERY) {
                        last_lookup = Some(Instant::now());
                        match lbs::load_balancers(&elb, &caller).await {
                            Ok(z) => changed |= replace(&mut state.lock().lbs, z),
                            Err(e) => {
                                tracing::warn!(error = %e, "cannot describe load balancers; keeping the last zones")
                            }
                        }
                    }
                }
                changed
            };
            let changed = tokio::select! {
                _ = stop.cancelled() => return,
                changed = round => changed,
            };
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
