//! The I/O half of the quota preflight ([`super::quota`]): reads the account's
//! health-check quota and usage (`GetAccountLimit MAX_HEALTH_CHECKS_BY_OWNER`),
//! counts this process's `CreateHealthCheck` requests, and plans within both.
//!
//! When it reads: before every plan that creates a check, and otherwise every
//! [`REREAD_EVERY`] (for the metrics); at most once per reconcile, through its own
//! rate bucket. A read that fails leaves the quota unknown, which bounds nothing
//! (logged): AWS itself still refuses a create past the quota, with
//! `TooManyHealthChecks`, and `apply` reports that per app.

use super::objects::{Actual, Desired, Owner};
use super::plan::{plan_holding, Plan, Step};
use super::quota::{self, Account, CreateLog, Usage, Verdict};
use crate::aws::{Api, CallError, Caller};
use crate::telemetry::QuotaGauges;
use aws_sdk_route53::types::AccountLimitType;
use aws_sdk_route53::Client;
use std::time::{Duration, Instant, SystemTime};

/// How long a reading serves the reconciles that create nothing.
pub const REREAD_EVERY: Duration = Duration::from_secs(300);

/// Reads the account's health-check quota and count.
pub async fn read_account(r53: &Client, caller: &Caller) -> Result<Account, CallError> {
    let out = caller
        .call(Api::GetAccountLimit, || {
            r53.get_account_limit()
                .r#type(AccountLimitType::MaxHealthChecksByOwner)
                .send()
        })
        .await?;
    let limit = out.limit().map(|l| l.value()).unwrap_or_default();
    Ok(Account {
        limit: u64::try_from(limit).unwrap_or_default(),
        count: u64::try_from(out.count()).unwrap_or_default(),
    })
}

/// One reconciler's view of the quota: the last reading, and the creates this
/// process sent in the last 24 h (in memory: a restart or a new term starts at 0).
pub struct Quota {
    reading: Option<(Account, Instant)>,
    creates: CreateLog,
    gauges: Option<QuotaGauges>,
}

impl Quota {
    /// A view with nothing read yet, exporting to `gauges` if given.
    pub fn new(gauges: Option<QuotaGauges>) -> Quota {
        Quota {
            reading: None,
            creates: CreateLog::default(),
            gauges,
        }
    }

    /// Plans `desired` against `actual` as [`plan_holding`] does, and, when that
    /// plan creates checks, holds whole the newest apps whose checks do not fit
    /// ([`quota::plan_within`]). Sets the gauges.
    pub async fn plan(
        &mut self,
        r53: &Client,
        caller: &Caller,
        owner: &Owner,
        desired: &Desired,
        actual: &Actual,
    ) -> (Plan, Verdict) {
        let p = plan_holding(owner, &desired.apps, &desired.hold, actual);
        let creates = p.steps.iter().any(|s| matches!(s, Step::CreateCheck { .. }));
        let stale = self.reading.as_ref().is_none_or(|(_, at)| at.elapsed() >= REREAD_EVERY);
        if creates || stale {
            self.refresh(r53, caller).await;
        }
        let usage = Usage {
            account: self.reading.map(|(a, _)| a),
            ours: actual.checks.iter().filter(|c| owner.owns(c)).count() as u64,
            created_today: self.creates.count(SystemTime::now()),
        };
        if let Some(g) = &self.gauges {
            g.set(usage.ours, usage.account.map(|a| (a.count, a.limit)));
        }
        if !creates {
            let v = Verdict {
                usage,
                ..Verdict::default()
            };
            return (p, v);
        }
        let (p, v) = quota::plan_within(owner, &desired.apps, &desired.hold, actual, &usage);
        if let Some(m) = v.message() {
            tracing::warn!(held = v.held.len(), creates = v.creates, "{m}");
        }
        (p, v)
    }

    /// Notes `n` `CreateHealthCheck` requests sent just now.
    pub fn sent(&mut self, n: usize) {
        self.creates.record(n, SystemTime::now());
    }

    async fn refresh(&mut self, r53: &Client, caller: &Caller) {
        match read_account(r53, caller).await {
            Ok(a) => self.reading = Some((a, Instant::now())),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the health check quota (route53:GetAccountLimit); planning without it");
                self.reading = None;
            }
        }
    }
}
