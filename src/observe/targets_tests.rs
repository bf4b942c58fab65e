//! The target store and the poller: failed reads, age, and stuck reads.

use super::*;
use crate::aws::{Api, Kind};

#[test]
fn a_failed_read_keeps_the_last_counts_and_marks_them_stale() {
    let s = TargetStore::default();
    let (a, b) = ("tg-a".to_string(), "tg-b".to_string());
    assert_eq!(s.view(std::slice::from_ref(&a)), None, "never read: no ALB signal");
    assert!(s.update(&a, Ok(GroupHealth { healthy: 2, total: 3 })));
    assert_eq!(
        s.view(std::slice::from_ref(&a)),
        Some(TargetCounts {
            healthy: 2,
            total: 3,
            stale: false
        })
    );
    let err = CallError {
        api: Api::DescribeTargetHealth,
        kind: Kind::Throttled,
        code: Some("Throttling".into()),
        message: String::new(),
        attempts: 5,
    };
    assert!(s.update(&a, Err(&err)));
    assert_eq!(
        s.view(std::slice::from_ref(&a)),
        Some(TargetCounts {
            healthy: 2,
            total: 3,
            stale: true
        })
    );
    assert!(!s.update(&a, Err(&err)), "nothing new to report");
    assert!(s.update(&a, Ok(GroupHealth { healthy: 3, total: 3 })));
    assert!(!s.any_stale());
    // Summed over groups; a group not read yet makes the sum stale.
    assert_eq!(
        s.view(&[a.clone(), b.clone()]),
        Some(TargetCounts {
            healthy: 3,
            total: 3,
            stale: true
        })
    );
    s.update(&b, Ok(GroupHealth { healthy: 0, total: 2 }));
    assert_eq!(
        s.view(&[a, b]),
        Some(TargetCounts {
            healthy: 3,
            total: 5,
            stale: false
        })
    );
}

#[test]
fn the_maximum_age_is_three_effective_read_intervals() {
    let s = Duration::from_secs;
    assert_eq!(max_age(s(10), 10, 2.5), s(30), "10 groups: the interval");
    assert_eq!(max_age(s(10), 0, 2.5), s(30));
    assert_eq!(
        max_age(s(10), 500, 2.5),
        s(600),
        "500 groups at 2.5/s: a round is 200 s"
    );
    assert_eq!(max_age(s(10), 5, 0.0), Duration::MAX, "no rate: no limit");
}

#[tokio::test(start_paused = true)]
async fn counts_older_than_three_read_intervals_are_stale_until_read_again() {
    let s = TargetStore::default();
    let a = "tg-a".to_string();
    assert!(s.update(&a, Ok(GroupHealth { healthy: 1, total: 1 })));
    assert!(!s.expire(Instant::now()), "no maximum age yet");
    s.set_max_age(Duration::from_secs(30));
    tokio::time::advance(Duration::from_secs(30)).await;
    assert!(!s.expire(Instant::now()), "30 s is not older than 30 s");
    assert!(!s.view(std::slice::from_ref(&a)).unwrap().stale);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(s.expire(Instant::now()), "older than 3 intervals");
    assert!(s.view(std::slice::from_ref(&a)).unwrap().stale);
    assert!(s.any_stale());
    assert!(!s.expire(Instant::now()), "reported once");
    assert!(
        s.update(&a, Ok(GroupHealth { healthy: 1, total: 1 })),
        "a read makes it fresh"
    );
    assert!(!s.any_stale());
}

#[tokio::test(start_paused = true)]
async fn a_stuck_read_leaves_counts_to_go_stale_three_effective_intervals_after_the_last_read() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Two groups at 0.1 calls/s: a round takes 20 s, longer than the 10 s interval.
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let read = move |_arn: String| {
        let first_round = c.fetch_add(1, Ordering::Relaxed) < 2;
        async move {
            if first_round {
                tokio::time::sleep(Duration::from_secs(10)).await;
                Ok(GroupHealth { healthy: 2, total: 2 })
            } else {
                std::future::pending().await
            }
        }
    };
    let arns: BTreeSet<String> = ["tg-a".to_string(), "tg-b".to_string()].into();
    let (_tx, rx) = watch::channel(arns.clone());
    let store = Arc::new(TargetStore::default());
    let changes = Arc::new(AtomicUsize::new(0));
    let ch = changes.clone();
    let stop = CancellationToken::new();
    let t0 = Instant::now();
    let task = tokio::spawn(poll_with(
        read,
        rx,
        (Duration::from_secs(10), 0.1),
        store.clone(),
        move || {
            ch.fetch_add(1, Ordering::Relaxed);
        },
        stop.clone(),
    ));
    let list: Vec<String> = arns.into_iter().collect();
    // tg-a was read at 10 s, tg-b at 20 s; the maximum age is 3 × 20 s.
    tokio::time::sleep_until(t0 + Duration::from_secs(69)).await;
    let v = store.view(&list).unwrap();
    assert_eq!((v.healthy, v.stale), (4, false), "both read within 60 s");
    let before = changes.load(Ordering::Relaxed);
    tokio::time::sleep_until(t0 + Duration::from_secs(72)).await;
    assert!(store.view(&list[..1]).unwrap().stale, "tg-a's counts are 62 s old");
    assert!(!store.view(&list[1..]).unwrap().stale, "tg-b's are 52 s old");
    assert!(changes.load(Ordering::Relaxed) > before, "apps are told");
    tokio::time::sleep_until(t0 + Duration::from_secs(82)).await;
    let v = store.view(&list).unwrap();
    assert_eq!(
        (v.healthy, v.total, v.stale),
        (4, 4, true),
        "last counts kept, marked stale"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 3, "the stuck read is the only one since");
    stop.cancel();
    let _ = task.await;
}
