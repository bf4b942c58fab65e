//! The leader's fold: how long each pass over every app takes, and how many apps
//! it recomputed. A constant number of series on every replica (a follower's stay
//! at zero), so the cost of the incremental fold (`sources/kube/pass.rs`) is
//! visible in production, not only in the bench.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

/// Pass durations, in seconds: a pass that recomputes one app is well under a
/// millisecond at 1,000 apps; the first pass of a term recomputes every app.
const PASS_BUCKETS: &[f64] = &[0.001, 0.005, 0.025, 0.1, 0.5, 2.5];

/// What a pass did with one served app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Folded {
    /// Its inputs changed (or its last write failed): folded and written if different.
    Recomputed,
    /// Its inputs were those it was last found in line with: skipped.
    Unchanged,
}

impl Folded {
    const ALL: [Folded; 2] = [Folded::Recomputed, Folded::Unchanged];

    fn as_str(self) -> &'static str {
        match self {
            Folded::Recomputed => "recomputed",
            Folded::Unchanged => "unchanged",
        }
    }
}

/// `failover_agent_fold_pass_duration_seconds` and `failover_agent_fold_apps_total`.
#[derive(Clone)]
pub struct FoldMetrics {
    pub pass_duration: Histogram,
    apps: [IntCounter; 2],
}

impl FoldMetrics {
    /// Registers the fold's series in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<FoldMetrics> {
        let pass_duration = Histogram::with_opts(
            HistogramOpts::new(
                "fold_pass_duration_seconds",
                "Duration of one pass of the leader's fold over every app, including the status writes it makes.",
            )
            .namespace("failover_agent")
            .buckets(PASS_BUCKETS.to_vec()),
        )?;
        let apps = IntCounterVec::new(
            Opts::new(
                "fold_apps_total",
                "Served apps met by the leader's fold passes: recomputed (inputs changed) or unchanged (skipped).",
            )
            .namespace("failover_agent"),
            &["result"],
        )?;
        registry.register(Box::new(pass_duration.clone()))?;
        registry.register(Box::new(apps.clone()))?;
        Ok(FoldMetrics {
            pass_duration,
            apps: Folded::ALL.map(|f| apps.with_label_values(&[f.as_str()])),
        })
    }

    /// Counts `n` apps that a pass `result`.
    pub fn count(&self, result: Folded, n: u64) {
        self.apps[result as usize].inc_by(n);
    }
}
