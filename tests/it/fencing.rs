//! Leader fencing: no write passes a closed fence.
//!
//! - Route 53 (against moto): an apply whose fence closes part-way sends nothing
//!   more, and the next leader converges from what Route 53 then holds.

use crate::route53::fixture;
use failover_agent::aws::{Budget, Caller};
use failover_agent::fence::{Always, Fence, Lost};
use failover_agent::route53::{apply, plan_holding, read, Desired};
use failover_agent::telemetry::Metrics;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fence that lets `n` writes through, then closes for good.
struct Countdown(AtomicUsize);

impl Fence for Countdown {
    fn check(&self) -> Result<(), Lost> {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .map(drop)
            .map_err(|_| Lost("the test closed the fence".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route53_apply_sends_nothing_once_its_fence_closes_and_the_next_leader_converges() {
    let mut f = fixture();
    let mut y =
        String::from("region: eu-west-1\nclusterId: prod-eu\npublicHostname: health.eu-west-1.example.com\napps:\n");
    for name in ["app1", "app2"] {
        y += &format!(
            "  - name: {name}\n    endpoints: [\"http://127.0.0.1:1/\"]\n    route53:\n      hostedZoneId: {}\n      recordName: {name}.example.com\n      routing: {{ latency: {{ region: eu-west-1 }} }}\n      aliasTarget: {{ dnsName: {}, hostedZoneId: {} }}\n",
            f.zone, f.alb_dns, f.alb_zone
        );
    }
    let cfg = failover_agent::config::parse(&y).unwrap();
    let owner = cfg.aws.owner.clone().unwrap();
    let desired = Desired {
        apps: failover_agent::agent::route53_desired(&cfg),
        hold: Default::default(),
    };
    let r53 = f.moto.route53();
    let caller = Caller::new(Budget::default(), Metrics::new("eu-west-1").unwrap().aws);
    let plan = |actual| plan_holding(&owner, &desired.apps, &desired.hold, &actual);

    // A fence closed from the start: not one write.
    f.moto.cmd(serde_json::json!({"cmd": "stats_reset"}));
    let p = plan(read(&r53, &caller, &desired.apps).await.unwrap());
    assert!(!p.is_empty());
    let out = apply(&r53, &caller, &p, &Countdown(AtomicUsize::new(0))).await;
    assert!(
        out.lost.is_some() && out.applied.is_empty() && out.failed.is_empty(),
        "{out:?}"
    );
    let stats = f.moto.stats();
    for op in ["CreateHealthCheck", "ChangeTagsForResource", "ChangeResourceRecordSets"] {
        assert_eq!(
            stats[op].as_u64().unwrap_or(0),
            0,
            "{op} sent through a closed fence: {stats}"
        );
    }

    // Three writes allowed: app1's check is made and tagged, app2's made; then the
    // fence closes, so app2's tag and both records are never sent.
    let out = apply(&r53, &caller, &p, &Countdown(AtomicUsize::new(3))).await;
    assert!(out.lost.is_some() && !out.is_complete(), "{out:?}");
    assert_eq!(out.applied.len(), 2, "{:?}", out.applied);
    assert!(
        out.failed.is_empty(),
        "a fenced step is not a failure: {:?}",
        out.failed
    );
    assert_eq!(f.checks().await.len(), 2);
    assert!(f.records().await.is_empty(), "a record change passed the closed fence");
    assert_eq!(f.moto.count("ChangeTagsForResource"), 1);

    // The next leader plans from what Route 53 holds: it adopts the untagged check
    // (its CallerReference is ours) and makes the records; nothing is duplicated.
    let p = plan(read(&r53, &caller, &desired.apps).await.unwrap());
    let out = apply(&r53, &caller, &p, &Always).await;
    assert!(out.is_complete(), "{out:?}");
    assert_eq!(f.checks().await.len(), 2, "no second check for app2");
    assert_eq!(f.records().await.len(), 2);
    let p = plan(read(&r53, &caller, &desired.apps).await.unwrap());
    assert!(p.is_empty(), "converged:\n{p}");
}
