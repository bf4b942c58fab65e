//! One app's step in a pass of the leader's fold: gather its inputs from the
//! indexes, skip it if they are those it was last found in line with, else
//! compute its status, write what differs and set its share of the node plan.

use super::fold::fold;
use super::grace::Spells;
use super::index::Indexes;
use super::memo::{self, Inputs, Memo};
use super::pass::Io;
use super::probe_plan::Plan;
use super::writer::{status, write, Published};
use crate::cluster::kube::crd::AppHealth;
use crate::cluster::kube::crd::AppHealthStatus;
use crate::cluster::kube::spec::Checked;
use crate::cluster::kube::spec::Specs;
use crate::cluster::node::report::app_ref;
use crate::model::AppKey;
use crate::verdict::policy::with_targets;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::time::Instant;

/// What the leader keeps of each app between the passes of one term.
#[derive(Debug, Default)]
pub struct Kept {
    pub memo: Memo,
    pub plan: Plan,
    /// Each served object's spec, validated once per generation.
    pub specs: Specs,
    /// Apps whose last write failed (or was fenced): folded again on every pass
    /// until their status is written.
    pub retry: HashSet<String>,
    /// The `unknown` spells of the apps that have some ([`super::grace`]).
    pub grace: HashMap<String, Spells>,
}

impl Kept {
    /// The apps with an `unknown` endpoint whose grace ended since they were last
    /// folded: a pass folds them again.
    pub fn grace_due(&self, now: Instant) -> impl Iterator<Item = &String> {
        self.grace.iter().filter(move |(_, s)| s.due(now)).map(|(k, _)| k)
    }

    /// When the earliest start-up grace still running ends.
    pub fn next_grace_end(&self, now: Instant) -> Option<Instant> {
        self.grace.values().filter_map(|s| s.next_end(now)).min()
    }
}

/// What one app's step found.
pub struct Step {
    /// Its spec is valid (an invalid one is held, not served new verdicts).
    pub valid: bool,
    /// Its inputs had changed: it was folded again.
    pub recomputed: bool,
    pub key: AppKey,
    /// Its target groups.
    pub arns: Vec<String>,
    /// Its spec, validated.
    pub checked: Arc<Checked>,
}

impl Kept {
    /// Records how `key`'s write went: in line with `digest` (and no longer to be
    /// retried), or to be retried by a pass soon.
    fn record(&mut self, key: &str, digest: u64, valid: bool, in_line: bool) {
        self.memo.record(key, digest, valid, in_line);
        if in_line {
            self.retry.remove(key);
        } else {
            self.retry.insert(key.to_owned());
        }
    }
}

/// Folds the served app `ah` (key `key`) if its inputs changed since it was last
/// found in line, and writes its status if that differs.
pub async fn step(
    kept: &mut Kept,
    index: &Indexes,
    io: &Io<'_>,
    key: &str,
    ah: &AppHealth,
    kube_stale: bool,
    now: &str,
) -> Step {
    let ns = ah.metadata.namespace.as_deref().unwrap_or_default();
    let checked = kept.specs.of(ah, io.aws.region());
    let services = &ah.spec.services;
    let slices: Vec<&EndpointSlice> = services
        .iter()
        .flat_map(|s| index.slices_of(ns, s))
        .map(AsRef::as_ref)
        .collect();
    let arns = io.aws.arns_of(ah, services);
    let alb = io.aws.view(&arns);
    let aref = app_ref(ns, key);
    let probes = index.probes_of(&aref);
    let at = Instant::now();
    let mut spells = kept.grace.remove(key).unwrap_or_default();
    spells.observe(probes.as_ref(), at);
    let inputs = Inputs {
        slices: &slices,
        probes: probes.as_ref(),
        alb,
        aws_version: io.aws_version,
        kube_stale,
        grace_expired: spells.expired(at),
    };
    let digest = memo::digest(ah, &inputs);
    let akey = AppKey {
        namespace: ns.to_owned(),
        name: key.to_owned(),
    };
    let keep = |kept: &mut Kept, spells: Spells| {
        if !spells.is_empty() {
            kept.grace.insert(key.to_owned(), spells);
        }
    };
    if let Some(valid) = kept.memo.in_line(key, digest) {
        keep(kept, spells);
        if valid {
            kept.plan.keep(&aref);
        }
        return Step {
            valid,
            recomputed: false,
            key: akey,
            arns,
            checked,
        };
    }
    let (desired, valid) = desired(
        &mut kept.plan,
        &mut spells,
        index,
        io,
        ah,
        &checked,
        &aref,
        &akey,
        &inputs,
        now,
    );
    keep(kept, spells);
    let in_line = write(io.client, ah, desired, io.recorder, io.fence, &io.caches.own).await;
    kept.record(key, digest, valid, in_line);
    Step {
        valid,
        recomputed: true,
        key: akey,
        arns,
        checked,
    }
}

/// The status a served app should have, and whether its spec is valid; sets the
/// app's shares of the plan (none for an invalid spec). Writes nothing.
#[allow(clippy::too_many_arguments)]
fn desired(
    plan: &mut Plan,
    spells: &mut Spells,
    index: &Indexes,
    io: &Io<'_>,
    ah: &AppHealth,
    checked: &Checked,
    aref: &str,
    akey: &AppKey,
    inputs: &Inputs<'_>,
    now: &str,
) -> (AppHealthStatus, bool) {
    let d = io.duties;
    let (alb, kube_stale) = (inputs.alb, inputs.kube_stale);
    let key = akey.name.as_str();
    match &checked.settings {
        Ok(set) => {
            let eps = index.endpoints(&akey.namespace, &set.services, d.probe_targets);
            plan.set(aref, set, eps.values());
            let app_probes = inputs.probes;
            // An unknown probe state counts on readiness within its grace, as not healthy after.
            let (grace, at) = (set.startup_grace, Instant::now());
            let (dec, tally) = fold(
                eps.values(),
                |ip| app_probes.and_then(|p| p.get(&ip)).copied(),
                |ip| spells.in_grace(ip, grace, at),
                &set.policy,
                set.override_mode,
            );
            spells.folded(grace, at);
            let dec = with_targets(dec, alb, &set.policy, set.override_mode);
            io.aws.note_verdict(akey, dec.health == crate::model::Health::Healthy);
            let published = Published {
                verdict: Some(dec.health),
                reason: dec.reason,
                tally,
                kube_stale,
                not_served: None,
                alb,
                route53: io.aws.route53_part(akey, ah, ah.status.as_ref()),
            };
            (status(ah, key, published, now), true)
        }
        Err(invalid) => {
            plan.remove(aref);
            let old_verdict = Some(invalid.kept_verdict(ah.status.as_ref().and_then(|s| s.verdict)));
            let published = Published {
                verdict: old_verdict,
                reason: invalid.status_reason(),
                kube_stale,
                ..Published::default()
            };
            (status(ah, key, published, now), false)
        }
    }
}
