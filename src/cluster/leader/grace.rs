//! Start-up grace in the cluster: `policy.startupGraceSeconds`, read as static
//! mode reads it.
//!
//! In static mode an endpoint is `unknown` from the agent's start until its
//! probes reach `riseCount` successes or `fallCount` failures in a row, and grace
//! runs from that same start: within it an `unknown` endpoint counts as healthy,
//! after it as not healthy. In the cluster an endpoint's probe state comes from
//! the agent on its node, and can turn `unknown` at any time: a new Pod, a node's
//! agent that restarted, a new leader reading the reports afresh. So grace runs
//! per endpoint, from the moment this leader first saw it `unknown` in its
//! current spell (a spell ends when its state is `up` or `down`, or it leaves the
//! reports): within `startupGrace` of that moment an `unknown` endpoint counts as
//! healthy on its readiness, after it as not healthy. An endpoint with no probe
//! state at all (no live agent report names it) is judged on readiness alone, as
//! before: an agent's own trouble never fails an app.
//!
//! Guarantees:
//! - a spell starts at most once per `unknown` run, so grace is never extended by
//!   reports that repeat `unknown`;
//! - the leader folds an app again when one of its spells outlasts grace
//!   ([`Spells::due`], [`Spells::next_end`]), so the verdict changes then, not at the
//!   next unrelated change;
//! - spells live for one term: a new leader gives every `unknown` endpoint grace
//!   again, as a static agent does when it restarts.

use crate::model::EndpointState;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// The `unknown` spells of one app's endpoints, as this leader saw them.
#[derive(Debug, Default)]
pub struct Spells {
    /// When each endpoint now `unknown` was first seen so.
    since: HashMap<IpAddr, Instant>,
    /// The app's grace, from its spec when it was last folded; `None` before.
    grace: Option<Duration>,
    /// When the app was last folded.
    folded: Option<Instant>,
}

impl Spells {
    /// Brings the spells in line with the app's probe states `probes` at `now`:
    /// an endpoint `unknown` now and not before starts a spell, one no longer
    /// `unknown` (or gone) ends its spell.
    pub fn observe(&mut self, probes: Option<&HashMap<IpAddr, EndpointState>>, now: Instant) {
        let unknown = |ip: &IpAddr| probes.and_then(|p| p.get(ip)) == Some(&EndpointState::Unknown);
        self.since.retain(|ip, _| unknown(ip));
        for (ip, state) in probes.into_iter().flatten() {
            if *state == EndpointState::Unknown {
                self.since.entry(*ip).or_insert(now);
            }
        }
    }

    /// True when no endpoint of the app is `unknown`.
    pub fn is_empty(&self) -> bool {
        self.since.is_empty()
    }

    /// Records a fold of the app at `now` with grace `grace`.
    pub fn folded(&mut self, grace: Duration, now: Instant) {
        self.grace = Some(grace);
        self.folded = Some(now);
    }

    /// True while an `unknown` endpoint at `ip` is within `grace` of its spell's
    /// start at `now` (and for one that has no spell: it starts now).
    pub fn in_grace(&self, ip: IpAddr, grace: Duration, now: Instant) -> bool {
        self.since.get(&ip).is_none_or(|since| now < *since + grace)
    }

    /// How many spells have outlasted the grace of the last fold at `now`: an
    /// input of the app's digest, so the app is folded again when this changes.
    pub fn expired(&self, now: Instant) -> usize {
        let Some(grace) = self.grace else { return 0 };
        self.since.values().filter(|s| now >= **s + grace).count()
    }

    /// The end of the earliest spell still in grace at `now`.
    pub fn next_end(&self, now: Instant) -> Option<Instant> {
        let grace = self.grace?;
        self.since.values().map(|s| *s + grace).filter(|end| *end > now).min()
    }

    /// True when a spell ended its grace after the last fold and by `now`: the
    /// app's verdict may have changed since.
    pub fn due(&self, now: Instant) -> bool {
        let (Some(grace), Some(folded)) = (self.grace, self.folded) else {
            return false;
        };
        self.since.values().any(|s| {
            let end = *s + grace;
            end > folded && end <= now
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_spell_starts_once_per_unknown_run_and_ends_its_grace_on_time() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let grace = Duration::from_secs(5);
        let unknown = HashMap::from([(ip, EndpointState::Unknown)]);
        let up = HashMap::from([(ip, EndpointState::Up)]);
        let t0 = Instant::now();
        let mut s = Spells::default();
        s.observe(Some(&unknown), t0);
        s.folded(grace, t0);
        assert!(s.in_grace(ip, grace, t0) && !s.due(t0));
        assert_eq!(s.next_end(t0), Some(t0 + grace));
        tokio::time::advance(Duration::from_secs(3)).await;
        s.observe(Some(&unknown), Instant::now());
        assert!(
            s.in_grace(ip, grace, Instant::now()),
            "a repeated unknown does not restart grace"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        let now = Instant::now();
        assert!(!s.in_grace(ip, grace, now));
        assert!(s.due(now) && s.expired(now) == 1 && s.next_end(now).is_none());
        s.folded(grace, now);
        assert!(!s.due(now), "folded since");

        // Up ends the spell; unknown again (the node's agent restarted) starts a new one.
        s.observe(Some(&up), now);
        assert!(s.is_empty());
        s.observe(Some(&unknown), now);
        assert!(s.in_grace(ip, grace, now));
        s.observe(None, now);
        assert!(s.is_empty(), "gone from the reports");
    }
}
