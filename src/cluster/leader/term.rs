//! One term of leadership: from the Lease renewal that made this replica the
//! leader to the moment it may no longer write.
//!
//! A [`Term`] carries a [`CancellationToken`] (a child of the agent's shutdown) that
//! every leader duty runs under, and a deadline on this process's monotonic clock:
//! the start of the last successful renewal plus [`RENEW_DEADLINE`]. It is the
//! [`Fence`] of every leader-only write:
//!
//! - a write may start only while at least [`FENCE_MARGIN`] of the term is left;
//! - the first check that finds less ends the term: its token is cancelled, so the
//!   fold, status writes and Route 53 reconcile in flight are dropped at once;
//! - an ended term never opens again. If the Lease is renewed after all, the
//!   election starts a new term and the duties start afresh.
//!
//! Why this holds off a second writer: another replica takes over only after it has
//! seen the Lease unchanged for a whole lease duration on its own clock (see
//! `leader::decide`). That window starts no earlier than our last successful renewal
//! did, so it closes at least `LEASE_DURATION - RENEW_DEADLINE` after this term ends.

use crate::fence::{Fence, Lost};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long after the start of its last successful renewal a leader may still act.
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// A write starts only while at least this much of the term is left.
pub const FENCE_MARGIN: Duration = Duration::from_secs(2);

/// One term of leadership; clones share it.
#[derive(Clone, Debug)]
pub struct Term {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    token: CancellationToken,
    valid_until: Mutex<Instant>,
}

impl Term {
    /// A term that began with a renewal started at `renewed`; it ends when `parent` is cancelled.
    pub fn begin(parent: &CancellationToken, renewed: Instant) -> Term {
        Term {
            inner: Arc::new(Inner {
                token: parent.child_token(),
                valid_until: Mutex::new(renewed + RENEW_DEADLINE),
            }),
        }
    }

    /// Cancelled when the term ends. Every leader duty runs under it.
    pub fn token(&self) -> &CancellationToken {
        &self.inner.token
    }

    /// When the term runs out unless it is renewed again.
    pub fn valid_until(&self) -> Instant {
        *self.inner.valid_until.lock()
    }

    /// True once the term has ended.
    pub fn is_over(&self) -> bool {
        self.inner.token.is_cancelled()
    }

    /// A renewal started at `renewed` succeeded: the term runs to `renewed + RENEW_DEADLINE`.
    /// Never moves the deadline back, and does nothing to an ended term.
    pub fn renewed(&self, renewed: Instant) {
        let mut until = self.inner.valid_until.lock();
        if !self.is_over() {
            *until = (*until).max(renewed + RENEW_DEADLINE);
        }
    }

    /// Ends the term now.
    pub fn end(&self) {
        self.inner.token.cancel();
    }
}

impl Fence for Term {
    fn check(&self) -> Result<(), Lost> {
        if self.is_over() {
            return Err(Lost("this replica's term as leader is over".into()));
        }
        let until = self.valid_until();
        let now = Instant::now();
        if now + FENCE_MARGIN > until {
            self.end();
            return Err(Lost(format!(
                "the Lease was not renewed in time: {:?} of the term left, {FENCE_MARGIN:?} needed",
                until.saturating_duration_since(now)
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_fence_closes_margin_before_the_deadline_and_stays_closed() {
        let shutdown = CancellationToken::new();
        let t0 = Instant::now();
        let term = Term::begin(&shutdown, t0);
        assert_eq!(term.valid_until(), t0 + RENEW_DEADLINE);
        assert!(term.check().is_ok());
        tokio::time::advance(RENEW_DEADLINE - FENCE_MARGIN).await;
        assert!(term.check().is_ok(), "exactly the margin left is enough");
        term.renewed(t0 + Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(term.check().is_ok(), "a renewal moved the deadline");
        tokio::time::advance(Duration::from_secs(1) + Duration::from_millis(1)).await;
        let lost = term.check().expect_err("less than the margin left");
        assert!(lost.0.contains("not renewed in time"), "{lost}");
        assert!(term.token().is_cancelled(), "the closed fence ended the term");
        term.renewed(Instant::now());
        assert!(term.check().is_err(), "an ended term never opens again");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_the_term_and_renewals_never_shorten_it() {
        let shutdown = CancellationToken::new();
        let t0 = Instant::now();
        let term = Term::begin(&shutdown, t0);
        term.renewed(t0 - Duration::from_secs(5));
        assert_eq!(
            term.valid_until(),
            t0 + RENEW_DEADLINE,
            "a late answer to an older renewal"
        );
        let clone = term.clone();
        shutdown.cancel();
        assert!(clone.is_over());
        assert!(term.check().is_err());
    }
}
