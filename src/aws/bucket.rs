//! A client-side token bucket: the agent's own share of an AWS rate limit.
//!
//! AWS meters most APIs with an account-wide token bucket that every client in the
//! account drains together (ELBv2 Describe calls: 40 burst, 10/s). The agent keeps
//! its own smaller bucket in front of each API family so that its calls can never
//! use more than its share, however many apps or target groups it serves.

use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A token bucket refilled at `rate` tokens per second, holding at most `burst`.
///
/// [`TokenBucket::take`] waits for a token. Waiters are served in arrival order
/// (Tokio's mutex is fair), so one busy app cannot starve the others.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket. `rate` must be positive and `burst` at least 1.
    pub fn new(rate: f64, burst: u32) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate: rate.max(0.001),
            burst,
            state: Mutex::new(State {
                tokens: burst,
                at: Instant::now(),
            }),
        }
    }

    /// The refill rate, in tokens per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Waits until a token is available and takes it.
    pub async fn take(&self) {
        let mut s = self.state.lock().await;
        self.refill(&mut s);
        if s.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - s.tokens) / self.rate);
            tokio::time::sleep(wait).await;
            self.refill(&mut s);
        }
        s.tokens = (s.tokens - 1.0).max(0.0);
    }

    /// Empties the bucket: called when AWS throttles us anyway (another client in
    /// the account is using the shared budget), so the next calls slow down to the
    /// refill rate.
    pub async fn drain(&self) {
        let mut s = self.state.lock().await;
        self.refill(&mut s);
        s.tokens = 0.0;
    }

    fn refill(&self, s: &mut State) {
        let now = Instant::now();
        let gained = now.duration_since(s.at).as_secs_f64() * self.rate;
        s.tokens = (s.tokens + gained).min(self.burst);
        s.at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's side of the meter: the account bucket, fed the agent's call times.
    struct AwsBucket {
        tokens: f64,
        at: Instant,
        rate: f64,
        burst: f64,
        throttled: u32,
    }

    impl AwsBucket {
        fn call(&mut self, now: Instant) {
            self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
            self.at = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
            } else {
                self.throttled += 1;
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn five_hundred_target_groups_never_trip_elbv2s_account_bucket() {
        // Our default share (a quarter of 10/s, burst 10) against AWS's 40 burst, 10/s,
        // with the rest of the account (the Load Balancer Controller) using half of it.
        let ours = TokenBucket::new(2.5, 10);
        let start = Instant::now();
        let mut aws = AwsBucket {
            tokens: 40.0,
            at: start,
            rate: 5.0,
            burst: 40.0,
            throttled: 0,
        };
        for _round in 0..3 {
            for _tg in 0..500 {
                ours.take().await;
                aws.call(Instant::now());
            }
        }
        assert_eq!(aws.throttled, 0);
        // 1,500 calls at 2.5/s after a burst of 10: the bucket really paces.
        let took = Instant::now().duration_since(start).as_secs_f64();
        assert!((595.0..=597.0).contains(&took), "took {took}s");
    }

    #[tokio::test(start_paused = true)]
    async fn drain_slows_the_next_call_to_the_refill_rate() {
        let b = TokenBucket::new(0.5, 5);
        let t0 = Instant::now();
        b.take().await;
        assert_eq!(Instant::now(), t0, "a full bucket does not wait");
        b.drain().await;
        b.take().await;
        assert_eq!(Instant::now().duration_since(t0), Duration::from_secs(2));
    }
}
