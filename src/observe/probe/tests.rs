//! The scheduler: cadence, job-set changes, and fairness between tenants, with a
//! paused clock and a fake prober (hanging targets sleep out their timeout).

use super::*;
use parking_lot::Mutex;
use std::net::SocketAddr;

#[test]
fn period_is_fixed_and_lag_skips_ahead() {
    let t0 = Instant::now();
    let i = Duration::from_secs(2);
    assert_eq!(next_due(t0, i, t0), t0 + i);
    // Late by less than an interval: keep the cadence.
    assert_eq!(next_due(t0, i, t0 + Duration::from_millis(2500)), t0 + i);
    // More than an interval behind: skip ahead, no burst of catch-up probes.
    let now = t0 + Duration::from_secs(10);
    assert_eq!(next_due(t0, i, now), now + i);
}

fn spec(interval: Duration, timeout: Duration) -> Arc<ProbeSpec> {
    Arc::new(ProbeSpec {
        interval,
        timeout,
        expected_status: None,
        body_contains: None,
        grpc_service: None,
        tls: None,
    })
}

fn job(group: &str, addr: SocketAddr, spec: &Arc<ProbeSpec>) -> Job<()> {
    Job {
        target: Target::Tcp { addr },
        spec: spec.clone(),
        group: group.into(),
        tag: (),
    }
}

fn port(port: u16, interval_ms: u64) -> Job<()> {
    let s = spec(Duration::from_millis(interval_ms), Duration::from_millis(10));
    job("ns/app", ([127, 0, 0, 1], port).into(), &s)
}

#[test]
fn a_changed_job_set_keeps_the_cadence_of_targets_it_still_has() {
    let now = Instant::now();
    let old = vec![port(1, 1000), port(2, 1000)];
    let heap: Heap = [
        Reverse((now + Duration::from_millis(300), 0)),
        Reverse((now + Duration::from_millis(700), 1)),
    ]
    .into();
    // Target 1 goes, 2 stays, 3 arrives; 2 with a new interval counts as new.
    let new = vec![port(3, 1000), port(2, 1000), port(2, 500)];
    let h = reschedule(&old, &heap, &new, now);
    let due: HashMap<usize, Instant> = h.iter().map(|Reverse((d, i))| (*i, *d)).collect();
    assert_eq!(due.len(), 3);
    assert_eq!(due[&1], now + Duration::from_millis(700), "kept its due time");
    assert!(
        due[&0] >= now && due[&0] < now + Duration::from_secs(1),
        "new target within one interval"
    );
    assert!(due[&2] < now + Duration::from_millis(500));
}

/// What the fake prober saw.
#[derive(Default)]
struct Seen {
    /// Start times by app and address.
    starts: HashMap<(String, SocketAddr), Vec<Instant>>,
    inflight_app: HashMap<String, usize>,
    inflight_addr: HashMap<SocketAddr, usize>,
    max_app: HashMap<String, usize>,
    max_addr: HashMap<SocketAddr, usize>,
}

/// Runs `jobs` for `run_for` of paused time under `limits`. Apps whose tenant is
/// `good` answer in 1 ms; every other probe hangs until its timeout.
async fn simulate(jobs: Vec<Job<()>>, limits: Limits, run_for: Duration) -> Seen {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    let probe = move |j: &Job<()>| {
        let (app, addr) = (j.group.to_string(), j.target.addr());
        {
            let mut s = s.lock();
            s.starts.entry((app.clone(), addr)).or_default().push(Instant::now());
            let n = s.inflight_app.entry(app.clone()).or_default();
            *n += 1;
            let n = *n;
            let m = s.max_app.entry(app.clone()).or_default();
            *m = (*m).max(n);
            let n = s.inflight_addr.entry(addr).or_default();
            *n += 1;
            let n = *n;
            let m = s.max_addr.entry(addr).or_default();
            *m = (*m).max(n);
        }
        let (s, hang) = (s.clone(), fair::tenant(&app) != "good");
        let took = if hang { j.spec.timeout } else { Duration::from_millis(1) };
        async move {
            tokio::time::sleep(took).await;
            let mut s = s.lock();
            *s.inflight_app.entry(app).or_default() -= 1;
            *s.inflight_addr.entry(addr).or_default() -= 1;
            ProbeResult {
                outcome: if hang {
                    ProbeOutcome::Timeout
                } else {
                    ProbeOutcome::Success
                },
                latency: took,
                status: None,
            }
        }
    };
    let (_tx, rx) = watch::channel(Arc::new(jobs));
    let stop = CancellationToken::new();
    let task = tokio::spawn(run_with(rx, limits, probe, |_, _| {}, stop.clone()));
    tokio::time::sleep(run_for).await;
    stop.cancel();
    let _ = task.await;
    Arc::try_unwrap(seen).map(|m| m.into_inner()).unwrap_or_default()
}

fn addr(a: u8, b: u8, c: u8) -> SocketAddr {
    ([10, a, b, c], 80).into()
}

/// Every start of `app`'s endpoints: how many, and the longest gap between two.
fn cadence(seen: &Seen, app: &str) -> Vec<(usize, Duration)> {
    let mut out: Vec<(usize, Duration)> = seen
        .starts
        .iter()
        .filter(|((a, _), _)| a == app)
        .map(|(_, t)| {
            let gap = t.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
            (t.len(), gap)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(start_paused = true)]
async fn a_tenant_with_hundreds_of_hanging_apps_delays_only_itself() {
    let hang = spec(Duration::from_secs(5), Duration::from_secs(5));
    let hang_long = spec(Duration::from_secs(3600), Duration::from_secs(3600));
    let good = spec(Duration::from_secs(2), Duration::from_secs(1));
    let mut jobs = Vec::new();
    // 300 AppHealths, each on its own hanging address; 300 more on one hanging Service
    // address; and one app of an hour's timeout on 50 more.
    for k in 0..300u16 {
        jobs.push(job(
            &format!("bad/h{k}"),
            addr(1, (k / 250) as u8, (k % 250) as u8),
            &hang,
        ));
        jobs.push(job(&format!("bad/same{k}"), addr(9, 9, 9), &hang));
    }
    for k in 0..50 {
        jobs.push(job("bad/hour", addr(2, 0, k), &hang_long));
    }
    let good_eps = [addr(100, 0, 1), addr(100, 0, 2), addr(100, 0, 3)];
    for a in good_eps {
        jobs.push(job("good/web", a, &good));
    }
    let limits = Limits { global: 16, per_app: 8 };
    let run_for = Duration::from_secs(120);
    let seen = simulate(jobs, limits, run_for).await;

    let web = cadence(&seen, "good/web");
    assert_eq!(web.len(), 3);
    for (n, gap) in &web {
        assert!(
            *n >= 58,
            "good/web probed {n} times in 120 s at a 2 s interval: {web:?}"
        );
        assert!(
            *gap < Duration::from_secs(4),
            "a good probe started more than one interval late: gap {gap:?}"
        );
    }
    let max_gap = web.iter().map(|(_, g)| *g).max().unwrap_or_default();
    eprintln!("good/web beside 650 hanging AppHealths (16 slots, 8 per app): {web:?}, longest gap {max_gap:?}");
    assert_eq!(seen.max_addr[&addr(9, 9, 9)], 1, "one probe at a time per address");
    // Its phases are spread over the hour: it may not have come due in 120 s.
    assert!(
        seen.max_app.get("bad/hour").is_none_or(|n| *n <= 8),
        "at most 8 in flight per app"
    );
    assert!(
        seen.starts.keys().any(|(a, _)| a.starts_with("bad/h")),
        "the hanging tenant is probed too, only slower"
    );
}

#[tokio::test(start_paused = true)]
async fn one_app_with_many_hanging_endpoints_takes_only_its_own_slots() {
    let hang = spec(Duration::from_secs(3600), Duration::from_secs(3600));
    let good = spec(Duration::from_secs(1), Duration::from_millis(500));
    let mut jobs: Vec<Job<()>> = (0..200).map(|k| job("bad/many", addr(1, 0, k), &hang)).collect();
    jobs.push(job("good/a", addr(100, 0, 1), &good));
    jobs.push(job("good/b", addr(100, 0, 2), &good));
    // Two slots in all: without the per-app cap the hanging app would hold both for an hour.
    let seen = simulate(jobs, Limits { global: 2, per_app: 8 }, Duration::from_secs(3700)).await;
    assert_eq!(
        seen.max_app["bad/many"], 8,
        "the hanging app holds its 8 slots, no more"
    );
    for app in ["good/a", "good/b"] {
        let c = cadence(&seen, app);
        let (n, gap) = c[0];
        assert!(n >= 3690, "{app} probed {n} times in 3,700 s at 1 s");
        assert!(gap < Duration::from_secs(2), "{app}: gap {gap:?}");
    }
    let hung: usize = seen.starts.iter().filter(|((a, _), _)| a == "bad/many").count();
    assert!(
        hung > 8,
        "the hanging app's next endpoints start as its probes time out: {hung}"
    );
}
