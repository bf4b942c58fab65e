//! What the leader remembers of each app between folds, so that a fold recomputes
//! only the apps whose inputs changed.
//!
//! An app's status is a pure function of its inputs: its `AppHealth` (spec and
//! last status, both covered by its `resourceVersion`), the EndpointSlices of its
//! Services, its endpoints' probe states, its ALB view (including whether that is
//! stale), the leader's Route 53 results, whether the Kubernetes watch is
//! failing, and how many of its `unknown` endpoints have outlasted start-up grace
//! ([`super::grace`]: the one input that changes with time alone). [`digest`]
//! hashes exactly those. After a fold brought an app's status
//! in line (nothing to write, or the write succeeded), the digest is recorded in
//! the [`Memo`]; the next fold skips the app while its digest is unchanged.
//!
//! Guarantees:
//! - an app whose last write failed (or was fenced) is never recorded, so it is
//!   recomputed, and its write retried, on every fold;
//! - a leader's write changes the object's `resourceVersion`, so an app is
//!   recomputed once more after each write (and is then found in line);
//! - a new term starts with an empty memo: the first fold of a term recomputes
//!   every app.

use crate::model::EndpointState;
use crate::model::TargetCounts;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Resource;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// Everything an app's status is computed from, besides its own object.
pub struct Inputs<'a> {
    /// The EndpointSlices of the app's Services.
    pub slices: &'a [&'a EndpointSlice],
    /// The app's probe states, if any node reports on it.
    pub probes: Option<&'a HashMap<IpAddr, EndpointState>>,
    /// The app's ALB view, as it would be used now.
    pub alb: Option<TargetCounts>,
    /// Bumped by the leader's AWS tasks on every new Route 53 result.
    pub aws_version: u64,
    /// True while a Kubernetes watch is failing.
    pub kube_stale: bool,
    /// How many of the app's `unknown` endpoints have outlasted start-up grace.
    pub grace_expired: usize,
}

/// A digest of an app's object (`uid`, `resourceVersion`) and its [`Inputs`]. The
/// order of slices and probe states does not matter.
pub fn digest(ah: &impl Resource, inputs: &Inputs) -> u64 {
    let mut h = Fx::default();
    version(ah).hash(&mut h);
    let unordered = |items: &mut dyn Iterator<Item = u64>| items.fold(0u64, u64::wrapping_add);
    let slices = unordered(&mut inputs.slices.iter().map(|s| one(&version(*s))));
    let probes = inputs
        .probes
        .map_or(0, |p| unordered(&mut p.iter().map(|(ip, st)| one(&(ip, st)))));
    (slices, inputs.slices.len(), probes).hash(&mut h);
    inputs.alb.map(|a| (a.healthy, a.total, a.stale)).hash(&mut h);
    (inputs.aws_version, inputs.kube_stale, inputs.grace_expired).hash(&mut h);
    h.finish()
}

/// An object's identity and version, borrowed.
fn version(o: &impl Resource) -> (Option<&str>, Option<&str>) {
    let m = o.meta();
    (m.uid.as_deref(), m.resource_version.as_deref())
}

fn one(v: &impl Hash) -> u64 {
    let mut h = Fx::default();
    v.hash(&mut h);
    h.finish()
}

/// A fast, non-cryptographic hasher (the multiply-rotate step of rustc's FxHasher):
/// the digest guards against recomputing, not against an adversary, and the
/// inputs are the cluster's own names and versions.
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        for b in chunks.remainder() {
            self.add(u64::from(*b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }
    fn finish(&self) -> u64 {
        // A final avalanche, so that sums of digests (unordered sets) stay spread.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
}

impl Fx {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// The digest each app had when its status was last found in line, by its
/// `/health/<app>` key (unique among served apps), with whether its spec was
/// valid. One per term.
///
/// A pass asks about every served app ([`Memo::in_line`]) and then [`Memo::sweep`]s:
/// the apps it did not ask about (no longer served) are forgotten.
#[derive(Debug, Default)]
pub struct Memo {
    in_line: HashMap<String, Entry>,
    pass: u64,
}

#[derive(Debug)]
struct Entry {
    digest: u64,
    valid: bool,
    /// The last pass that asked about this app.
    seen: u64,
}

impl Memo {
    /// `Some(valid)` when `app` was found in line with exactly these inputs, and
    /// its spec was valid or not. Marks `app` as still served.
    pub fn in_line(&mut self, app: &str, digest: u64) -> Option<bool> {
        let e = self.in_line.get_mut(app)?;
        e.seen = self.pass;
        (e.digest == digest).then_some(e.valid)
    }

    /// Records the outcome of computing `app` from inputs `digest`: remembered,
    /// with whether its spec is `valid`, only if its status is now `in_line`.
    pub fn record(&mut self, app: &str, digest: u64, valid: bool, in_line: bool) {
        if !in_line {
            self.in_line.remove(app);
            return;
        }
        let e = Entry {
            digest,
            valid,
            seen: self.pass,
        };
        match self.in_line.get_mut(app) {
            Some(old) => *old = e,
            None => {
                self.in_line.insert(app.to_owned(), e);
            }
        }
    }

    /// Ends a pass: forgets every app it did not ask about.
    pub fn sweep(&mut self) {
        let pass = self.pass;
        if self.in_line.values().any(|e| e.seen != pass) {
            self.in_line.retain(|_, e| e.seen == pass);
        }
        self.pass += 1;
    }

    /// How many apps are remembered.
    pub fn len(&self) -> usize {
        self.in_line.len()
    }

    /// True when no app is remembered.
    pub fn is_empty(&self) -> bool {
        self.in_line.is_empty()
    }
}

#[cfg(test)]
#[path = "memo_tests.rs"]
mod tests;
