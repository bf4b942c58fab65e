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
mod tests {
    use super::*;

    /// Jobs as (app, port on 127.0.0.1).
    struct Jobs(Vec<(Group, SocketAddr)>);

    impl Jobs {
        fn new(list: &[(&str, u16)]) -> Jobs {
            Jobs(
                list.iter()
                    .map(|(g, p)| (Group::from(*g), SocketAddr::from(([127, 0, 0, 1], *p))))
                    .collect(),
            )
        }
        fn due(&self, f: &mut Fair, i: usize) -> bool {
            f.due(i, &self.0[i].0, self.0[i].1)
        }
        fn next(&self, f: &mut Fair) -> Option<usize> {
            f.next(|i| self.0[i].1)
        }
        fn finished(&self, f: &mut Fair, i: usize) {
            f.finished(&self.0[i].0, self.0[i].1);
        }
    }

    #[test]
    fn starts_go_round_robin_over_apps_whatever_their_backlog() {
        // App "big" has 6 due jobs queued before app "small"'s 2.
        let jobs = Jobs::new(&[
            ("big", 1),
            ("big", 2),
            ("big", 3),
            ("big", 4),
            ("big", 5),
            ("big", 6),
            ("small", 7),
            ("small", 8),
        ]);
        let mut f = Fair::new(8);
        for i in 0..8 {
            assert!(jobs.due(&mut f, i));
        }
        let order: Vec<usize> = std::iter::from_fn(|| jobs.next(&mut f)).collect();
        assert_eq!(order, [0, 6, 1, 7, 2, 3, 4, 5], "small is not behind big's backlog");
    }

    #[test]
    fn tenants_take_turns_before_their_apps_do() {
        // Tenant "big" has three apps with two due jobs each; tenant "small" one job.
        let jobs = Jobs::new(&[
            ("big/a", 1),
            ("big/a", 2),
            ("big/b", 3),
            ("big/b", 4),
            ("big/c", 5),
            ("big/c", 6),
            ("small/x", 7),
        ]);
        let mut f = Fair::new(8);
        for i in 0..7 {
            jobs.due(&mut f, i);
        }
        let order: Vec<usize> = std::iter::from_fn(|| jobs.next(&mut f)).collect();
        assert_eq!(order, [0, 6, 2, 4, 1, 3, 5], "small's job is second, not seventh");
        assert_eq!((tenant("big/a"), tenant("solo")), ("big", ""));
    }

    #[test]
    fn an_app_has_at_most_per_app_in_flight_and_gets_a_slot_back_when_one_ends() {
        let jobs = Jobs::new(&[("hang", 1), ("hang", 2), ("hang", 3), ("ok", 4)]);
        let mut f = Fair::new(2);
        for i in 0..4 {
            jobs.due(&mut f, i);
        }
        let started: Vec<usize> = std::iter::from_fn(|| jobs.next(&mut f)).collect();
        assert_eq!(started, [0, 3, 1], "hang's third job waits for a slot");
        assert_eq!(f.inflight("hang"), 2);
        assert_eq!(f.waiting(), 1);
        jobs.finished(&mut f, 3);
        assert_eq!(jobs.next(&mut f), None, "ok's slot is not hang's");
        jobs.finished(&mut f, 0);
        assert_eq!(jobs.next(&mut f), Some(2));
        for i in [1, 2] {
            jobs.finished(&mut f, i);
        }
        assert!(
            f.apps.is_empty() && f.busy.is_empty() && f.ring.is_empty() && f.tenants.is_empty(),
            "{f:?}"
        );
    }

    #[test]
    fn one_probe_per_address_and_repeats_are_skipped_not_piled_up() {
        // Two apps probe one address; "a" also has a second address.
        let jobs = Jobs::new(&[("a", 1), ("b", 1), ("a", 2)]);
        let mut f = Fair::new(8);
        assert!(jobs.due(&mut f, 0));
        assert_eq!(jobs.next(&mut f), Some(0));
        assert!(!jobs.due(&mut f, 0), "a's probe of :1 is still in flight: skipped");
        assert!(jobs.due(&mut f, 1), "b waits for the address");
        assert!(jobs.due(&mut f, 2));
        assert!(!jobs.due(&mut f, 2), "still waiting: no second copy");
        assert_eq!(jobs.next(&mut f), Some(2));
        assert_eq!(jobs.next(&mut f), None, "b is parked behind a's probe of :1");
        jobs.finished(&mut f, 0);
        assert_eq!(jobs.next(&mut f), Some(1), "the address is free: b goes");
        assert!(jobs.due(&mut f, 0), "a's probe ended, so it may come due again");
        assert_eq!(jobs.next(&mut f), None, "now a waits for b");
        jobs.finished(&mut f, 1);
        assert_eq!(jobs.next(&mut f), Some(0));
    }

    #[test]
    fn a_new_job_set_keeps_the_waiting_jobs_that_remain() {
        let jobs = Jobs::new(&[("a", 1), ("a", 2), ("b", 3)]);
        let mut f = Fair::new(1);
        for i in 0..3 {
            jobs.due(&mut f, i);
        }
        assert_eq!(jobs.next(&mut f), Some(0));
        // Job 1 is gone; job 2 is now index 0, and a's in-flight probe still counts.
        f.remap(|i| match i {
            2 => Some(0),
            _ => None,
        });
        let now = Jobs::new(&[("b", 3)]);
        assert_eq!(now.next(&mut f), Some(0));
        assert_eq!(f.waiting(), 0);
        assert_eq!(f.inflight("a"), 1);
        jobs.finished(&mut f, 0);
        now.finished(&mut f, 0);
        assert!(f.apps.is_empty(), "{f:?}");
    }
}
