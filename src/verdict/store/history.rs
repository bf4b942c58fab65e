//! The last hour of an app, for the status page's strip: its verdict over time
//! (from the transitions ring, [`super::TRANSITIONS_KEPT`]) and where DNS answered
//! over time (a ring of answer changes, [`DNS_CHANGES_KEPT`]).
//!
//! Bound and memory: a DNS change is recorded only when the app's shares change
//! (never per probe or per read), at most [`DNS_CHANGES_KEPT`] per app, and changes
//! that ended before the last hour are dropped when the next one comes. An entry is
//! 32 bytes in the ring; its shares are one allocation shared by every entry with
//! the same shares (an app flapping between two Regions holds two): 16 bytes, plus
//! 24 and the set identifier's name per record. So an app holds at most about 2 KB
//! of DNS history (60 × 32 bytes, plus one small allocation per distinct answer),
//! 1,000 apps about 2 MB; apps whose answer never moved hold one entry.
//!
//! The verdict needs no new ring: transitions are recorded only when the health
//! changes, so the verdict before the oldest kept one is its opposite, known back
//! to [`History::verdict_from`].

use crate::model::{DnsView, Health};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How far back the status page's strip looks.
pub const HISTORY_WINDOW: Duration = Duration::from_secs(3600);

/// At most this many DNS answer changes are kept per app.
pub const DNS_CHANGES_KEPT: usize = 60;

/// The share of answers (0 to 1) per set identifier, in set identifier order.
/// Empty when the app had no DNS view (unknown).
pub type Shares = Arc<[(Arc<str>, f32)]>;

/// Where DNS answered from `at` until the next change.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsChange {
    pub at: SystemTime,
    pub shares: Shares,
}

/// What the strip is drawn from: a snapshot of an app's history.
#[derive(Clone, Debug)]
pub struct History {
    /// Since when the verdict is known: the app's start here (or, for an app the
    /// leader judges, its first verdict from the leader), or the time of the oldest
    /// transition dropped from the ring. `None`: not known yet.
    pub verdict_from: Option<SystemTime>,
    /// The verdict now.
    pub verdict: Health,
    /// Verdict transitions kept, oldest first: (when, to what).
    pub transitions: Vec<(SystemTime, Health)>,
    /// DNS answer changes kept, oldest first; unknown before the first.
    pub dns: Vec<DnsChange>,
}

/// The ring of an app's DNS answer changes.
#[derive(Debug, Default)]
pub(super) struct DnsRing {
    changes: VecDeque<DnsChange>,
}

impl DnsRing {
    /// Records `dns`'s shares if they differ from the last recorded ones: from the
    /// view's `since` (the leader's time of the change) when it reads and lies
    /// between the last recorded change and `now`, else from `now`. An absent view is recorded
    /// as unknown (empty shares) once something was known.
    pub fn record(&mut self, dns: Option<&DnsView>, now: SystemTime) {
        let last = self.changes.back();
        let unchanged = match (dns, last) {
            (None, None) => true,
            (None, Some(l)) => l.shares.is_empty(),
            (Some(d), None) => d.shares.is_empty(),
            (Some(d), Some(l)) => same(d, &l.shares),
        };
        if unchanged {
            return;
        }
        let floor = last.map_or(SystemTime::UNIX_EPOCH, |l| l.at);
        let at = dns
            .and_then(|d| d.since.as_deref())
            .and_then(|s| humantime::parse_rfc3339_weak(s).ok())
            .filter(|since| (floor..=now).contains(since))
            .unwrap_or(now.max(floor));
        let shares = dns.map_or_else(|| Arc::from([]), |d| self.intern(d));
        if self.changes.len() == DNS_CHANGES_KEPT {
            self.changes.pop_front();
        }
        self.changes.push_back(DnsChange { at, shares });
        // A change that ended before the last hour is never drawn.
        let horizon = now.checked_sub(HISTORY_WINDOW).unwrap_or(SystemTime::UNIX_EPOCH);
        while self.changes.get(1).is_some_and(|c| c.at <= horizon) {
            self.changes.pop_front();
        }
    }

    /// The shares of `d`, sharing the allocation of an equal set kept in the ring.
    fn intern(&self, d: &DnsView) -> Shares {
        match self.changes.iter().find(|c| same(d, &c.shares)) {
            Some(c) => c.shares.clone(),
            None => d
                .shares
                .iter()
                .map(|(id, s)| (Arc::from(id.as_str()), *s as f32))
                .collect(),
        }
    }

    /// The changes kept, oldest first.
    pub fn snapshot(&self) -> Vec<DnsChange> {
        self.changes.iter().cloned().collect()
    }
}

/// True when `d`'s shares are `shares` (an empty view is never equal to unknown).
fn same(d: &DnsView, shares: &Shares) -> bool {
    !shares.is_empty()
        && d.shares.len() == shares.len()
        && d.shares
            .iter()
            .zip(shares.iter())
            .all(|((id, s), (kid, ks))| id.as_str() == &**kid && (*s as f32) == *ks)
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
