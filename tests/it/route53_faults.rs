//! "No orphans", proved by fault injection: one `failover-agent route53 apply` of a
//! transition that makes every kind of Route 53 step, with its K-th Route 53 call
//! failed (moto launcher's `fail_nth`) for each K in turn, then clean applies. The
//! second apply must succeed, the third must change nothing, and Route 53 must then
//! hold exactly the wanted objects: nothing leaked, nothing left half-done.
//!
//! The transition, from `START` to `TARGET` (one zone, latency records):
//! - app1 is up to date, then its record is renamed (app1 → app1-new: the new record
//!   is created, the old one deleted, the check re-tagged with its record) and its
//!   threshold changes (the check is updated in place);
//! - app2 is new (check created and tagged, record created);
//! - app3 is removed (garbage collection: its record, then its check);
//! - app4 moves from HTTP to HTTPS (a check's type cannot change: a new check is
//!   created, the record re-pointed with an UPSERT, the old check deleted).
//!
//! Three sweeps over K = 1..=N (N: the Route 53 calls of one clean apply), each
//! rebuilding `START` with the launcher's `r53_restore` (same IDs, so the calls
//! come in the same order every time):
//! - one call fails (non-retryable `InvalidInput`), the rest of the apply goes on;
//! - a crash at call K: it and every later call fail;
//! - a crash at call K, then the operator rolls back to `START`.
//!
//! Each prints one line per K (the call, the step it belonged to, the result); a
//! failure lists every K that did not converge and what was left behind. Failures
//! during the recovering applies are not injected.

use crate::route53::{fixture, Fixture};
use aws_sdk_route53::types::{HealthCheck, ResourceRecordSet, TagResourceType};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

const CLUSTER: &str = "prod-eu";
const SET: &str = "eu-west-1";
const HOST: &str = "health.eu-west-1.example.com";
/// The calls that change Route 53.
const WRITES: [&str; 5] = [
    "CreateHealthCheck",
    "UpdateHealthCheck",
    "ChangeResourceRecordSets",
    "ChangeTagsForResource",
    "DeleteHealthCheck",
];
/// Fails every call from the K-th on: a crash at that call.
const FOREVER: u32 = 100_000;

/// One app of a static config.
struct App {
    name: &'static str,
    record: &'static str,
    threshold: u32,
    https: bool,
}

const fn app(name: &'static str, record: &'static str, threshold: u32, https: bool) -> App {
    App {
        name,
        record,
        threshold,
        https,
    }
}

const START: [App; 3] = [
    app("app1", "app1.example.com", 3, false),
    app("app3", "app3.example.com", 3, false),
    app("app4", "app4.example.com", 3, false),
];
const TARGET: [App; 3] = [
    app("app1", "app1-new.example.com", 4, false),
    app("app2", "app2.example.com", 3, false),
    app("app4", "app4.example.com", 3, true),
];

fn write_config(f: &Fixture, file: &str, apps: &[App]) -> PathBuf {
    let mut y = format!("region: eu-west-1\nclusterId: {CLUSTER}\npublicHostname: {HOST}\napps:\n");
    for a in apps {
        y += &format!(
            "  - name: {}\n    endpoints: [\"http://127.0.0.1:1/\"]\n    route53:\n      hostedZoneId: {}\n      recordName: {}\n      routing: {{ latency: {{ region: eu-west-1 }} }}\n      aliasTarget: {{ dnsName: {}, hostedZoneId: {} }}\n      healthCheck: {{ intervalSeconds: 10, failureThreshold: {}, protocol: {} }}\n",
            a.name,
            f.zone,
            a.record,
            f.alb_dns,
            f.alb_zone,
            a.threshold,
            if a.https { "HTTPS" } else { "HTTP" }
        );
    }
    let path = f.dir.path().join(file);
    std::fs::write(&path, y).unwrap();
    path
}

/// A moto holding the `START` state (applied by the agent, then snapshotted), and
/// both configs.
struct World {
    f: Fixture,
    start: PathBuf,
    target: PathBuf,
}

impl World {
    fn new() -> World {
        let mut f = fixture();
        let (start, target) = (
            write_config(&f, "start.yaml", &START),
            write_config(&f, "target.yaml", &TARGET),
        );
        let (code, out) = f.cli("apply", &start);
        assert_eq!(code, 0, "the START state applies cleanly: {out}");
        let (code, out) = f.cli("apply", &start);
        assert!(code == 0 && plan_lines(&out).is_empty(), "START is stable: {out}");
        let snap = f.moto.cmd(json!({"cmd": "r53_snapshot"}));
        assert_eq!(snap["health_checks"], 3, "{snap}");
        World { f, start, target }
    }

    /// Back to the `START` state, with the same IDs (so the agent's calls come in
    /// the same order every time).
    fn rebuild(&mut self) {
        self.f.moto.cmd(json!({"cmd": "r53_restore"}));
    }

    /// Closes the launcher's fail_nth window (the Route 53 calls since the last
    /// `fail_nth`) and opens a new one failing `times` calls from the `n`-th.
    fn fail_nth(&mut self, n: usize, times: u32) -> Value {
        self.f
            .moto
            .cmd(json!({"cmd": "fail_nth", "n": n, "times": times, "code": "InvalidInput", "status": 400}))
    }

    fn writes(&mut self) -> BTreeMap<&'static str, u64> {
        let stats = self.f.moto.stats();
        WRITES
            .iter()
            .map(|op| (*op, stats[*op].as_u64().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// What Route 53 holds that is, or looks like, the agent's.
struct Seen {
    /// Checks with our CallerReference prefix, with their tags.
    checks: Vec<(HealthCheck, BTreeMap<String, String>)>,
    records: Vec<ResourceRecordSet>,
}

async fn look(f: &Fixture) -> Seen {
    let r53 = f.moto.route53();
    let mut checks = Vec::new();
    for c in f.checks().await {
        if !c.caller_reference().starts_with("fa1-") {
            continue;
        }
        let tags = r53
            .list_tags_for_resource()
            .resource_type(TagResourceType::Healthcheck)
            .resource_id(c.id())
            .send()
            .await
            .unwrap();
        let tags = tags
            .resource_tag_set()
            .map(|s| s.tags())
            .unwrap_or_default()
            .iter()
            .map(|t| (t.key().unwrap_or("").to_owned(), t.value().unwrap_or("").to_owned()))
            .collect();
        checks.push((c, tags));
    }
    Seen {
        checks,
        records: f.records().await,
    }
}

fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

fn describe_check(c: &HealthCheck, tags: &BTreeMap<String, String>) -> String {
    let cfg = c.health_check_config().unwrap();
    let owner = match (tags.get("failover-agent.io/app"), tags.get("failover-agent.io/record")) {
        (Some(app), Some(rec)) => format!("tagged {app} {rec}"),
        (Some(app), None) => format!("tagged {app}"),
        _ => "untagged".into(),
    };
    format!(
        "check {} {} {} ({owner})",
        &c.id()[..8.min(c.id().len())],
        cfg.r#type().as_str(),
        cfg.resource_path().unwrap_or("")
    )
}

/// Everything that differs from exactly `want`: one owned check per app, one record
/// per app pointing at it, nothing else of ours.
fn audit(f: &Fixture, seen: &Seen, want: &[App]) -> Vec<String> {
    let mut problems = Vec::new();
    let check = |id: &str| seen.checks.iter().find(|(c, _)| c.id() == id);
    let mut used = Vec::new();
    for a in want {
        let app_tag = format!("static/{}", a.name);
        let name = fqdn(a.record);
        let recs: Vec<&ResourceRecordSet> = seen
            .records
            .iter()
            .filter(|r| r.name() == name && r.set_identifier() == Some(SET))
            .collect();
        let [rec] = recs[..] else {
            problems.push(format!("{}: {} record(s) {name}, want 1", a.name, recs.len()));
            continue;
        };
        let alias = rec
            .alias_target()
            .map(|t| (t.dns_name().trim_end_matches('.'), t.hosted_zone_id()));
        if alias != Some((f.alb_dns.as_str(), f.alb_zone.as_str())) || rec.region().map(|r| r.as_str()) != Some(SET) {
            problems.push(format!("{}: record {name} is {rec:?}", a.name));
        }
        let Some(id) = rec.health_check_id() else {
            problems.push(format!("{}: record {name} has no health check", a.name));
            continue;
        };
        used.push(id.to_owned());
        let Some((c, tags)) = check(id) else {
            problems.push(format!(
                "{}: record {name} points at a missing or foreign check {id}",
                a.name
            ));
            continue;
        };
        let want_tags = [
            ("failover-agent.io/cluster", CLUSTER.to_owned()),
            ("failover-agent.io/app", app_tag.clone()),
            ("failover-agent.io/zone", f.zone.clone()),
            ("failover-agent.io/record", name.clone()),
            ("failover-agent.io/set", SET.to_owned()),
        ];
        for (k, v) in want_tags {
            if tags.get(k) != Some(&v) {
                problems.push(format!(
                    "{}: its {} has {k}={:?}, want {v:?}",
                    a.name,
                    describe_check(c, tags),
                    tags.get(k)
                ));
            }
        }
        let cfg = c.health_check_config().unwrap();
        let (ty, port) = if a.https { ("HTTPS", 443) } else { ("HTTP", 80) };
        let got = (
            cfg.r#type().as_str(),
            cfg.port(),
            cfg.resource_path(),
            cfg.fully_qualified_domain_name(),
            cfg.failure_threshold(),
        );
        let path = format!("/health/{}", a.name);
        if got
            != (
                ty,
                Some(port),
                Some(path.as_str()),
                Some(HOST),
                Some(a.threshold as i32),
            )
        {
            problems.push(format!("{}: its check {id} is {got:?}", a.name));
        }
        let owned = seen
            .checks
            .iter()
            .filter(|(_, t)| t.get("failover-agent.io/app") == Some(&app_tag))
            .count();
        if owned != 1 {
            problems.push(format!("{}: {owned} checks tagged {app_tag}, want 1", a.name));
        }
    }
    for (c, tags) in &seen.checks {
        if !used.iter().any(|u| u == c.id()) {
            problems.push(format!("leaked {} (no wanted record uses it)", describe_check(c, tags)));
        }
    }
    for r in &seen.records {
        let wanted = want
            .iter()
            .any(|a| r.name() == fqdn(a.record) && r.set_identifier() == Some(SET));
        if !wanted {
            let hc = r.health_check_id().unwrap_or("none");
            let of = seen
                .checks
                .iter()
                .find(|(c, _)| c.id() == hc)
                .map(|(c, t)| describe_check(c, t))
                .unwrap_or_else(|| format!("check {hc} (gone)"));
            problems.push(format!(
                "leaked record {} [{}] -> {of}",
                r.name(),
                r.set_identifier().unwrap_or("")
            ));
        }
    }
    problems
}

/// The steps an apply reports as failed, short: `app2: create check`, with
/// `(not tried)` for a step skipped because another one failed.
fn failed_steps(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("FAILED "))
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let verb = match t[0] {
                "+" => "create",
                "-" => "delete",
                _ => "change",
            };
            let app = |s: &str| s.trim_start_matches("static/").to_owned();
            let what = if t.get(1) == Some(&"record") {
                format!(
                    "{}: {verb} record {}",
                    app(t[2]),
                    t[3].trim_end_matches(".example.com.")
                )
            } else if l.contains(": tag as owned") {
                format!("{}: tag check as owned", app(t[3]))
            } else if l.contains(": re-tag") {
                format!("{}: re-tag check", app(t[3]))
            } else if l.contains("(the app is gone)") {
                format!("{}: delete check (app gone)", app(t[3]))
            } else if l.contains("(replaced by a new check)") {
                format!("{}: delete check (replaced)", app(t[3]))
            } else if verb == "change" {
                format!("{}: update check", app(t[3]))
            } else {
                format!("{}: {verb} check", app(t[3]))
            };
            // A step whose own call failed says `AWS <api> failed`; others were held back.
            match l.split_once(": AWS ") {
                Some((_, err)) => format!("{what} [{}]", err.split_whitespace().next().unwrap_or("")),
                None => format!("{what} (not tried)"),
            }
        })
        .collect()
}

/// The Route 53 calls of one clean `START` → `TARGET` apply, in order. Checks that
/// the clean apply converges, and that the stats agree with the launcher's count.
async fn clean_calls(w: &mut World) -> Vec<String> {
    w.f.moto.cmd(json!({"cmd": "stats_reset"}));
    w.fail_nth(0, 1);
    let (code, out) = w.f.cli("apply", &w.target);
    assert_eq!(code, 0, "a clean apply of the transition succeeds: {out}");
    let window = w.fail_nth(0, 1);
    let ops: Vec<String> = serde_json::from_value(window["ops"].clone()).unwrap();
    let stats = w.f.moto.stats();
    let counted: u64 = stats
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "throttled" | "injected"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        counted as usize,
        ops.len(),
        "stats and fail_nth count alike: {stats} {ops:?}"
    );
    for op in [
        "CreateHealthCheck",
        "ChangeTagsForResource",
        "UpdateHealthCheck",
        "ChangeResourceRecordSets",
        "DeleteHealthCheck",
    ] {
        assert!(ops.iter().any(|o| o == op), "the transition calls {op}: {ops:?}\n{out}");
    }
    let problems = audit(&w.f, &look(&w.f).await, &TARGET);
    assert!(problems.is_empty(), "a clean apply converges: {problems:#?}\n{out}");
    ops
}

/// A moto in the `START` state, and the Route 53 calls of a clean transition.
async fn prepare(name: &str) -> (World, Vec<String>) {
    let mut w = World::new();
    let ops = clean_calls(&mut w).await;
    println!(
        "{name}: a clean apply makes N = {} Route 53 calls: {}",
        ops.len(),
        ops.join(", ")
    );
    (w, ops)
}

/// For each K: back to `START`, fail the K-th call (and `times - 1` more) of an
/// apply of `TARGET`, then apply `TARGET` (or, `rollback`, `START`) twice. Panics
/// listing every K that did not converge.
async fn sweep(w: &mut World, ops: &[String], name: &str, times: u32, rollback: bool) {
    let (want, recover): (&[App], PathBuf) = if rollback {
        (&START, w.start.clone())
    } else {
        (&TARGET, w.target.clone())
    };
    let n = ops.len();
    let mut bad = Vec::new();
    for k in 1..=n {
        w.rebuild();
        w.fail_nth(k, times);
        let (code1, out1) = w.f.cli("apply", &w.target);
        let window = w.fail_nth(0, 1);
        let failed: Vec<String> = window["failed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f[1].as_str().unwrap().to_owned())
            .collect();
        let (code2, out2) = w.f.cli("apply", &recover);
        w.f.moto.cmd(json!({"cmd": "stats_reset"}));
        let (code3, out3) = w.f.cli("apply", &recover);
        let writes3 = w.writes();
        let mut problems = Vec::new();
        if code2 != 0 {
            problems.push(format!("recovery apply exit {code2}: {:?}", failed_steps(&out2)));
        }
        if code3 != 0 || !writes3.is_empty() {
            problems.push(format!(
                "third apply exit {code3}, writes {writes3:?}: {:?}",
                plan_lines(&out3)
            ));
        }
        problems.extend(audit(&w.f, &look(&w.f).await, want));
        // The step the K-th call belonged to: the first one whose own call failed.
        let steps = failed_steps(&out1);
        let own = steps.iter().find(|s| s.ends_with(']'));
        let step = match own {
            Some(s) => s.as_str(),
            None if ops[k - 1].starts_with("List") => "the read",
            None => "no step failed (the agent got past it)",
        };
        let others = steps.len() - usize::from(own.is_some());
        let line = format!(
            "{name} K={k:>2} {:<24} {step:<45} ({} call(s) failed; apply1 exit {code1}, {others} other step(s) failed or held) -> {}",
            ops[k - 1],
            failed.len(),
            if problems.is_empty() {
                "converged".to_owned()
            } else {
                format!("NOT CONVERGED: {}", problems.join("; "))
            }
        );
        println!("{line}");
        assert_eq!(
            failed.first().map(String::as_str),
            Some(ops[k - 1].as_str()),
            "the K-th call is the same as in the clean run"
        );
        if !problems.is_empty() {
            bad.push(line);
        }
    }
    assert!(
        bad.is_empty(),
        "{name}: {} of {n} K did not converge:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

fn plan_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with(['+', '~', '-'])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_route53_call_failing_once_still_converges_with_nothing_leaked() {
    let (mut w, ops) = prepare("one failed call").await;
    // A retryable error (500 InternalFailure) four times in a row on the record
    // batch: the agent's fifth attempt goes through, and the apply succeeds.
    let batch = ops.iter().position(|o| o == "ChangeResourceRecordSets").unwrap() + 1;
    w.rebuild();
    w.f.moto.cmd(json!({"cmd": "fail_nth", "n": batch, "times": 4}));
    let (code, out) = w.f.cli("apply", &w.target);
    let window = w.fail_nth(0, 1);
    assert_eq!(code, 0, "retried past four 500s: {out}");
    assert_eq!(window["failed"].as_array().unwrap().len(), 4, "{window}");
    let problems = audit(&w.f, &look(&w.f).await, &TARGET);
    assert!(problems.is_empty(), "{problems:#?}\n{out}");

    sweep(&mut w, &ops, "one failed call", 1, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_at_each_route53_call_still_converges_with_nothing_leaked() {
    let (mut w, ops) = prepare("crash").await;
    sweep(&mut w, &ops, "crash", FOREVER, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_after_a_crash_at_each_route53_call_converges_with_nothing_leaked() {
    let (mut w, ops) = prepare("crash+rollback").await;
    sweep(&mut w, &ops, "crash+rollback", FOREVER, true).await;
}
