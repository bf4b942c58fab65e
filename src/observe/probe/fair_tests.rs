//! Tests of `observe/probe/fair.rs`.

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
