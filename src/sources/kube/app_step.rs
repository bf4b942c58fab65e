//! One app's step in a pass of the leader's fold: gather its inputs from the
//! indexes, skip it if they are those it was last found in line with, else
//! compute its status, write what differs and set its share of the node plan.

use super::crd::{AppHealth, AppHealthStatus};
use super::fold::{fold, Tally};
use super::index::Indexes;
use super::memo::{self, Inputs, Memo};
use super::pass::Io;
use super::probe_plan::Plan;
use super::report::app_ref;
use super::spec::{Checked, Specs};
use super::writer::{status, write, Staleness};
use crate::model::AppKey;
use crate::policy::with_targets;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use std::collections::HashSet;
use std::sync::Arc;

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
    let inputs = Inputs {
        slices: &slices,
        probes: probes.as_ref(),
        alb,
        aws_version: io.aws_version,
        kube_stale,
    };
    let digest = memo::digest(ah, &inputs);
    let akey = AppKey {
        namespace: ns.to_owned(),
        name: key.to_owned(),
    };
    if let Some(valid) = kept.memo.in_line(key, digest) {
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
    let (mut desired, valid) = desired(&mut kept.plan, index, io, ah, &checked, &aref, &akey, &inputs, now);
    let old_id = ah.status.as_ref().and_then(|s| s.health_check_id.clone());
    desired.health_check_id = desired.health_check_id.or(old_id);
    let in_line = write(io.client, ah, desired, io.recorder, io.fence, &io.caches.own).await;
    kept.memo.record(key, digest, valid, in_line);
    if in_line {
        kept.retry.remove(key);
    } else {
        kept.retry.insert(key.to_owned());
    }
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
            // Unknown probe states count on readiness: an agent (re)starting must not fail apps.
            let (dec, tally) = fold(
                eps.values(),
                |ip| app_probes.and_then(|p| p.get(&ip)).copied(),
                &set.policy,
                true,
                set.override_mode,
            );
            let dec = with_targets(dec, alb, &set.policy, set.override_mode);
            let stale = Staleness {
                kubernetes: kube_stale,
                alb: alb.is_some_and(|a| a.stale),
            };
            let mut st = status(ah, key, Some(dec.health), dec.reason, tally, stale, None, now);
            let old = ah.status.clone().unwrap_or_default();
            io.aws.annotate(&mut st, &old, akey, ah, alb, now);
            (st, true)
        }
        Err(invalid) => {
            plan.remove(aref);
            let old_verdict = Some(invalid.kept_verdict(ah.status.as_ref().and_then(|s| s.verdict)));
            let reason = invalid.status_reason();
            let stale = Staleness {
                kubernetes: kube_stale,
                alb: false,
            };
            (
                status(ah, key, old_verdict, reason, Tally::default(), stale, None, now),
                false,
            )
        }
    }
}
