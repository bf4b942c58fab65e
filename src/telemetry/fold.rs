//! The leader's fold: how long each pass takes (over every app, or over the apps
//! whose inputs changed), and how many apps it recomputed. A constant number of
//! series on every replica (a follower's stay at zero), so the cost of the
//! incremental fold (`sources/kube/pass.rs`) is visible in production, not only
//! in the bench.

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

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

/// Which apps a pass looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassKind {
    /// Every app: the first pass of a term, after an `AppHealth` changed, a watch
    /// relisted, the AWS results or the Kubernetes source's health changed, and
    /// at least once every resync period.
    Full,
    /// Only the apps fed by the EndpointSlices and probe reports that changed.
    Changes,
}

impl PassKind {
    const ALL: [PassKind; 2] = [PassKind::Full, PassKind::Changes];

    fn as_str(self) -> &'static str {
        match self {
            PassKind::Full => "full",
            PassKind::Changes => "changes",
        }
    }
}

/// `failover_agent_fold_pass_duration_seconds{kind}` and `failover_agent_fold_apps_total{result}`.
#[derive(Clone)]
pub struct FoldMetrics {
    pass_duration: [Histogram; 2],
    apps: [IntCounter; 2],
}

impl FoldMetrics {
    /// Registers the fold's series in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<FoldMetrics> {
        let pass_duration = HistogramVec::new(
            HistogramOpts::new(
                "fold_pass_duration_seconds",
                "Duration of one pass of the leader's fold (over every app, or over the apps whose inputs changed), including the status writes it makes.",
            )
            .namespace("failover_agent")
            .buckets(PASS_BUCKETS.to_vec()),
            &["kind"],
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
            pass_duration: PassKind::ALL.map(|k| pass_duration.with_label_values(&[k.as_str()])),
            apps: Folded::ALL.map(|f| apps.with_label_values(&[f.as_str()])),
        })
    }

    /// The duration histogram of passes of `kind`.
    pub fn pass_duration(&self, kind: PassKind) -> &Histogram {
        &self.pass_duration[kind as usize]
    }

    /// Counts `n` apps that a pass `result`.
    pub fn count(&self, result: Folded, n: u64) {
        self.apps[result as usize].inc_by(n);
    }
}
