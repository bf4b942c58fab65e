//! `failover-agent route53 plan|apply`: one reconcile from the command line.
//! `plan` reads Route 53 and prints the changes; `apply` also makes them and
//! prints what failed. The apps come from a static config (`--config`) or, with
//! `--cluster`, from the `AppHealth` objects of the current kube context: the
//! same plan the cluster's leader carries out.

use crate::aws::{self, Budget, CallError, Caller};
use crate::cli::Route53Args;
use crate::cluster::kube::crd::AppHealth;
use crate::cluster::kube::spec::Checked;
use crate::publish::route53::apply_with;
use crate::publish::route53::cost;
use crate::publish::route53::read_with;
use crate::publish::route53::Desired;
use crate::publish::route53::Quota;
use crate::spec::route53::Owner;
use crate::telemetry::Metrics;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

/// Why `route53 plan|apply` failed; [`Error::is_usage`] ones exit 64.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] crate::spec::Error),
    #[error("route53: {0}")]
    Usage(String),
    #[error(transparent)]
    Aws(#[from] CallError),
    #[error("Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot write the plan: {0}")]
    Io(#[from] std::io::Error),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

impl Error {
    /// True for bad configuration or flags (exit 64).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Config(_) | Error::Usage(_))
    }

    /// A fixed label for this kind of error, for metrics and logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Usage(_) => "usage",
            Error::Aws(e) => e.metric_label(),
            Error::Kube(_) => "kube",
            Error::Io(_) => "io",
            Error::Metrics(_) => "metrics",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the apps of a run come from.
enum AppsFrom {
    /// The static config's apps.
    Config(Box<crate::spec::AgentConfig>),
    /// The `AppHealth` objects of the current kube context, under the agents'
    /// Route 53 policy and limits (`None`: the DaemonSet could not be read).
    Cluster {
        policy: Option<crate::spec::route53_policy::Route53Policy>,
        limits: Option<crate::spec::Limits>,
    },
}

/// Runs `plan` (or `apply`, if `apply_it`) for `args`, writing to `out`. Returns
/// true if every change was applied (for a plan: if it could be made). Both read the
/// health-check quota first and print it and the plan's monthly cost change; apps
/// whose new checks do not fit are held whole (refused: not applied, exit 1).
pub async fn run(args: &Route53Args, apply_it: bool, out: &mut impl Write) -> Result<bool> {
    let (owner, region, from) = scope(args, out).await?;
    let clients = aws::load(&region).await;
    let caller = Caller::new(Budget::default(), Metrics::new(&region)?.aws);
    let desired = desired(from, &clients, &caller, &region, out).await?;
    let actual = read_with(&clients.route53, Some(&clients.cloudwatch_here), &caller, &desired.apps).await?;
    let (p, verdict) = Quota::new(None)
        .plan(&clients.route53, &caller, &owner, &desired, &actual)
        .await;
    writeln!(
        out,
        "# cluster {} ({}), {} app(s) with route53",
        owner.cluster_id,
        owner.public_hostname,
        desired.apps.len()
    )?;
    write!(out, "{p}")?;
    writeln!(out, "{verdict}")?;
    write!(out, "{}", cost::of_plan(&p, &actual))?;
    if let Some(why) = verdict.message() {
        let verb = if apply_it { "Held, not applied" } else { "Refused" };
        writeln!(out, "{verb}: {why}.")?;
    }
    // An app that could not be planned (its zone unreadable) leaves the run incomplete.
    let planned_all = p.errors.is_empty();
    if !apply_it || p.is_empty() {
        return Ok(planned_all);
    }
    // The command line leads alone: its fence is always open.
    let done = apply_with(
        &clients.route53,
        Some(&clients.cloudwatch_here),
        &caller,
        &p,
        &crate::fence::Always,
    )
    .await;
    writeln!(out, "Applied {} change(s).", done.applied.len())?;
    for f in &done.failed {
        writeln!(out, "FAILED {}: {}", f.step, f.error)?;
    }
    for (app, id) in &done.check_ids {
        writeln!(out, "health check {}/{}: {id}", app.namespace, app.name)?;
    }
    Ok(done.is_complete() && planned_all)
}

/// The owner and Region of the run, and where its apps come from: the static
/// config (`--config`), or (`--cluster`) the agents' settings: flags, then the
/// DaemonSet's own environment, whose source is written to `out`. A missing owner
/// or Region is a usage error.
async fn scope(args: &Route53Args, out: &mut impl Write) -> Result<(Owner, String, AppsFrom)> {
    if let Some(path) = &args.config {
        let cfg = crate::spec::load(path)?;
        let owner = cfg.aws.owner.clone().ok_or_else(|| {
            Error::Usage(
                "set clusterId and publicHostname in the config: they name the health checks this agent owns".into(),
            )
        })?;
        let region = cfg.region.clone();
        return Ok((owner, region, AppsFrom::Config(Box::new(cfg))));
    }
    let a = &args.agent;
    let (daemonset, source) = crate::cluster::kube::agent_env::read(&a.agent_namespace, &a.agent_daemonset).await;
    let settings = a
        .resolve(&daemonset)
        .map_err(|e| Error::Usage(format!("{e} (settings: {source})")))?;
    let (Some(owner), Some(region)) = (settings.owner, settings.region) else {
        return Err(Error::Usage(format!("--cluster needs CLUSTER_ID, PUBLIC_HOSTNAME and AWS_REGION: the chart sets them on the agent DaemonSet, or give --cluster-id, --public-hostname and --region (settings: {source})")));
    };
    writeln!(
        out,
        "# settings: {source}; from the DaemonSet: {}",
        settings.from_daemonset.join(", ")
    )?;
    let from = AppsFrom::Cluster {
        policy: settings.policy,
        limits: settings.limits,
    };
    Ok((owner, region, from))
}

/// The Route 53 objects the apps ask for. From the cluster, the apps held back
/// (an invalid spec, a denied zone, ...) are written to `out`, one line each.
async fn desired(
    from: AppsFrom,
    clients: &aws::Clients,
    caller: &Caller,
    region: &str,
    out: &mut impl Write,
) -> Result<Desired> {
    let (policy, limits) = match from {
        AppsFrom::Config(cfg) => {
            return Ok(Desired {
                apps: crate::run::standalone::route53_desired(&cfg),
                hold: Default::default(),
            })
        }
        AppsFrom::Cluster { policy, limits } => (policy, limits),
    };
    let client = crate::cluster::kube::client::connect().await?;
    let (desired, held) = from_cluster(&client, &clients.elbv2, caller, region, policy.as_ref(), limits).await?;
    for (app, why) in held {
        writeln!(
            out,
            "! held          {:<20} {}: {}",
            format!("{}/{}", app.namespace, app.name),
            why.reason,
            why.message
        )?;
    }
    Ok(desired)
}

/// What the leader would want, computed once from the current kube context: every
/// `AppHealth`, the Conflict rule, the operator's per-namespace `limits` (when known;
/// they need the EndpointSlices), the operator's `policy`, and alias discovery from
/// Ingresses. Returns the desired objects and the held apps with why.
pub async fn from_cluster(
    client: &kube::Client,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    caller: &Caller,
    region: &str,
    policy: Option<&crate::spec::route53_policy::Route53Policy>,
    limits: Option<crate::spec::Limits>,
) -> Result<
    (
        crate::publish::route53::Desired,
        std::collections::BTreeMap<crate::model::AppKey, crate::cluster::kube::discovery::Held>,
    ),
    Error,
> {
    use kube::api::{Api, ListParams};
    use kube::ResourceExt;
    let all = Api::<crate::cluster::kube::crd::AppHealth>::all(client.clone())
        .list(&ListParams::default())
        .await?;
    let mut resolution = crate::cluster::serving::resolve::resolve(all.items.into_iter().map(std::sync::Arc::new));
    let mut limit_held = std::collections::BTreeMap::new();
    if let Some(limits) = limits {
        let slices = Api::<k8s_openapi::api::discovery::v1::EndpointSlice>::all(client.clone())
            .list(&ListParams::default().labels(crate::cluster::kube::slices::SERVICE_LABEL))
            .await?;
        crate::cluster::leader::limits::apply(
            &mut resolution,
            &crate::cluster::kube::slices::by_service(&slices.items),
            limits,
        );
        for (ah, why) in &resolution.rejected {
            if let crate::cluster::serving::resolve::Rejected::Limit { key, kind, message } = why {
                let akey = crate::model::AppKey {
                    namespace: ah.namespace().unwrap_or_default(),
                    name: key.clone(),
                };
                let held = crate::cluster::kube::discovery::Held {
                    reason: kind.reason(),
                    message: message.clone(),
                };
                limit_held.insert(akey, held);
            }
        }
    }
    // Each served spec validated once: for the hold rule and for its `route53` block.
    let checked: BTreeMap<&str, Arc<Checked>> = resolution
        .served
        .iter()
        .map(|(key, ah)| {
            (
                key.as_str(),
                Arc::new(crate::cluster::kube::spec::check(&ah.spec, region)),
            )
        })
        .collect();
    let hold = resolution.route53_holds_with(|k, _| checked.get(k).is_some_and(|c| c.settings.is_err()));
    let served: Vec<(crate::model::AppKey, &AppHealth, Arc<Checked>)> = resolution
        .served
        .iter()
        .filter_map(|(key, ah)| {
            let akey = crate::model::AppKey {
                namespace: ah.namespace().unwrap_or_default(),
                name: key.clone(),
            };
            let c = checked.get(key.as_str())?.clone();
            (!hold.apps.contains(&akey)).then_some((akey, ah.as_ref(), c))
        })
        .collect();
    let mut found = crate::cluster::kube::discovery::Discovered::default();
    let needs_alias = served
        .iter()
        .any(|(_, ah, _)| ah.spec.route53.as_ref().is_some_and(|r| r.alias_target.is_none()));
    if needs_alias {
        found.ingresses = crate::cluster::kube::ingress::list(client).await?;
        found.lbs = crate::aws::lbs::load_balancers(elb, caller).await?;
    }
    let (want, mut held) = crate::cluster::kube::discovery::desired(&served, hold, &found, policy);
    held.extend(limit_held);
    Ok((want, held))
}
