//! The leader's AWS duties in the cluster: poll the target groups of the served
//! apps, keep their Route 53 objects, and read Route 53's view of the checks.
//! Results reach every replica the way probe results do: the leader folds them
//! into `AppHealth.status`, which every replica serves.
//!
//! One [`LeaderAws`] lives for one term of leadership; its tasks stop with it.

use super::writer::{Route53Part, Route53Sync};
use crate::aws;
use crate::cluster::kube::crd::AppHealth;
use crate::cluster::kube::crd::AppHealthStatus;
use crate::cluster::kube::discovery;
use crate::cluster::kube::discovery::Discovered;
use crate::cluster::kube::spec::Checked;
use crate::cluster::kube::tgb;
use crate::fence::Fence;
use crate::model::AppKey;
use crate::model::TargetCounts;
use crate::observe::targets;
use crate::publish::aws::AwsTasks;
use crate::publish::route53;
use crate::publish::route53::Desired;
use crate::publish::route53::Report;
use crate::spec::AwsSettings;
use crate::telemetry::Metrics;
use kube::{Client, ResourceExt};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Route 53 results of this term.
#[derive(Debug, Default)]
pub struct Route53State {
    /// The last reconcile's report; `None` until the first one of this term.
    pub last: Option<Report>,
    /// Route 53's own view, by app.
    pub healthy: BTreeMap<AppKey, bool>,
    /// Every record set's checks, as CloudWatch last gave them.
    pub cloudwatch: BTreeMap<String, Option<bool>>,
    /// Route 53 blocks that failed validation, by app.
    pub invalid: BTreeMap<AppKey, discovery::Held>,
}

/// The Region of a term's AWS calls: the configured one (`AWS_REGION` or the settings
/// file's `region`), else the SDK's chain (the profile, then the instance metadata).
/// Looked up only when a replica leads, at the start of each term: a follower makes no
/// AWS call, so it never runs the SDK's region chain (an HTTP client and its
/// orchestrator: about 1 MiB of code pages that stayed resident on every node).
async fn resolve_region(region: String) -> String {
    if region != UNKNOWN_REGION {
        return region;
    }
    // Bounded: a node without instance metadata must not hold up the term.
    match tokio::time::timeout(std::time::Duration::from_secs(2), aws::region_from_chain()).await {
        Ok(Some(r)) => {
            tracing::info!(region = %r, "AWS Region from the SDK's chain (AWS_REGION is not set)");
            r
        }
        _ => {
            tracing::warn!("AWS_REGION is not set and the instance metadata gave no Region: AWS calls will fail; set aws.region in the chart");
            region
        }
    }
}

/// The leader's AWS state for one term.
pub struct LeaderAws {
    pub targets: Arc<targets::TargetStore>,
    pub route53: Arc<Mutex<Route53State>>,
    discovered: Arc<Mutex<Discovered>>,
    arns: watch::Sender<BTreeSet<String>>,
    desired: Mutex<Option<watch::Sender<Desired>>>,
    tasks: AwsTasks,
    settings: AwsSettings,
    region: String,
    refold: Arc<watch::Sender<u64>>,
    fence: Arc<dyn Fence>,
    /// Each served app's verdict as last folded: what apps with a
    /// `CLOUDWATCH_METRIC` check publish to CloudWatch.
    verdicts: Arc<Mutex<BTreeMap<AppKey, bool>>>,
}

impl LeaderAws {
    /// Starts the target poller and the TargetGroupBinding lister. The Route 53
    /// reconciler starts on the first [`LeaderAws::update`], so it never plans
    /// from an app list that is not loaded yet. `refold` is bumped on new results.
    /// Every Route 53 write first asks `fence`; `stop` ends every task at once.
    pub async fn start(
        client: Client,
        settings: AwsSettings,
        region: String,
        metrics: &Metrics,
        refold: Arc<watch::Sender<u64>>,
        fence: Arc<dyn Fence>,
        stop: CancellationToken,
    ) -> LeaderAws {
        let region = resolve_region(region).await;
        let tasks = AwsTasks::new(&region, settings.clone(), metrics, stop.clone()).await;
        let store = Arc::new(targets::TargetStore::default());
        let (arns, rx) = watch::channel(BTreeSet::new());
        let r = refold.clone();
        // The ARNs' sender lives in `LeaderAws`, which `update` feeds.
        tasks.poll_targets(rx, store.clone(), move || r.send_modify(|g| *g += 1));
        let discovered = Arc::new(Mutex::new(Discovered::default()));
        let aliases = settings.owner.is_some();
        discovery::spawn(
            client,
            tasks.clients.elbv2.clone(),
            tasks.caller.clone(),
            aliases,
            discovered.clone(),
            refold.clone(),
            stop.clone(),
        );
        LeaderAws {
            targets: store,
            route53: Arc::default(),
            discovered,
            arns,
            desired: Mutex::new(None),
            tasks,
            settings,
            region,
            refold,
            fence,
            verdicts: Arc::default(),
        }
    }

    /// Notes `key`'s folded verdict, for the CloudWatch publisher.
    pub fn note_verdict(&self, key: &AppKey, healthy: bool) {
        self.verdicts.lock().insert(key.clone(), healthy);
    }

    /// The target groups of an app.
    pub fn arns_of(&self, ah: &AppHealth, services: &[String]) -> Vec<String> {
        tgb::of_app(
            ah.spec.target_group_arns.as_ref(),
            &ah.namespace().unwrap_or_default(),
            services,
            &self.discovered.lock().bindings,
        )
    }

    /// The ALB view of an app with target groups `arns` (`None` without any).
    pub fn view(&self, arns: &[String]) -> Option<TargetCounts> {
        if arns.is_empty() {
            return None;
        }
        self.targets.view(arns)
    }

    /// Sets what to poll and what Route 53 should hold, from every served app
    /// (key, object, target groups, validated spec) and the served apps whose spec is invalid
    /// (`hold`: their Route 53 objects are left alone). Only call it with synced caches.
    pub fn update(&self, served: &[(AppKey, &AppHealth, Vec<String>, Arc<Checked>)], hold: route53::Hold) {
        let arns: BTreeSet<String> = served.iter().flat_map(|(_, _, a, _)| a.iter().cloned()).collect();
        let keys: BTreeSet<&AppKey> = served.iter().map(|(k, ..)| k).collect();
        self.verdicts.lock().retain(|k, _| keys.contains(k));
        self.arns.send_if_modified(|cur| {
            let changed = *cur != arns;
            *cur = arns;
            changed
        });
        let Some(owner) = self.settings.owner.clone() else {
            return;
        };
        let objects: Vec<_> = served.iter().map(|(k, ah, _, c)| (k.clone(), *ah, c.clone())).collect();
        let policy = self.settings.route53_policy.as_ref();
        let (want, invalid) = discovery::desired(&objects, hold, &self.discovered.lock(), policy);
        {
            // A changed verdict on a record's spec changes that app's status: fold again.
            let mut r = self.route53.lock();
            if r.invalid != invalid {
                r.invalid = invalid;
                self.refold.send_modify(|g| *g += 1);
            }
        }
        let mut slot = self.desired.lock();
        match &*slot {
            Some(tx) => {
                tx.send_if_modified(|cur| {
                    let changed = *cur != want;
                    *cur = want;
                    changed
                });
            }
            None => *slot = Some(self.start_route53(owner, want)),
        }
    }

    /// Starts this term's Route 53 reconciler (and the watch of Route 53's view)
    /// from `want`; returns the sender that feeds it what the next passes want.
    fn start_route53(&self, owner: route53::Owner, want: Desired) -> watch::Sender<Desired> {
        let (tx, rx) = watch::channel(want);
        let v = self.verdicts.clone();
        let verdicts: crate::publish::cloudwatch::Verdicts = Arc::new(move |k: &AppKey| v.lock().get(k).copied());
        self.tasks.publish_verdicts(&owner, rx.clone(), verdicts);
        let (state, refold) = (self.route53.clone(), self.refold.clone());
        let on_report = move |r: Report| {
            state.lock().last = Some(r);
            refold.send_modify(|g| *g += 1);
        };
        // Route 53's view reaches the metrics through AppHealth.status, as on every replica.
        let (state, refold) = (self.route53.clone(), self.refold.clone());
        let on_status = move |key: &AppKey, healthy: Option<bool>| {
            let Some(h) = healthy else { return };
            if state.lock().healthy.insert(key.clone(), h) != Some(h) {
                refold.send_modify(|g| *g += 1);
            }
        };
        let (state, refold) = (self.route53.clone(), self.refold.clone());
        let on_statuses = move |statuses: BTreeMap<String, Option<bool>>| {
            let mut s = state.lock();
            if s.cloudwatch != statuses {
                s.cloudwatch = statuses;
                refold.send_modify(|g| *g += 1);
            }
        };
        self.tasks
            .keep_route53(owner, rx, self.fence.clone(), on_report, on_status, on_statuses);
        tx
    }

    /// The Route 53 part of `key`'s status (`None` without a `route53` block):
    /// whether its objects are in line, and its check's ID and Route 53's view of
    /// it, each kept from `old` until this term knows it.
    pub fn route53_part(&self, key: &AppKey, ah: &AppHealth, old: Option<&AppHealthStatus>) -> Option<Route53Part> {
        ah.spec.route53.as_ref()?;
        let r = self.route53.lock();
        let failed = |reason, problems| Route53Sync::Failed { reason, problems };
        let sync = if self.settings.owner.is_none() {
            failed(
                "NotConfigured",
                vec![
                    "Route 53 is not managed in this cluster: set CLUSTER_ID and PUBLIC_HOSTNAME on the DaemonSet"
                        .to_string(),
                ],
            )
        } else if let Some(h) = r.invalid.get(key) {
            failed(h.reason, vec![h.message.clone()])
        } else {
            match &r.last {
                None => Route53Sync::Pending("waiting for the first reconcile"),
                Some(rep) => match rep.problems.get(key) {
                    Some(p) => failed("Error", p.clone()),
                    None if rep.check_ids.contains_key(key) => Route53Sync::Synced,
                    None => Route53Sync::Pending("waiting for the next reconcile"),
                },
            }
        };
        let health_check_id = r
            .last
            .as_ref()
            .and_then(|rep| rep.check_ids.get(key).cloned())
            .or_else(|| old.and_then(|o| o.health_check_id.clone()));
        let healthy = r.healthy.get(key).copied().or(old.and_then(|o| o.route53_healthy));
        let old_dns = old.and_then(|o| o.dns.as_ref());
        let dns = match r.last.as_ref().and_then(|rep| rep.sets.get(key)) {
            Some(s) => {
                let own = health_check_id.as_deref().zip(healthy);
                let statuses = route53::view::statuses_with(&r.cloudwatch, own);
                route53::view::dns_view(&s.set, &s.here, &statuses, old_dns, || {
                    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
                })
            }
            None => old_dns.cloned(),
        };
        Some(Route53Part {
            sync,
            health_check_id,
            healthy,
            dns,
        })
    }

    /// This agent's AWS Region, resolved (the one Route 53 blocks are validated for).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// True when Route 53 is managed (a cluster ID and public hostname are set).
    pub fn manages_route53(&self) -> bool {
        self.settings.owner.is_some()
    }

    /// The last reconcile's report, if any this term.
    pub fn last_report(&self) -> Option<Report> {
        self.route53.lock().last.clone()
    }
}

/// The Region shown until one is known.
pub const UNKNOWN_REGION: &str = "unknown";
