//! The export rule: per-app verdict series on the leader only, all of them, and
//! transition counts that start at 0 in each term of leadership.

use crate::model::Counts;
use crate::model::TargetCounts;
use crate::model::{AppKey, Health, OverrideMode};
use crate::telemetry::Metrics;
use crate::verdict::policy::Decision;
use crate::verdict::store::App;
use crate::verdict::store::Apps;
use crate::verdict::store::Route53View;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

fn key(ns: &str, name: &str) -> AppKey {
    AppKey {
        namespace: ns.into(),
        name: name.into(),
    }
}

fn decision(health: Health) -> Decision {
    Decision {
        health,
        reason: format!("{health:?}"),
    }
}

/// A store of remote apps (as every in-cluster replica keeps), exported by `m`.
fn store(m: &Metrics, keys: &[AppKey]) -> Arc<Apps> {
    let apps = Arc::new(Apps::default());
    m.export_verdicts(apps.clone());
    put(m, &apps, keys);
    apps
}

fn put(m: &Metrics, apps: &Apps, keys: &[AppKey]) {
    let map: HashMap<String, Arc<App>> = keys
        .iter()
        .map(|k| {
            let app = match apps.get(&k.name) {
                Some(a) => a,
                None => Arc::new(App::remote(k.clone(), decision(Health::Healthy), m.for_remote_app())),
            };
            (k.name.clone(), app)
        })
        .collect();
    apps.replace(map);
}

/// Publishes `app` unhealthy (1 of 3 endpoints up) under `ovr`, with 1 of 4 ALB
/// targets healthy and Route 53's view `route53_healthy`.
fn fail(app: &App, ovr: OverrideMode, route53_healthy: bool) {
    let counts = Counts {
        total: 3,
        up: 1,
        down: 2,
        unknown: 0,
    };
    app.publish(decision(Health::Unhealthy), counts, ovr);
    let targets = TargetCounts {
        healthy: 1,
        total: 4,
        stale: false,
    };
    let r53 = Route53View {
        route53_healthy: Some(route53_healthy),
        ..Default::default()
    };
    app.publish_aws(Some(targets), Some(r53));
}

/// The per-app samples of `/metrics`, without comments.
fn app_lines(m: &Metrics) -> Vec<String> {
    String::from_utf8(m.encode())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("app=\""))
        .map(str::to_owned)
        .collect()
}

fn apps_with_series(m: &Metrics) -> BTreeSet<String> {
    app_lines(m)
        .iter()
        .filter_map(|l| {
            let start = l.find("app=\"")? + 5;
            Some(l[start..start + l[start..].find('"')?].to_string())
        })
        .collect()
}

fn value(m: &Metrics, line_start: &str) -> Option<f64> {
    app_lines(m)
        .iter()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[test]
fn only_the_leader_exports_per_app_series_and_all_of_them_go_when_it_steps_down() {
    let m = Metrics::new("r").unwrap();
    let apps = store(&m, &[key("team", "web"), key("shop", "db")]);
    let web = apps.get("web").unwrap();
    fail(&web, OverrideMode::Pass, false);

    // A follower serves both apps but exports none of their series.
    assert!(app_lines(&m).is_empty(), "{:?}", app_lines(&m));
    let text = String::from_utf8(m.encode()).unwrap();
    assert!(text.contains("failover_agent_leader 0"), "{text}");

    m.leader.set(1);
    assert_eq!(apps_with_series(&m), BTreeSet::from(["db".into(), "web".into()]));
    let want = [
        "failover_agent_app_healthy{app=\"web\",namespace=\"team\"} 0",
        "failover_agent_app_healthy{app=\"db\",namespace=\"shop\"} 1",
        "failover_agent_app_endpoints{app=\"web\",namespace=\"team\",state=\"up\"} 1",
        "failover_agent_app_endpoints{app=\"web\",namespace=\"team\",state=\"down\"} 2",
        "failover_agent_app_endpoints{app=\"web\",namespace=\"team\",state=\"unknown\"} 0",
        "failover_agent_app_override{app=\"web\",mode=\"pass\",namespace=\"team\"} 1",
        "failover_agent_app_override{app=\"web\",mode=\"fail\",namespace=\"team\"} 0",
        // Its transition happened before this term.
        "failover_agent_app_transitions_total{app=\"web\",namespace=\"team\",to=\"unhealthy\"} 0",
        "failover_agent_app_transitions_total{app=\"web\",namespace=\"team\",to=\"healthy\"} 0",
        "failover_agent_app_targets{app=\"web\",namespace=\"team\",state=\"healthy\"} 1",
        "failover_agent_app_targets{app=\"web\",namespace=\"team\",state=\"total\"} 4",
        "failover_agent_route53_healthy{app=\"web\",namespace=\"team\"} 0",
    ];
    let lines = app_lines(&m);
    for w in want {
        assert!(lines.iter().any(|l| l == w), "missing {w} in {lines:#?}");
    }
    // 8 series per app, 3 more with the ALB and Route 53 views; no probe series
    // (an in-cluster app's probes are its nodes' own).
    assert_eq!(lines.len(), 8 + 8 + 3, "{lines:#?}");
    let text = String::from_utf8(m.encode()).unwrap();
    assert!(
        text.contains("# TYPE failover_agent_app_transitions_total counter"),
        "{text}"
    );
    assert!(text.contains("# TYPE failover_agent_app_healthy gauge"), "{text}");

    // An app that leaves the store leaves with all its series.
    put(&m, &apps, &[key("team", "web")]);
    assert_eq!(apps_with_series(&m), BTreeSet::from(["web".into()]));

    // Stepping down drops every per-app series at once.
    m.leader.set(0);
    assert!(app_lines(&m).is_empty(), "{:?}", app_lines(&m));
}

#[test]
fn a_new_leader_counts_transitions_from_zero() {
    let m = Metrics::new("r").unwrap();
    let apps = store(&m, &[key("team", "web")]);
    let web = apps.get("web").unwrap();
    let flip = |h| web.publish(decision(h), Counts::default(), OverrideMode::None);
    let to = |h: &str| format!("failover_agent_app_transitions_total{{app=\"web\",namespace=\"team\",to=\"{h}\"}}");

    // Transitions seen as a follower are not exported, and not carried into a term.
    flip(Health::Unhealthy);
    flip(Health::Healthy);
    m.leader.set(1);
    let term = m.leader.term();
    assert_eq!(value(&m, &to("unhealthy")), Some(0.0));
    assert_eq!(value(&m, &to("healthy")), Some(0.0));
    flip(Health::Unhealthy);
    flip(Health::Healthy);
    flip(Health::Unhealthy);
    assert_eq!(value(&m, &to("unhealthy")), Some(2.0));
    assert_eq!(value(&m, &to("healthy")), Some(1.0));
    // A renewal (the gauge set to 1 again) is the same term.
    m.leader.set(1);
    assert_eq!(m.leader.term(), term);
    assert_eq!(value(&m, &to("unhealthy")), Some(2.0));

    // Stepped down, then leading again: a new term, counted from 0.
    m.leader.set(0);
    flip(Health::Healthy);
    assert_eq!(value(&m, &to("healthy")), None, "a follower exports no count");
    m.leader.set(1);
    assert_eq!(m.leader.term(), term + 1);
    assert_eq!(value(&m, &to("healthy")), Some(0.0));
    assert_eq!(value(&m, &to("unhealthy")), Some(0.0));
    flip(Health::Unhealthy);
    assert_eq!(value(&m, &to("unhealthy")), Some(1.0));
    assert_eq!(value(&m, &to("healthy")), Some(0.0));
}

#[test]
fn a_static_agent_leads_alone_and_exports_its_apps_with_their_probe_series() {
    let cfg = crate::spec::parse(
        "region: r\napps:\n  - name: web\n    endpoints: [\"http://127.0.0.1:1/\"]\n    policy: { override: fail }\n",
    )
    .unwrap();
    let m = Metrics::new("r").unwrap();
    let apps = Arc::new(Apps::from_config(&cfg.apps, &m));
    m.export_verdicts(apps.clone());
    // Probe series exist from the start (before leadership: they are per replica).
    let probes = app_lines(&m);
    // The histogram (6 buckets, +Inf, sum, count); outcome counters come with their
    // first outcome.
    assert_eq!(probes.len(), 9, "{probes:#?}");
    m.leader.set(1);
    let lines = app_lines(&m);
    assert_eq!(lines.len(), 9 + 8, "{lines:#?}");
    assert!(lines.contains(&"failover_agent_app_override{app=\"web\",mode=\"fail\",namespace=\"static\"} 1".into()));
    assert!(lines.contains(&"failover_agent_app_healthy{app=\"web\",namespace=\"static\"} 0".into()));
}

/// The reference the direct rendering must match: the same families built as
/// protobuf messages (as the collector once built them) and written by the
/// prometheus crate's `TextEncoder`.
fn reference(m: &Metrics) -> String {
    use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
    let label = |n: &str, v: &str| {
        let mut l = LabelPair::default();
        l.set_name(n.to_string());
        l.set_value(v.to_string());
        l
    };
    let sample = |key: &AppKey, extra: Option<(&str, &str)>, value: f64, kind: MetricType| {
        let mut labels = vec![label("app", &key.name), label("namespace", &key.namespace)];
        labels.extend(extra.map(|(n, v)| label(n, v)));
        labels.sort_by(|a, b| a.name().cmp(b.name()));
        let mut m = Metric::from_label(labels);
        if kind == MetricType::COUNTER {
            let mut c = Counter::default();
            c.set_value(value);
            m.set_counter(c);
        } else {
            let mut g = Gauge::default();
            g.set_value(value);
            m.set_gauge(g);
        }
        m
    };
    let source = m.verdicts.read().clone().unwrap();
    let term = m.leader.term();
    let mut out: [Vec<Metric>; 6] = Default::default();
    let g = MetricType::GAUGE;
    source.each(&mut |key, s| {
        let bit = |b: bool| f64::from(u8::from(b));
        out[0].push(sample(key, None, bit(s.health.is_healthy()), g));
        let [h, u] = s.transitions.in_term(term);
        out[1].push(sample(key, Some(("to", "healthy")), h as f64, MetricType::COUNTER));
        out[1].push(sample(key, Some(("to", "unhealthy")), u as f64, MetricType::COUNTER));
        for (state, n) in [
            ("up", s.counts.up),
            ("down", s.counts.down),
            ("unknown", s.counts.unknown),
        ] {
            out[2].push(sample(key, Some(("state", state)), n as f64, g));
        }
        for mode in [OverrideMode::Fail, OverrideMode::Pass] {
            out[3].push(sample(key, Some(("mode", mode.as_str())), bit(s.ovr == mode), g));
        }
        if let Some((healthy, total)) = s.targets {
            out[4].push(sample(key, Some(("state", "healthy")), f64::from(healthy), g));
            out[4].push(sample(key, Some(("state", "total")), f64::from(total), g));
        }
        if let Some(h) = s.route53_healthy {
            out[5].push(sample(key, None, bit(h), g));
        }
    });
    let families: Vec<MetricFamily> = super::FAMILIES
        .iter()
        .zip(out)
        .filter(|(_, metrics)| !metrics.is_empty())
        .map(|((name, help, kind, _), metrics)| {
            let mut f = MetricFamily::default();
            f.set_name(format!("failover_agent_{name}"));
            f.set_help(help.to_string());
            f.set_field_type(*kind);
            f.set_metric(metrics);
            f
        })
        .collect();
    prometheus::TextEncoder::new().encode_to_string(&families).unwrap()
}

#[test]
fn the_leader_series_are_written_exactly_as_the_text_encoder_writes_them() {
    let m = Metrics::new("r").unwrap();
    // Keys the text format must escape, beside plain ones.
    let odd = key("we\"ird", "back\\slash\nline");
    let apps = store(&m, &[key("team", "web"), key("shop", "db"), odd.clone()]);
    m.leader.set(1);
    let web = apps.get("web").unwrap();
    fail(&web, OverrideMode::Fail, true);
    let mut text = Vec::new();
    m.leader_series.as_ref().unwrap().render(&mut text);
    let text = String::from_utf8(text).unwrap();
    assert_eq!(text, reference(&m));
    assert!(
        text.contains("app=\"back\\\\slash\\nline\",namespace=\"we\\\"ird\""),
        "{text}"
    );
    assert!(
        text.contains("failover_agent_app_transitions_total{app=\"web\",namespace=\"team\",to=\"unhealthy\"} 1"),
        "{text}"
    );

    // A follower renders nothing.
    m.leader.set(0);
    let mut none = Vec::new();
    m.leader_series.as_ref().unwrap().render(&mut none);
    assert!(none.is_empty());
}
