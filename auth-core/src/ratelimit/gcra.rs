//! The generic cell rate algorithm (GCRA): one timestamp per key, exact, no background work.
//!
//! A [`Rate`] of `amount` per `period` with a `burst` admits a request at `now` when the key's
//! theoretical arrival time (TAT) plus one emission interval `T = period / amount` is at most
//! `now + burst × T`. That is a token bucket of `burst` tokens refilled at `amount / period`, kept as
//! one number. Over any interval of length `t` it admits at most `t × amount / period + burst`
//! requests, and it admits every request a perfect limiter of that bound would (property tests
//! below).
//!
//! Arithmetic is exact: times are whole milliseconds, and inside they are scaled by `amount`
//! (`T` becomes `period` in milliseconds), so no emission interval is ever rounded.

use serde::{Deserialize, Serialize};

/// Shortest and longest period a limit may have.
pub const MIN_PERIOD_SECS: u32 = 1;
pub const MAX_PERIOD_SECS: u32 = 86_400;
/// Bounds that keep the scaled arithmetic far from overflow and the numbers meaningful.
pub const MAX_AMOUNT: u32 = 1_000_000;

/// `amount` requests per `period_secs`, with up to `burst` at once from an idle key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub amount: u32,
    pub period_secs: u32,
    pub burst: u32,
}

impl Rate {
    /// The rate, or why it is unusable.
    pub fn new(amount: u32, period_secs: u32, burst: u32) -> Result<Rate, String> {
        if !(1..=MAX_AMOUNT).contains(&amount) {
            return Err(format!("amount must be from 1 to {MAX_AMOUNT}"));
        }
        if !(MIN_PERIOD_SECS..=MAX_PERIOD_SECS).contains(&period_secs) {
            return Err(format!(
                "period must be from {MIN_PERIOD_SECS} s to {MAX_PERIOD_SECS} s (a day)"
            ));
        }
        if !(1..=MAX_AMOUNT).contains(&burst) {
            return Err(format!("burst must be from 1 to {MAX_AMOUNT}"));
        }
        Ok(Rate {
            amount,
            period_secs,
            burst,
        })
    }

    /// Requests per second, for capacity checks.
    pub fn per_second(&self) -> f64 {
        f64::from(self.amount) / f64::from(self.period_secs)
    }

    /// The emission interval, scaled (milliseconds × amount).
    fn interval(&self) -> u128 {
        u128::from(self.period_secs) * 1000
    }

    fn scaled(&self, ms: u64) -> u128 {
        u128::from(ms) * u128::from(self.amount)
    }

    /// Scaled time back to milliseconds, rounded up (a client told to wait must not be early).
    fn ms_ceil(&self, scaled: u128) -> u64 {
        let amount = u128::from(self.amount);
        u64::try_from(scaled.div_ceil(amount)).unwrap_or(u64::MAX)
    }
}

/// What the limiter said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub allowed: bool,
    /// Requests that would still be admitted right now (after this one, when it was admitted).
    pub remaining: u64,
    /// Milliseconds until the key is back to a full burst.
    pub reset_ms: u64,
    /// Milliseconds until a refused request would be admitted; 0 when admitted.
    pub retry_after_ms: u64,
}

/// One key's state: its theoretical arrival time, scaled. `Default` is an idle key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Gcra {
    tat: u128,
}

impl Gcra {
    /// Asks to admit `cost` requests at `now_ms`: all of them or none.
    pub fn take(&mut self, rate: &Rate, now_ms: u64, cost: u32) -> Verdict {
        let now = rate.scaled(now_ms);
        let ceiling = now + u128::from(rate.burst) * rate.interval();
        let base = self.tat.max(now);
        let after = base + u128::from(cost) * rate.interval();
        if after <= ceiling {
            self.tat = after;
            Verdict {
                allowed: true,
                remaining: remaining(rate, ceiling - after),
                reset_ms: rate.ms_ceil(after - now),
                retry_after_ms: 0,
            }
        } else {
            Verdict {
                allowed: false,
                remaining: remaining(rate, ceiling.saturating_sub(base)),
                reset_ms: rate.ms_ceil(base - now),
                retry_after_ms: rate.ms_ceil(after - ceiling),
            }
        }
    }

    /// Records `cost` requests admitted elsewhere at `now_ms`, whether or not they fit: the
    /// approximate tier's isolates report what they already let through.
    pub fn record(&mut self, rate: &Rate, now_ms: u64, cost: u32) {
        self.tat = self.tat.max(rate.scaled(now_ms)) + u128::from(cost) * rate.interval();
    }

    /// What a request at `now_ms` would be told, without taking anything.
    pub fn peek(&self, rate: &Rate, now_ms: u64) -> Verdict {
        let mut probe = *self;
        probe.take(rate, now_ms, 1)
    }

    /// The later of two states of the same key and rate (what both sides have counted).
    pub fn merge(&mut self, other: Gcra) {
        self.tat = self.tat.max(other.tat);
    }

    /// Whether the key is back to a full burst at `now_ms` (its state can be forgotten).
    pub fn is_idle(&self, rate: &Rate, now_ms: u64) -> bool {
        self.tat <= rate.scaled(now_ms)
    }

    /// How many milliseconds of requests this state has counted beyond `earlier` (an older state
    /// of the same key and rate).
    pub fn lead_ms(&self, rate: &Rate, earlier: &Gcra) -> u64 {
        rate.ms_ceil(self.tat.saturating_sub(earlier.tat))
    }

    /// Milliseconds of backlog the key holds at `now_ms`: how far its TAT is ahead.
    pub fn ahead_ms(&self, rate: &Rate, now_ms: u64) -> u64 {
        rate.ms_ceil(self.tat.saturating_sub(rate.scaled(now_ms)))
    }
}

fn remaining(rate: &Rate, room: u128) -> u64 {
    u64::try_from(room / rate.interval()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The bound a perfect limiter keeps: over every closed interval `[s, t]`, at most
    /// `(t − s) × amount / period + burst` admitted requests. In integers:
    /// `count × period_ms ≤ (t − s) × amount + burst × period_ms`.
    fn within_bound(rate: &Rate, count: u64, span_ms: u64) -> bool {
        let period_ms = u128::from(rate.period_secs) * 1000;
        u128::from(count) * period_ms
            <= u128::from(span_ms) * u128::from(rate.amount) + u128::from(rate.burst) * period_ms
    }

    /// The perfect limiter: admits a request exactly when admitting it keeps every interval ending
    /// now within the bound, given the requests admitted so far. Quadratic and obviously right.
    fn perfect_admits(rate: &Rate, admitted: &[u64], now: u64) -> bool {
        // Only intervals starting at an admitted request (or now) can be the tightest.
        let starts = admitted.iter().copied().chain([now]);
        starts.into_iter().all(|s| {
            let count = admitted.iter().filter(|&&a| a >= s).count() as u64 + 1;
            within_bound(rate, count, now - s)
        })
    }

    fn rates() -> impl Strategy<Value = Rate> {
        (1u32..=50, 1u32..=120, 1u32..=20).prop_map(|(a, p, b)| Rate::new(a, p, b).unwrap())
    }

    /// Arrival times: bursts (gap 0) and gaps up to a few periods, in milliseconds.
    fn arrivals() -> impl Strategy<Value = Vec<u64>> {
        prop::collection::vec(
            prop_oneof![Just(0u64), 0u64..50, 0u64..5_000, 0u64..300_000],
            1..200,
        )
        .prop_map(|gaps| {
            gaps.into_iter()
                .scan(1_700_000_000_000u64, |t, g| {
                    *t += g;
                    Some(*t)
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn gcra_admits_exactly_what_a_perfect_limiter_admits(rate in rates(), times in arrivals()) {
            let mut gcra = Gcra::default();
            let mut admitted: Vec<u64> = Vec::new();
            for &now in &times {
                let verdict = gcra.take(&rate, now, 1);
                let perfect = perfect_admits(&rate, &admitted, now);
                prop_assert_eq!(verdict.allowed, perfect, "at {} after {:?}", now, admitted);
                if verdict.allowed {
                    admitted.push(now);
                }
            }
        }

        #[test]
        fn no_interval_ever_holds_more_than_rate_times_t_plus_burst(rate in rates(), times in arrivals()) {
            let mut gcra = Gcra::default();
            let admitted: Vec<u64> = times.iter().copied().filter(|&t| gcra.take(&rate, t, 1).allowed).collect();
            for (i, &s) in admitted.iter().enumerate() {
                for (j, &t) in admitted.iter().enumerate().skip(i) {
                    prop_assert!(within_bound(&rate, (j - i + 1) as u64, t - s), "[{}, {}] holds {}", s, t, j - i + 1);
                }
            }
        }

        #[test]
        fn a_refused_request_is_admitted_exactly_when_told_and_not_a_millisecond_before(
            rate in rates(), times in arrivals()
        ) {
            let mut gcra = Gcra::default();
            for &now in &times {
                let verdict = gcra.take(&rate, now, 1);
                if !verdict.allowed {
                    prop_assert_eq!(verdict.remaining, 0);
                    let wait = verdict.retry_after_ms;
                    prop_assert!(wait > 0);
                    prop_assert!(!gcra.peek(&rate, now + wait - 1).allowed);
                    prop_assert!(gcra.peek(&rate, now + wait).allowed);
                }
            }
        }

        #[test]
        fn remaining_counts_the_requests_that_would_still_pass(rate in rates(), times in arrivals()) {
            let mut gcra = Gcra::default();
            for &now in &times {
                let verdict = gcra.take(&rate, now, 1);
                let mut probe = gcra;
                let passing = (0..=verdict.remaining + 1).take_while(|_| probe.take(&rate, now, 1).allowed).count() as u64;
                prop_assert_eq!(passing, verdict.remaining);
            }
        }
    }

    #[test]
    fn an_idle_key_gets_its_burst_then_one_request_per_interval() {
        let rate = Rate::new(10, 60, 3).unwrap();
        let mut g = Gcra::default();
        let t0 = 1_000_000;
        for left in [2, 1, 0] {
            let v = g.take(&rate, t0, 1);
            assert!(v.allowed);
            assert_eq!(v.remaining, left);
        }
        let refused = g.take(&rate, t0, 1);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_ms, 6_000, "one interval: 60 s / 10");
        assert_eq!(refused.reset_ms, 18_000, "three intervals to a full burst");
        assert!(g.take(&rate, t0 + 6_000, 1).allowed);
        assert!(g.is_idle(&rate, t0 + 6_000 + 18_000));
    }

    #[test]
    fn recorded_usage_counts_even_beyond_the_limit() {
        let rate = Rate::new(1, 1, 1).unwrap();
        let mut g = Gcra::default();
        g.record(&rate, 0, 5);
        assert_eq!(g.ahead_ms(&rate, 0), 5_000);
        assert_eq!(g.peek(&rate, 3_999).retry_after_ms, 1_001);
        assert!(g.peek(&rate, 5_000).allowed);
        let mut other = Gcra::default();
        other.merge(g);
        assert_eq!(other, g);
    }

    #[test]
    fn rates_outside_the_bounds_are_refused() {
        assert!(Rate::new(0, 60, 1).is_err());
        assert!(Rate::new(1, 0, 1).is_err());
        assert!(Rate::new(1, 86_401, 1).is_err());
        assert!(Rate::new(1, 86_400, 0).is_err());
        assert!(Rate::new(MAX_AMOUNT, 1, MAX_AMOUNT).is_ok());
    }
}
