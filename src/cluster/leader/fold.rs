//! The leader's verdict: the pure fold of one app's signals.
//!
//! Inputs are the app's endpoints from its EndpointSlices (readiness) and the
//! debounced probe state of each endpoint from the report of the agent on its node.
//! An endpoint is healthy when Kubernetes says it is ready and not terminating,
//! and its node's agent says its probes pass. An endpoint whose node has no live
//! agent report is judged on readiness alone and counted as unprobed: the agent's
//! own trouble never fails an app. An endpoint that may not be probed at all (see
//! [`crate::cluster::kube::slices::refusal`]) is judged on readiness alone too, and counted apart.
//! A ready endpoint whose probe state is still `unknown` counts as healthy while
//! it is in start-up grace ([`super::grace`]) and as not healthy after, as in
//! static mode.

use crate::cluster::kube::slices::Endpoint;
use crate::cluster::kube::slices::Refused;
use crate::model::Counts;
use crate::model::EndpointState;
use crate::model::OverrideMode;
use crate::spec::policy::Policy;
use crate::verdict::policy;
use crate::verdict::policy::Decision;
use serde::Serialize;
use std::net::IpAddr;

/// The counts written to `AppHealth.status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub total: u32,
    pub ready: u32,
    /// Ready endpoints with a probe state from a live agent.
    pub probed: u32,
    pub healthy: u32,
    /// Ready endpoints whose probe state is still unknown (too few samples yet).
    pub unknown: u32,
    /// Ready endpoints whose node has no live agent report.
    pub unprobed: u32,
    /// Ready endpoints that are never probed (not a Pod of the app's namespace in
    /// a slice of the EndpointSlice controller, or loopback), judged on readiness.
    pub refused_ready: u32,
    /// All endpoints that are never probed, ready or not, by [`Refused::index`].
    pub refused: [u32; Refused::ALL.len()],
}

impl Tally {
    /// The refused endpoints, in words: `1 not a Pod (targetRef), 2 a loopback address`.
    pub fn refused_text(&self) -> Option<String> {
        let parts: Vec<String> = Refused::ALL
            .iter()
            .filter(|r| self.refused[r.index()] > 0)
            .map(|r| format!("{} {}", self.refused[r.index()], r.as_str()))
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Folds one app's signals into a decision and the tally.
///
/// `probe` gives the debounced probe state of an endpoint from its node's live
/// agent, or `None` when no live agent reports on it; `in_grace` tells whether an
/// endpoint whose state is `unknown` is still in start-up grace.
pub fn fold<'a>(
    endpoints: impl IntoIterator<Item = &'a Endpoint>,
    probe: impl Fn(IpAddr) -> Option<EndpointState>,
    in_grace: impl Fn(IpAddr) -> bool,
    policy: &Policy,
    ovr: OverrideMode,
) -> (Decision, Tally) {
    let mut t = Tally::default();
    // As the policy counts them: an `unknown` endpoint past its grace counts as down.
    let mut states = Vec::new();
    for e in endpoints {
        t.total += 1;
        if let Some(r) = e.refused {
            t.refused[r.index()] += 1;
        }
        let state = if !e.is_ready() {
            EndpointState::Down
        } else if e.refused.is_some() {
            t.ready += 1;
            t.refused_ready += 1;
            EndpointState::Up
        } else {
            t.ready += 1;
            match probe(e.ip) {
                Some(EndpointState::Unknown) => {
                    t.probed += 1;
                    t.unknown += 1;
                    if in_grace(e.ip) {
                        EndpointState::Unknown
                    } else {
                        EndpointState::Down
                    }
                }
                Some(s) => {
                    t.probed += 1;
                    s
                }
                None => {
                    t.unprobed += 1;
                    EndpointState::Up
                }
            }
        };
        if state == EndpointState::Up {
            t.healthy += 1;
        }
        states.push(state);
    }
    // Only the `unknown` endpoints still in grace are left `unknown` in `states`.
    let mut d = policy::evaluate(Counts::of(states.iter()), policy, true, ovr);
    if ovr == OverrideMode::None && t.total > 0 {
        // Healthy endpoints are the unprobed and never-probed ready ones plus the
        // probed ones that pass.
        let passing = t.healthy - t.unprobed - t.refused_ready;
        d.reason = format!("{} ({} ready, {passing} passing probes", d.reason, t.ready);
        if t.unprobed > 0 {
            d.reason.push_str(&format!(", {} unprobed", t.unprobed));
        }
        if t.refused_ready > 0 {
            d.reason.push_str(&format!(", {} never probed", t.refused_ready));
        }
        d.reason.push(')');
    }
    (d, t)
}

#[cfg(test)]
#[path = "fold_tests.rs"]
mod tests;
