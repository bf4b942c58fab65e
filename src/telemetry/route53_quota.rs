//! The Route 53 health-check quota series: `route53_health_checks{owner}` and
//! `route53_health_check_limit`. Account-wide facts, so exported by the leader
//! alone (like the per-app verdict series): the reconciler of a term sets them,
//! and a scrape renders them only while that term's leader still leads. Nothing is
//! exported before the first read, and a value never read (an unreadable quota)
//! is left out rather than shown as 0.

use super::verdicts::Leader;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGauge, IntGaugeVec, Opts};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Whose checks `route53_health_checks` counts: a metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckOwner {
    /// The checks this cluster's agent owns.
    Us,
    /// Every check in the AWS account (`GetAccountLimit`'s count).
    Account,
}

impl CheckOwner {
    pub const ALL: [CheckOwner; 2] = [CheckOwner::Us, CheckOwner::Account];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckOwner::Us => "us",
            CheckOwner::Account => "account",
        }
    }
}

/// The quota gauges; clones share them.
#[derive(Clone)]
pub struct QuotaGauges {
    leader: Leader,
    checks: IntGaugeVec,
    limit: IntGauge,
    inner: Arc<Inner>,
}

struct Inner {
    /// The term whose reconciler set the values (0: never set).
    term: AtomicU64,
    /// Bit 0: `us` set; bit 1: `account` and the limit set.
    known: AtomicU64,
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace("failover_agent")
}

impl QuotaGauges {
    /// The gauges, rendered while `leader` leads the term that set them.
    pub fn new(leader: Leader) -> Result<QuotaGauges, prometheus::Error> {
        Ok(QuotaGauges {
            leader,
            checks: IntGaugeVec::new(
                opts(
                    "route53_health_checks",
                    "Route 53 health checks: owner=us, this agent's; owner=account, every check in the AWS account.",
                ),
                &["owner"],
            )?,
            limit: IntGauge::with_opts(opts(
                "route53_health_check_limit",
                "The AWS account's health check quota (GetAccountLimit MAX_HEALTH_CHECKS_BY_OWNER).",
            ))?,
            inner: Arc::new(Inner {
                term: AtomicU64::new(0),
                known: AtomicU64::new(0),
            }),
        })
    }

    /// Sets this term's values: our checks, and the account's count and limit when
    /// they could be read (`None` keeps the last ones read this term).
    pub fn set(&self, ours: u64, account: Option<(u64, u64)>) {
        let term = self.leader.term();
        if self.inner.term.swap(term, Ordering::SeqCst) != term {
            self.inner.known.store(0, Ordering::SeqCst);
        }
        self.gauge(CheckOwner::Us).set(ours as i64);
        let mut known = 1;
        if let Some((count, limit)) = account {
            self.gauge(CheckOwner::Account).set(count as i64);
            self.limit.set(limit as i64);
            known |= 2;
        }
        self.inner.known.fetch_or(known, Ordering::SeqCst);
    }

    fn gauge(&self, owner: CheckOwner) -> IntGauge {
        self.checks.with_label_values(&[owner.as_str()])
    }
}

impl Collector for QuotaGauges {
    fn desc(&self) -> Vec<&Desc> {
        self.checks.desc().into_iter().chain(self.limit.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let term = self.inner.term.load(Ordering::SeqCst);
        if !self.leader.is_leading() || term == 0 || term != self.leader.term() {
            return Vec::new();
        }
        let known = self.inner.known.load(Ordering::SeqCst);
        let mut out = Vec::new();
        for mut family in self.checks.collect() {
            let wanted = |owner: CheckOwner| match owner {
                CheckOwner::Us => known & 1 != 0,
                CheckOwner::Account => known & 2 != 0,
            };
            family.mut_metric().retain(|m| {
                let label = m.get_label().first().map(|l| l.value());
                CheckOwner::ALL.iter().any(|o| wanted(*o) && label == Some(o.as_str()))
            });
            out.push(family);
        }
        if known & 2 != 0 {
            out.extend(self.limit.collect());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &prometheus::Registry) -> String {
        let mut buf = Vec::new();
        prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &r.gather(), &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn only_the_leader_of_the_term_that_read_them_exports_them() {
        let leader = Leader::new(IntGauge::new("leader", "l").unwrap());
        let q = QuotaGauges::new(leader.clone()).unwrap();
        let r = prometheus::Registry::new();
        r.register(Box::new(q.clone())).unwrap();
        leader.set(1);
        assert_eq!(text(&r), "", "nothing before the first read");
        q.set(12, None);
        let t = text(&r);
        assert!(
            t.contains("failover_agent_route53_health_checks{owner=\"us\"} 12"),
            "{t}"
        );
        assert!(
            !t.contains("owner=\"account\"") && !t.contains("health_check_limit"),
            "{t}"
        );
        q.set(12, Some((198, 200)));
        let t = text(&r);
        assert!(
            t.contains("failover_agent_route53_health_checks{owner=\"account\"} 198"),
            "{t}"
        );
        assert!(t.contains("failover_agent_route53_health_check_limit 200"), "{t}");
        leader.set(0);
        assert_eq!(text(&r), "", "a follower exports none");
        leader.set(1);
        assert_eq!(text(&r), "", "a new term exports none until its own read");
    }
}
