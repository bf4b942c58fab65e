//! Which due probe starts next: fair between tenants, then between their apps, one
//! at a time per address.
//!
//! Due jobs wait in their app's queue. Starts go round-robin over the tenants (the
//! namespace part of a [`Group`], `namespace/app`) that have an app ready, and within
//! a tenant round-robin over its ready apps: those with a job waiting and fewer
//! than `per_app` probes in flight. One job per turn, so a tenant with hundreds of
//! apps, or an app with hundreds of due (or hanging) endpoints, takes one start in
//! turn like any other tenant. At most one probe is in flight per address: a due job
//! whose address is busy is parked until that probe ends, then goes first in its
//! app's queue. A job that comes due again while it still waits, or while its
//! app's probe of the same address is still in flight, is skipped: probes never
//! pile up behind a slow endpoint.
//!
//! Pure bookkeeping over job indices; the scheduler in [`super::run`] owns the
//! clock, the futures and the global slot count.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;

/// The app a job belongs to, `namespace/app` (`app` alone: a tenant of its own).
pub type Group = Arc<str>;

/// The tenant of an app: its namespace.
pub fn tenant(g: &str) -> &str {
    g.split_once('/').map_or("", |(t, _)| t)
}

#[derive(Debug, Default)]
struct App {
    /// Due jobs, oldest first.
    queue: VecDeque<usize>,
    /// Probes in flight, however long they have run.
    inflight: usize,
    /// In its tenant's ring.
    in_ring: bool,
}

#[derive(Debug, Default)]
struct Tenant {
    /// Apps that may start a probe now, each at most once, next first.
    ring: VecDeque<Group>,
    /// In the tenants' ring.
    in_ring: bool,
}

/// The waiting jobs and the probes in flight, by app and by address.
#[derive(Debug)]
pub struct Fair {
    per_app: usize,
    apps: HashMap<Group, App>,
    tenants: HashMap<String, Tenant>,
    /// Tenants with an app that may start a probe now, each at most once, next first.
    ring: VecDeque<String>,
    /// Addresses with a probe in flight, and whose.
    busy: HashMap<SocketAddr, Group>,
    /// Due jobs waiting for their address, by address, oldest first.
    parked: HashMap<SocketAddr, VecDeque<(Group, usize)>>,
    /// Jobs waiting (queued or parked).
    waiting: HashSet<usize>,
}

impl Fair {
    /// At most `per_app` probes in flight per app (at least one).
    pub fn new(per_app: usize) -> Fair {
        Fair {
            per_app: per_app.max(1),
            apps: HashMap::new(),
            tenants: HashMap::new(),
            ring: VecDeque::new(),
            busy: HashMap::new(),
            parked: HashMap::new(),
            waiting: HashSet::new(),
        }
    }

    /// Job `i` of `group`, probing `addr`, is due. Returns false when it is skipped:
    /// it still waits from an earlier turn, or `group` already probes `addr`.
    pub fn due(&mut self, i: usize, group: &Group, addr: SocketAddr) -> bool {
        if self.waiting.contains(&i) || self.busy.get(&addr) == Some(group) {
            return false;
        }
        self.waiting.insert(i);
        self.apps.entry(group.clone()).or_default().queue.push_back(i);
        self.ring_in(group);
        true
    }

    /// The next job to start, or `None` if no app may start one now. The job is
    /// counted in flight until [`Fair::finished`]. `addr` gives a job's address.
    pub fn next(&mut self, addr: impl Fn(usize) -> SocketAddr) -> Option<usize> {
        while let Some(t) = self.ring.pop_front() {
            let started = self.next_of(&t, &addr);
            if let Some(tenant) = self.tenants.get_mut(&t) {
                tenant.in_ring = !tenant.ring.is_empty();
                if tenant.in_ring {
                    self.ring.push_back(t);
                } else {
                    self.tenants.remove(&t);
                }
            }
            if started.is_some() {
                return started;
            }
        }
        None
    }

    /// The next job of tenant `t`'s apps, round-robin; apps that cannot start one
    /// now leave its ring.
    fn next_of(&mut self, t: &str, addr: &impl Fn(usize) -> SocketAddr) -> Option<usize> {
        loop {
            let g = self.tenants.get_mut(t)?.ring.pop_front()?;
            let Some(app) = self.apps.get_mut(&g) else { continue };
            app.in_ring = false;
            while app.inflight < self.per_app {
                let Some(i) = app.queue.pop_front() else { break };
                let addr = addr(i);
                if self.busy.contains_key(&addr) {
                    self.parked.entry(addr).or_default().push_back((g.clone(), i));
                    continue;
                }
                app.inflight += 1;
                self.busy.insert(addr, g.clone());
                self.waiting.remove(&i);
                if !app.queue.is_empty() && app.inflight < self.per_app {
                    app.in_ring = true;
                    if let Some(tenant) = self.tenants.get_mut(t) {
                        tenant.ring.push_back(g);
                    }
                }
                return Some(i);
            }
            self.forget_if_idle(&g);
        }
    }

    /// A probe of `group` to `addr` ended: frees the address (its first parked job
    /// goes first in its app's queue) and the app's slot.
    pub fn finished(&mut self, group: &Group, addr: SocketAddr) {
        if self.busy.get(&addr) == Some(group) {
            self.busy.remove(&addr);
        }
        if let Some(app) = self.apps.get_mut(group) {
            app.inflight = app.inflight.saturating_sub(1);
        }
        let unparked = self.parked.get_mut(&addr).and_then(|q| q.pop_front());
        if self.parked.get(&addr).is_some_and(|q| q.is_empty()) {
            self.parked.remove(&addr);
        }
        if let Some((g, i)) = unparked {
            self.apps.entry(g.clone()).or_default().queue.push_front(i);
            self.ring_in(&g);
        }
        self.ring_in(group);
        self.forget_if_idle(group);
    }

    /// The job set changed: `map` gives a waiting job's new index, or `None` if it
    /// is gone. Probes in flight are unaffected (they are counted by app and address).
    pub fn remap(&mut self, map: impl Fn(usize) -> Option<usize>) {
        for app in self.apps.values_mut() {
            app.queue = app.queue.iter().filter_map(|&i| map(i)).collect();
        }
        for q in self.parked.values_mut() {
            *q = q.iter().filter_map(|(g, i)| Some((g.clone(), map(*i)?))).collect();
        }
        self.parked.retain(|_, q| !q.is_empty());
        self.waiting = self.waiting.iter().filter_map(|&i| map(i)).collect();
        let idle: Vec<Group> = self.apps.keys().cloned().collect();
        for g in idle {
            self.forget_if_idle(&g);
        }
    }

    /// Jobs waiting to start.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Probes of `group` in flight.
    pub fn inflight(&self, group: &str) -> usize {
        self.apps.get(group).map_or(0, |a| a.inflight)
    }

    fn ring_in(&mut self, g: &Group) {
        let Some(app) = self.apps.get_mut(g) else { return };
        if app.in_ring || app.queue.is_empty() || app.inflight >= self.per_app {
            return;
        }
        app.in_ring = true;
        let t = tenant(g);
        let tenant_ = self.tenants.entry(t.to_owned()).or_default();
        tenant_.ring.push_back(g.clone());
        if !tenant_.in_ring {
            tenant_.in_ring = true;
            self.ring.push_back(t.to_owned());
        }
    }

    fn forget_if_idle(&mut self, g: &Group) {
        if self
            .apps
            .get(g)
            .is_some_and(|a| a.queue.is_empty() && a.inflight == 0 && !a.in_ring)
        {
            self.apps.remove(g);
        }
    }
}

#[cfg(test)]
#[path = "fair_tests.rs"]
mod tests;
