//! The health-check quota preflight, pure: given a [`Plan`] and what the account
//! uses ([`Usage`]), which apps' new checks do not fit, and the plan without them.
//!
//! Two limits bound the checks a plan may create:
//! - the account's quota, `MAX_HEALTH_CHECKS_BY_OWNER` (`GetAccountLimit`: its value
//!   and the account's current count; 200 by default), and
//! - AWS's 1,000 `CreateHealthCheck` requests in a rolling 24 h, which no API
//!   reports: the agent counts its own requests ([`CreateLog`], in memory, so a
//!   restart or a new leader starts from 0, and other tools' creates are not seen).
//!
//! Guarantees of [`plan_within`]:
//! - the plan it returns creates at most the room both limits leave (an unread
//!   account quota bounds nothing: the reader logs why);
//! - an app that does not fit is held **whole**, through the plan's own hold (the
//!   same one an invalid spec gets): none of its objects is created, changed or
//!   collected, so it never gets half its objects and never loses what it has;
//! - apps are admitted in `desired` order (callers put the oldest first): the
//!   newest apps are the ones held, and every app that creates nothing (apps
//!   already running) is planned exactly as without the preflight.

use super::objects::{Actual, DesiredApp, Hold, Owner};
use super::plan::{plan_holding, Conflict, Plan, Step};
use crate::model::AppKey;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::{Duration, SystemTime};

/// The `GetAccountLimit` type the preflight reads.
pub const LIMIT_TYPE: &str = "MAX_HEALTH_CHECKS_BY_OWNER";

/// AWS's limit on `CreateHealthCheck` requests per account in a rolling 24 h
/// (Route 53 developer guide, "Quotas": "a maximum of 1000 CreateHealthCheck
/// requests in a 24-hour period"; not readable from any API).
pub const DAILY_CREATES: u64 = 1000;

/// The window [`DAILY_CREATES`] counts over.
pub const DAY: Duration = Duration::from_secs(24 * 3600);

/// The account's health-check quota and how much of it is used, as AWS reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Account {
    /// `Limit.Value`.
    pub limit: u64,
    /// `Count`: every health check in the account, ours and others'.
    pub count: u64,
}

/// What the preflight knows of the account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// `None` when `GetAccountLimit` could not be read: the quota then bounds nothing.
    pub account: Option<Account>,
    /// Checks this cluster owns (from the reconcile's own read).
    pub ours: u64,
    /// `CreateHealthCheck` requests this process made in the last 24 h.
    pub created_today: u64,
}

/// Which limit leaves the least room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    Quota,
    DailyCreates,
}

impl Usage {
    /// Checks that can still be created, and which limit says so.
    pub fn room(&self) -> (u64, Bound) {
        let today = DAILY_CREATES.saturating_sub(self.created_today);
        match self.account {
            Some(a) if a.limit.saturating_sub(a.count) <= today => (a.limit.saturating_sub(a.count), Bound::Quota),
            _ => (today, Bound::DailyCreates),
        }
    }
}

/// What the preflight decided for one plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub usage: Usage,
    /// Checks the returned plan creates.
    pub creates: u64,
    /// Apps that needed a new check before the preflight.
    pub wanting: usize,
    /// Apps held because their checks do not fit, in `desired` order.
    pub held: Vec<AppKey>,
}

impl Verdict {
    /// True when every app's checks fit.
    pub fn fits(&self) -> bool {
        self.held.is_empty()
    }

    /// Why the held apps are held (`None` when every app fits): how many do not
    /// fit, what the binding limit is, and what to do about it.
    pub fn message(&self) -> Option<String> {
        if self.fits() {
            return None;
        }
        let (n, of) = (self.held.len(), self.wanting);
        Some(match (self.usage.room().1, self.usage.account) {
            (Bound::Quota, Some(a)) => format!(
                "health check quota: {n} of {of} app(s) needing a new check do not fit (account uses {} of {} {LIMIT_TYPE}); ask AWS to raise the quota",
                a.count, a.limit
            ),
            _ => format!(
                "health check create budget: {n} of {of} app(s) needing a new check do not fit ({} of AWS's {DAILY_CREATES} CreateHealthCheck requests a day made in the last 24 h); they follow as the day's requests age out",
                self.usage.created_today
            ),
        })
    }
}

/// The quota line of `route53 plan`: used and limit, creates in this plan, and
/// whether they fit.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.usage;
        match u.account {
            Some(a) => write!(f, "Quota: account uses {} of {} {LIMIT_TYPE}", a.count, a.limit)?,
            None => write!(f, "Quota: {LIMIT_TYPE} unknown (GetAccountLimit failed)")?,
        }
        write!(
            f,
            ", {} ours; {} of {DAILY_CREATES} creates a day used by this process; this plan creates {}",
            u.ours, u.created_today, self.creates
        )?;
        match self.held.len() {
            0 => write!(f, ": fits."),
            n => write!(f, ": {n} of {} app(s) needing a new check do not fit.", self.wanting),
        }
    }
}

/// The checks each app creates in `plan`.
fn creates_by_app(plan: &Plan) -> BTreeMap<&AppKey, u64> {
    let mut by_app = BTreeMap::new();
    for s in &plan.steps {
        if let Step::CreateCheck { app, .. } = s {
            *by_app.entry(app).or_insert(0) += 1;
        }
    }
    by_app
}

/// The apps whose creates in `plan` do not fit `room`: apps are admitted whole in
/// `desired` order while their creates fit; the first that does not, and every
/// later app that creates anything, is returned.
pub fn preflight(plan: &Plan, desired: &[DesiredApp], room: u64) -> Vec<AppKey> {
    let by_app = creates_by_app(plan);
    let mut left = room;
    let mut full = false;
    let mut out = Vec::new();
    for d in desired {
        let Some(&n) = by_app.get(&d.key) else { continue };
        if !full && n <= left {
            left -= n;
        } else {
            full = true;
            out.push(d.key.clone());
        }
    }
    out
}

/// [`plan_holding`], with the apps whose new checks do not fit `usage` held whole
/// (each with an error saying why). Re-plans until the plan fits: holding an app
/// can let a later app claim a record, and that app's creates are checked too.
pub fn plan_within(
    owner: &Owner,
    desired: &[DesiredApp],
    hold: &Hold,
    actual: &Actual,
    usage: &Usage,
) -> (Plan, Verdict) {
    let (room, _) = usage.room();
    let mut hold = hold.clone();
    let mut p = plan_holding(owner, desired, &hold, actual);
    let wanting = creates_by_app(&p).len();
    let mut held: Vec<AppKey> = Vec::new();
    loop {
        let more = preflight(&p, desired, room);
        if more.is_empty() {
            break;
        }
        hold.apps.extend(more.iter().cloned());
        held.extend(more);
        p = plan_holding(owner, desired, &hold, actual);
    }
    let mut v = Verdict {
        usage: usage.clone(),
        creates: creates_by_app(&p).values().sum(),
        wanting: wanting.max(held.len()),
        held,
    };
    v.held.sort_by_key(|k| desired.iter().position(|d| d.key == *k));
    if let Some(message) = v.message() {
        for app in &v.held {
            p.errors.push(Conflict {
                app: app.clone(),
                message: message.clone(),
            });
        }
    }
    (p, v)
}

/// The `CreateHealthCheck` requests this process sent in the last 24 h.
#[derive(Debug, Default)]
pub struct CreateLog {
    sent: VecDeque<SystemTime>,
}

impl CreateLog {
    /// Notes `n` requests sent at `now`.
    pub fn record(&mut self, n: usize, now: SystemTime) {
        self.sent.extend(std::iter::repeat_n(now, n));
    }

    /// The requests sent in the 24 h up to `now`; older ones are forgotten.
    pub fn count(&mut self, now: SystemTime) -> u64 {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t).unwrap_or_default() >= DAY)
        {
            self.sent.pop_front();
        }
        self.sent.len() as u64
    }
}

#[cfg(test)]
#[path = "quota_tests.rs"]
mod tests;
