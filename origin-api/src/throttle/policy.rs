//! The progressive-delay rule, with time passed in: no database, no clock.
//!
//! A key (an account, a client address) may fail `allowed_failures` times freely. From then on each
//! attempt must wait after the last failure: [`FIRST_DELAY_SECS`], doubling with every further
//! failure, capped at `max_delay_secs`. The count is forgotten once `window_secs` have passed since
//! the last failure *and* its delay, so waiting out the delays never buys fresh free attempts sooner.
//!
//! Every attempt is counted as a failure *before* it runs (a reservation) and refunded if it turns
//! out otherwise: concurrent attempts then see each other, and 64 of them at once against one
//! account get `allowed_failures` password checks, not 64.

/// The first wait once the free failures are used up.
pub const FIRST_DELAY_SECS: i64 = 30;

/// A tenant's knobs for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub allowed_failures: u32,
    pub window_secs: i64,
    pub max_delay_secs: i64,
}

/// What is stored for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub failures: u32,
    /// Unix seconds of the last counted failure.
    pub last_failure_at: i64,
}

/// The answer to "may one more attempt run now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run it, counted as a failure until refunded; `remaining` free failures are left after it.
    Reserved { record: Record, remaining: u32 },
    /// Refuse it without running it, for `retry_after_secs` (≥ 1).
    Blocked { retry_after_secs: i64 },
}

impl Policy {
    /// How long after the last failure the next attempt must wait, given `failures` so far.
    pub fn delay_after(&self, failures: u32) -> i64 {
        if failures < self.allowed_failures {
            return 0;
        }
        let doublings = failures - self.allowed_failures;
        let delay = if doublings >= 32 {
            i64::MAX
        } else {
            FIRST_DELAY_SECS.saturating_mul(1_i64 << doublings)
        };
        delay.min(self.max_delay_secs)
    }

    /// The failures that still count at `now`.
    pub fn live_failures(&self, record: Option<Record>, now: i64) -> u32 {
        match record {
            Some(r) => {
                let forgotten_at = r
                    .last_failure_at
                    .saturating_add(self.delay_after(r.failures))
                    .saturating_add(self.window_secs);
                if now >= forgotten_at {
                    0
                } else {
                    r.failures
                }
            }
            None => 0,
        }
    }

    /// Decides one attempt at `now`. A failure recorded later than `now` (another transaction's
    /// clock read a moment later) counts as having happened at `now`.
    pub fn decide(&self, record: Option<Record>, now: i64) -> Decision {
        let record = record.map(|r| Record {
            last_failure_at: r.last_failure_at.min(now),
            ..r
        });
        let failures = self.live_failures(record, now);
        if failures > 0 {
            let last = record.map_or(now, |r| r.last_failure_at);
            let wait = last.saturating_add(self.delay_after(failures)) - now;
            if wait > 0 {
                return Decision::Blocked {
                    retry_after_secs: wait,
                };
            }
        }
        let failures = failures.saturating_add(1);
        Decision::Reserved {
            record: Record {
                failures,
                last_failure_at: now,
            },
            remaining: self.allowed_failures.saturating_sub(failures),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        allowed_failures: 5,
        window_secs: 900,
        max_delay_secs: 900,
    };

    /// Runs `n` attempts at `now`, each failing; returns how many ran.
    fn fail_many(record: &mut Option<Record>, n: usize, now: i64) -> usize {
        let mut ran = 0;
        for _ in 0..n {
            if let Decision::Reserved { record: r, .. } = P.decide(*record, now) {
                *record = Some(r);
                ran += 1;
            }
        }
        ran
    }

    #[test]
    fn the_free_failures_run_then_each_attempt_waits_longer_up_to_the_cap() {
        let mut record = None;
        assert_eq!(fail_many(&mut record, 30, 1_000), 5, "30 at once: 5 run");
        assert_eq!(
            P.decide(record, 1_000),
            Decision::Blocked {
                retry_after_secs: 30
            }
        );
        assert_eq!(
            P.decide(record, 1_029),
            Decision::Blocked {
                retry_after_secs: 1
            }
        );
        let mut now = 1_000;
        let mut waits = vec![];
        for _ in 0..8 {
            let wait = P.delay_after(P.live_failures(record, now));
            now = record.unwrap().last_failure_at + wait;
            waits.push(wait);
            assert_eq!(fail_many(&mut record, 3, now), 1, "one attempt per delay");
        }
        assert_eq!(waits, vec![30, 60, 120, 240, 480, 900, 900, 900]);
    }

    #[test]
    fn the_count_is_forgotten_only_a_window_after_the_last_delay_ends() {
        let mut record = None;
        fail_many(&mut record, 5, 0);
        // Blocked for 30 s, then remembered for the window.
        assert_eq!(P.live_failures(record, 30 + 899), 5);
        assert_eq!(P.live_failures(record, 30 + 900), 0);
        assert!(matches!(
            P.decide(record, 930),
            Decision::Reserved { remaining: 4, .. }
        ));
    }

    #[test]
    fn remaining_counts_down_the_free_failures() {
        let remaining: Vec<u32> = (0..5)
            .scan(None, |record, _| match P.decide(*record, 0) {
                Decision::Reserved {
                    record: r,
                    remaining,
                } => {
                    *record = Some(r);
                    Some(remaining)
                }
                Decision::Blocked { .. } => None,
            })
            .collect();
        assert_eq!(remaining, vec![4, 3, 2, 1, 0]);
    }

    #[test]
    fn a_failure_recorded_a_moment_in_the_future_blocks_nothing_below_the_allowance() {
        let record = Some(Record {
            failures: 3,
            last_failure_at: 1_001,
        });
        assert!(matches!(
            P.decide(record, 1_000),
            Decision::Reserved { remaining: 1, .. }
        ));
    }

    #[test]
    fn huge_counts_and_times_never_overflow() {
        let record = Some(Record {
            failures: u32::MAX,
            last_failure_at: i64::MAX - 10,
        });
        assert_eq!(P.delay_after(u32::MAX), 900);
        assert!(matches!(
            P.decide(record, i64::MAX - 5),
            Decision::Blocked { .. }
        ));
    }
}
