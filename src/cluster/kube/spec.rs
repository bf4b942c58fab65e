//! An `AppHealth` spec, validated with the same rules and defaults as the static
//! config, into the settings the prober and the policy use; and the one rule for
//! a spec that is not valid ([`Invalid`]).

use super::crd::{AppHealth, AppHealthSpec, ProbeScheme};
use crate::model::{Health, OverrideMode};
use crate::spec::policy::Policy;
use crate::spec::probe_and_policy;
use crate::spec::ProbeSpec;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The validated settings of one `AppHealth`.
#[derive(Clone, Debug, PartialEq)]
pub struct AppSettings {
    pub services: Vec<String>,
    pub scheme: ProbeScheme,
    /// HTTP path, default `/`.
    pub path: String,
    /// Probe port; `None` means the EndpointSlice's first port.
    pub port: Option<u16>,
    pub probe: Arc<ProbeSpec>,
    pub policy: Policy,
    pub startup_grace: Duration,
    pub override_mode: OverrideMode,
}

/// The problems of a spec (or of its `route53` block), each with its `spec.`
/// field path, and the one rule for them: **an invalid spec holds the app**, it
/// never fails it over. The app keeps its last verdict (healthy when it has none,
/// [`Invalid::kept_verdict`]), its endpoints are no longer probed, and its
/// Route 53 objects are left exactly as they are (`Route53Synced` False,
/// [`Invalid::REASON`]), until the spec is fixed or the object deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub problems: Vec<String>,
}

impl Invalid {
    /// The reason of the condition of an app held for its spec.
    pub const REASON: &'static str = "InvalidSpec";

    /// Every problem, in one line.
    pub fn message(&self) -> String {
        self.problems.join("; ")
    }

    /// The verdict an app with this spec serves: the one it had, else healthy (a
    /// typo must not fail an app over).
    pub fn kept_verdict(&self, last: Option<Health>) -> Health {
        last.unwrap_or(Health::Healthy)
    }

    /// The status reason of an app with this spec.
    pub fn status_reason(&self) -> String {
        format!("invalid spec, verdict kept: {}", self.message())
    }
}

/// Validates `spec`; on failure, every problem with its `spec.` field path.
pub fn settings(spec: &AppHealthSpec) -> Result<AppSettings, Invalid> {
    let mut errs = Vec::new();
    let p = &spec.probe;
    let (probe, policy, startup_grace) = probe_and_policy("spec", &p.keys, &spec.policy.keys, &mut errs);
    if spec.policy.keys.override_mode.is_some() {
        errs.push("spec.policy.override: is the static config's key; set `spec.override` instead".into());
    }
    if p.keys.grpc_service.is_some() && p.scheme != ProbeScheme::Grpc {
        errs.push("spec.probe.grpcService: is for gRPC probes only; remove it or set spec.probe.scheme: GRPC".into());
    }
    if let Some(tls) = &p.keys.tls {
        if p.scheme != ProbeScheme::Https {
            errs.push("spec.probe.tls: is for HTTPS probes only; remove it or set spec.probe.scheme: HTTPS".into());
        }
        if let Some(f) = tls.ca_file.as_deref().filter(|f| !crate::tls::plain_file_name(f)) {
            errs.push(format!("spec.probe.tls.caFile: `{}` must be a plain file name in the agent's probe CA directory (the chart's probeCA ConfigMap), without / or ..", f.escape_debug()));
        }
    }
    if spec.services.is_empty() {
        errs.push("spec.services: is empty; name the Services whose endpoints make up the app".into());
    }
    if let Some(arns) = &spec.target_group_arns {
        for (i, a) in arns.iter().enumerate() {
            if !crate::spec::valid_target_group_arn(a) {
                errs.push(format!("spec.targetGroupArns[{i}]: `{}` is not a target group ARN; use arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>", a.escape_debug()));
            }
        }
    }
    if !errs.is_empty() {
        return Err(Invalid { problems: errs });
    }
    Ok(AppSettings {
        services: spec.services.clone(),
        scheme: p.scheme,
        path: p.keys.path.clone().unwrap_or_else(|| "/".into()),
        port: p.port,
        probe: Arc::new(probe),
        policy,
        startup_grace,
        override_mode: spec.override_mode,
    })
}

/// An `AppHealth` spec validated whole, once: its probe and policy settings and
/// its `route53` block (`None` when it has none; its alias target, when absent, is
/// discovered later). The two are apart because an invalid `route53` block holds
/// only the app's Route 53 objects, while an invalid rest holds the app.
#[derive(Debug, PartialEq)]
pub struct Checked {
    pub settings: Result<AppSettings, Invalid>,
    pub route53: Option<Result<crate::spec::route53::Settings, Invalid>>,
}

/// Validates `spec` whole, for an agent in `region` (the `route53` block's defaults).
pub fn check(spec: &AppHealthSpec, region: &str) -> Checked {
    let route53 = spec.route53.as_ref().map(|block| {
        let mut problems = Vec::new();
        crate::spec::route53::validate("spec.route53", block, region, &mut problems).ok_or(Invalid { problems })
    });
    Checked {
        settings: settings(spec),
        route53,
    }
}

/// The leader's validated specs, by object UID, kept through a term: an object is
/// validated ([`check`]) again only when its `metadata.generation` (bumped by the
/// API server on every change to its spec) differs from the one checked, and
/// always when it has none. Not a cache of anything else: the result is a pure
/// function of the spec and the region.
#[derive(Debug, Default)]
pub struct Specs {
    by_uid: HashMap<String, Kept>,
    pass: u64,
}

#[derive(Debug)]
struct Kept {
    generation: i64,
    checked: Arc<Checked>,
    seen: u64,
}

impl Specs {
    /// The validated spec of `ah`, for an agent in `region`.
    pub fn of(&mut self, ah: &AppHealth, region: &str) -> Arc<Checked> {
        let (Some(uid), Some(generation)) = (ah.metadata.uid.as_deref(), ah.metadata.generation) else {
            return Arc::new(check(&ah.spec, region));
        };
        let pass = self.pass;
        if let Some(k) = self.by_uid.get_mut(uid).filter(|k| k.generation == generation) {
            k.seen = pass;
            return k.checked.clone();
        }
        let checked = Arc::new(check(&ah.spec, region));
        let kept = Kept {
            generation,
            checked: checked.clone(),
            seen: pass,
        };
        self.by_uid.insert(uid.to_owned(), kept);
        checked
    }

    /// Ends a full pass: forgets the objects it did not ask about.
    pub fn sweep(&mut self) {
        let pass = self.pass;
        self.by_uid.retain(|_, k| k.seen == pass);
        self.pass += 1;
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
