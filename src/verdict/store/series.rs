//! The verdict store as the leader's per-app metric series see it
//! (`telemetry::verdicts` renders them at each scrape).

use super::{App, Apps};
use crate::model::AppKey;
use crate::model::Counts;
use crate::telemetry::{AppSeries, VerdictSource};

impl App {
    /// What the app's verdict series say now.
    pub fn series(&self) -> AppSeries {
        let inner = self.inner.lock();
        let counts = match self.judge {
            super::Judge::Leader => inner.remote_counts,
            super::Judge::Here(_) => Counts::of(inner.trackers.iter().map(|t| &t.state)),
        };
        AppSeries {
            health: inner.decision.health,
            counts,
            ovr: inner.ovr,
            transitions: inner.counted,
            targets: inner.alb.map(|a| (a.healthy, a.total)),
            route53_healthy: inner.route53.as_ref().and_then(|r| r.route53_healthy),
            dns_shares: inner
                .route53
                .as_ref()
                .and_then(|r| r.dns.as_ref())
                .map(|d| d.shares.clone()),
        }
    }
}

impl VerdictSource for Apps {
    fn each(&self, f: &mut dyn FnMut(&AppKey, &AppSeries)) {
        for app in self.by_name.load().values() {
            f(&app.key, &app.series());
        }
    }
}
