//! What an isolate keeps per key: for the approximate tier, its own view of the key's GCRA
//! ([`LocalShare`]); for the exact tier, the refusals it already knows ([`KnownRefusal`]).
//!
//! **Approximate tier.** An isolate decides from its view, with no round trip. Its view counts what
//! it admitted itself plus what the key's object (the same one the exact tier uses) last told it;
//! it reports what it admitted in the background — once `batch` admissions are unreported, or on
//! the first admission a second after the last report — and adopts the object's answer. Refusals
//! are never reported: a client over its limit costs no call at all.
//!
//! Error bound. The view only ever misses admissions (those other isolates have not reported yet),
//! so it never refuses a request the exact limiter would have admitted on the same history, and
//! over any interval of length `t` the key admits at most
//! `t × amount / period + burst + N × U`, where `N` is the number of isolates serving the key and
//! `U` what one isolate admits between two answers from the object (its view may miss what others
//! admitted meanwhile): at most `batch`, plus what it admits while one report is on its way. With
//! one isolate (a single `wrangler dev`) it admits exactly what the exact tier does. Reported admissions are recorded at the time of the first of them, so a report
//! arriving late never makes the key look busier than it was.
//!
//! **Hot keys.** The object sees one call per `batch` admissions per isolate, and none for refused
//! requests, so a tenant-wide key at thousands of requests a second costs its object tens of calls
//! a second (`batch` is a tenth of the burst, at most 100); the exact tier refuses such keys at
//! build time (`policy::MAX_EXACT_PER_SECOND`).

use super::gcra::{Gcra, Rate, Verdict};
use crate::ttl_cache::TtlCache;
use std::hash::Hash;

/// A report is sent at least this often while a key keeps admitting.
pub const REPORT_INTERVAL_MS: u64 = 1_000;
/// The most admissions an isolate batches into one report.
pub const MAX_BATCH: u32 = 100;

/// One isolate's view of one key (approximate tier).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalShare {
    view: Gcra,
    /// Admitted here and not yet reported.
    unreported: u32,
    /// When the first unreported admission happened.
    unreported_since_ms: u64,
    last_report_ms: Option<u64>,
    /// A report is on its way: its cost, and when it was sent.
    in_flight: Option<SyncReport>,
}

/// Admissions to record in the key's object: `cost` of them, the first at `since_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncReport {
    pub cost: u32,
    pub since_ms: u64,
}

impl LocalShare {
    /// Admissions batched into one report for `rate`: a tenth of the burst, from 1 to [`MAX_BATCH`].
    pub fn batch(rate: &Rate) -> u32 {
        (rate.burst / 10).clamp(1, MAX_BATCH)
    }

    /// Decides a request at `now_ms` from this isolate's view; the report to send in the
    /// background, if one is due.
    pub fn take(&mut self, rate: &Rate, now_ms: u64) -> (Verdict, Option<SyncReport>) {
        let verdict = self.view.take(rate, now_ms, 1);
        if !verdict.allowed {
            return (verdict, None);
        }
        if self.unreported == 0 {
            self.unreported_since_ms = now_ms;
        }
        self.unreported += 1;
        let due = self.unreported >= Self::batch(rate)
            || self
                .last_report_ms
                .is_none_or(|last| now_ms >= last + REPORT_INTERVAL_MS);
        if !due || self.in_flight.is_some() {
            return (verdict, None);
        }
        let report = SyncReport {
            cost: self.unreported,
            since_ms: self.unreported_since_ms,
        };
        self.unreported = 0;
        self.last_report_ms = Some(now_ms);
        self.in_flight = Some(report);
        (verdict, Some(report))
    }

    /// The object's state after it recorded `report` (and everyone else's): adopted, with what this
    /// isolate admitted meanwhile counted on top.
    pub fn reconcile(&mut self, rate: &Rate, object: Gcra, now_ms: u64) {
        self.in_flight = None;
        let mut seen = object;
        if self.unreported > 0 {
            seen.record(rate, self.unreported_since_ms.min(now_ms), self.unreported);
        }
        self.view.merge(seen);
    }

    /// The report could not be delivered: its admissions stay unreported, to go with the next one.
    pub fn report_failed(&mut self, report: SyncReport) {
        self.in_flight = None;
        self.unreported_since_ms = if self.unreported == 0 {
            report.since_ms
        } else {
            self.unreported_since_ms.min(report.since_ms)
        };
        self.unreported += report.cost;
    }

    /// Milliseconds for which this view still matters after `now_ms`.
    pub fn keep_ms(&self, rate: &Rate, now_ms: u64) -> u64 {
        self.view.ahead_ms(rate, now_ms) + REPORT_INTERVAL_MS
    }
}

/// An isolate's [`LocalShare`]s, one per key (of the approximate tier's limits), each kept for its
/// [`LocalShare::keep_ms`] after it was last touched, at most `capacity` of them.
#[derive(Debug)]
pub struct Shares<K> {
    cache: TtlCache<K, LocalShare>,
}

impl<K: Hash + Eq + Clone> Shares<K> {
    pub fn new(capacity: usize) -> Self {
        Shares {
            cache: TtlCache::new(capacity),
        }
    }

    /// [`LocalShare::take`] on `key`'s share.
    pub fn take(&mut self, key: &K, rate: &Rate, now_ms: u64) -> (Verdict, Option<SyncReport>) {
        let mut share = self.cache.get(key, now_ms as i64).unwrap_or_default();
        let decided = share.take(rate, now_ms);
        self.keep(key.clone(), share, rate, now_ms);
        decided
    }

    /// What became of `report`: the object's state (`Ok`, reconciled) or a failure (its admissions
    /// go with the next report). Always written back, also when nothing is left to report: the
    /// share held the report as in flight, and a share left so would never report the key again
    /// while it keeps admitting (measured: an isolate at one connection stopped reporting at all).
    pub fn answered(&mut self, key: K, rate: &Rate, answer: Result<Gcra, SyncReport>, now_ms: u64) {
        let mut share = self.cache.get(&key, now_ms as i64).unwrap_or_default();
        match answer {
            Ok(state) => share.reconcile(rate, state, now_ms),
            Err(report) => share.report_failed(report),
        }
        self.keep(key, share, rate, now_ms);
    }

    fn keep(&mut self, key: K, share: LocalShare, rate: &Rate, now_ms: u64) {
        let until = now_ms + share.keep_ms(rate, now_ms);
        self.cache.insert(key, share, until as i64);
    }
}

/// An exact-tier refusal an isolate remembers until it lapses: until then no request of the key can
/// be admitted anywhere (a GCRA's arrival time only moves forward), so refusing locally is exact
/// and spares the object the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownRefusal {
    retry_at_ms: u64,
    reset_at_ms: u64,
}

impl KnownRefusal {
    /// The refusal `verdict` said at `now_ms`; `None` for an admission.
    pub fn of(verdict: &Verdict, now_ms: u64) -> Option<KnownRefusal> {
        (!verdict.allowed).then(|| KnownRefusal {
            retry_at_ms: now_ms + verdict.retry_after_ms,
            reset_at_ms: now_ms + verdict.reset_ms,
        })
    }

    /// The refusal as it stands at `now_ms`, or `None` once it has lapsed (ask the object again).
    pub fn at(&self, now_ms: u64) -> Option<Verdict> {
        (now_ms < self.retry_at_ms).then(|| Verdict {
            allowed: false,
            remaining: 0,
            reset_ms: self.reset_at_ms.saturating_sub(now_ms),
            retry_after_ms: self.retry_at_ms - now_ms,
        })
    }

    /// When it lapses.
    pub fn retry_at_ms(&self) -> u64 {
        self.retry_at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The key's object: records what isolates report, answers its state.
    #[derive(Default)]
    struct Object {
        gcra: Gcra,
        calls: u32,
    }

    impl Object {
        fn report(&mut self, rate: &Rate, r: SyncReport) -> Gcra {
            self.calls += 1;
            self.gcra.record(rate, r.since_ms, r.cost);
            self.gcra
        }
    }

    fn within(rate: &Rate, count: u64, span_ms: u64, slack: u64) -> bool {
        let period_ms = u128::from(rate.period_secs) * 1000;
        u128::from(count) * period_ms
            <= u128::from(span_ms) * u128::from(rate.amount)
                + u128::from(u64::from(rate.burst) + slack) * period_ms
    }

    /// Runs requests `(time, isolate)` through `n` isolates whose reports reach the object at once;
    /// answers the admitted times and the object's call count.
    fn run(rate: &Rate, n: usize, requests: &[(u64, usize)]) -> (Vec<u64>, u32) {
        let mut object = Object::default();
        let mut isolates = vec![LocalShare::default(); n];
        let mut admitted = Vec::new();
        for &(now, i) in requests {
            let share = &mut isolates[i % n];
            let (verdict, report) = share.take(rate, now);
            if let Some(r) = report {
                let state = object.report(rate, r);
                share.reconcile(rate, state, now);
            }
            if verdict.allowed {
                admitted.push(now);
            }
        }
        (admitted, object.calls)
    }

    fn requests() -> impl Strategy<Value = Vec<(u64, usize)>> {
        prop::collection::vec(
            (prop_oneof![Just(0u64), 0u64..20, 0u64..2_000], 0usize..8),
            1..300,
        )
        .prop_map(|steps| {
            steps
                .into_iter()
                .scan(1_700_000_000_000u64, |t, (gap, i)| {
                    *t += gap;
                    Some((*t, i))
                })
                .collect()
        })
    }

    fn rates() -> impl Strategy<Value = Rate> {
        (1u32..=50, 1u32..=30, 1u32..=60).prop_map(|(a, p, b)| Rate::new(a, p, b).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn over_any_interval_the_excess_is_at_most_a_batch_per_isolate(
            rate in rates(), n in 1usize..8, reqs in requests()
        ) {
            let (admitted, _) = run(&rate, n, &reqs);
            let slack = n as u64 * u64::from(LocalShare::batch(&rate));
            for (i, &s) in admitted.iter().enumerate() {
                for (j, &t) in admitted.iter().enumerate().skip(i) {
                    prop_assert!(within(&rate, (j - i + 1) as u64, t - s, slack),
                        "[{}, {}] holds {} (n {}, slack {})", s, t, j - i + 1, n, slack);
                }
            }
        }

        #[test]
        fn with_one_isolate_it_admits_exactly_what_the_exact_tier_admits(
            rate in rates(), reqs in requests()
        ) {
            let (approximate, _) = run(&rate, 1, &reqs);
            let mut exact = Gcra::default();
            let expected: Vec<u64> = reqs.iter().map(|r| r.0).filter(|&t| exact.take(&rate, t, 1).allowed).collect();
            prop_assert_eq!(approximate, expected);
        }
    }

    #[test]
    fn a_hot_tenant_key_costs_its_object_a_call_per_batch_and_nothing_for_refusals() {
        // A tenant-wide limit of 5,000 a second, hit at 10,000 a second from 8 isolates for 2 s.
        let rate = Rate::new(5_000, 1, 5_000).unwrap();
        let t0 = 1_700_000_000_000u64;
        let reqs: Vec<(u64, usize)> = (0..20_000u64)
            .map(|k| (t0 + k / 10, (k % 8) as usize))
            .collect();
        let (admitted, calls) = run(&rate, 8, &reqs);
        assert_eq!(LocalShare::batch(&rate), 100);
        let bound = 2 * 5_000 + 5_000 + 8 * 100;
        assert!(
            admitted.len() >= 10_000,
            "the rate itself passes: {}",
            admitted.len()
        );
        assert!(admitted.len() <= bound, "{} > {bound}", admitted.len());
        assert!(
            u64::from(calls) <= admitted.len() as u64 / 100 + 8 * 3,
            "{calls} object calls for {} admissions",
            admitted.len()
        );
    }

    #[test]
    fn an_answer_with_nothing_left_to_report_lets_the_next_batch_go() {
        // A hot key at 1,000,000 a second (batch 100): its view is always idle, and at one
        // connection the object often answers before the next admission.
        let rate = Rate::new(1_000_000, 1, 1_000_000).unwrap();
        let mut shares = Shares::new(8);
        let mut object = Object::default();
        let mut reports = 0;
        for t in 0..1_000u64 {
            let (verdict, report) = shares.take(&"k", &rate, t);
            assert!(verdict.allowed);
            if let Some(r) = report {
                reports += 1;
                // Answered a millisecond later, before the next admission: nothing unreported.
                shares.answered("k", &rate, Ok(object.report(&rate, r)), t + 1);
            }
        }
        // The first admission is reported at once, then one report per 100.
        assert_eq!(reports, 10, "{reports} reports for 1,000 admissions");
        assert_eq!(object.calls, 10);
    }

    #[test]
    fn admissions_made_while_a_report_was_on_its_way_still_count_after_its_answer() {
        let rate = Rate::new(10, 10, 10).unwrap();
        let mut share = LocalShare::default();
        let (_, report) = share.take(&rate, 0);
        for t in 1..=5 {
            assert_eq!(share.take(&rate, t).1, None, "one report at a time");
        }
        let mut object = Gcra::default();
        object.record(&rate, 0, 3); // another isolate's
        object.record(&rate, report.unwrap().since_ms, 1);
        share.reconcile(&rate, object, 6);
        let (verdict, _) = share.take(&rate, 6);
        assert!(verdict.allowed);
        assert_eq!(
            verdict.remaining, 0,
            "3 elsewhere, 6 here before, and this one"
        );
    }

    #[test]
    fn a_failed_report_goes_with_the_next_one() {
        let rate = Rate::new(100, 60, 100).unwrap();
        let mut share = LocalShare::default();
        let (_, first) = share.take(&rate, 1_000);
        let first = first.expect("the first admission is reported at once");
        assert_eq!(first.cost, 1);
        share.report_failed(first);
        for t in 1_001..1_009 {
            assert_eq!(share.take(&rate, t).1, None, "batched");
        }
        let (_, next) = share.take(&rate, 1_009);
        assert_eq!(
            next,
            Some(SyncReport {
                cost: 10,
                since_ms: 1_000
            })
        );
    }

    #[test]
    fn what_the_object_says_others_admitted_is_refused_here() {
        let rate = Rate::new(10, 10, 10).unwrap();
        let mut share = LocalShare::default();
        let (_, report) = share.take(&rate, 0);
        let mut object = Gcra::default();
        object.record(&rate, 0, 10); // another isolate admitted the rest of the burst
        object.record(&rate, report.unwrap().since_ms, 1);
        share.reconcile(&rate, object, 5);
        let (verdict, report) = share.take(&rate, 5);
        assert!(!verdict.allowed);
        assert_eq!(report, None, "refusals cost no call");
    }

    #[test]
    fn a_known_refusal_lasts_until_its_retry_time() {
        let refused = Verdict {
            allowed: false,
            remaining: 0,
            reset_ms: 9_000,
            retry_after_ms: 1_500,
        };
        let known = KnownRefusal::of(&refused, 10_000).unwrap();
        assert_eq!(
            known.at(10_500),
            Some(Verdict {
                allowed: false,
                remaining: 0,
                reset_ms: 8_500,
                retry_after_ms: 1_000
            })
        );
        assert_eq!(known.at(11_500), None);
        let admitted = Verdict {
            allowed: true,
            ..refused
        };
        assert_eq!(KnownRefusal::of(&admitted, 0), None);
    }
}
