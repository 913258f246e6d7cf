//! The route's rate limits, at one stage of the request: each limit's key is worked out from the
//! request (and, after authentication, the verified token) by `auth_core::policy::Limit::key`, and
//! decided by its tier.
//!
//! - `exact`: the key's `RateLimiter` object decides; a refusal it gave is remembered here until it
//!   lapses (`KnownRefusal`: exact, and a refused client costs no call).
//! - `approximate`: this isolate decides from its `LocalShare`; what it admitted is reported to the
//!   key's object after the answer has gone (`wait_until`), and the object's state adopted.
//!
//! A limiter that cannot answer is logged, and its limit's `on_error` decides: never a 5xx.

use crate::error::EdgeError;
use crate::isolate::{AdapterCall, Edge};
use auth_core::policy::{KeyFacts, Limit, LimitKey, Route, Stage, Tier};
use auth_core::ratelimit::{KnownRefusal, Shares, SyncReport, Tally};
use auth_core::ttl_cache::TtlCache;
use durable_objects::RateLimiterClient;
use std::rc::Rc;
use worker::Context;

/// Keys whose state an isolate keeps, per tier.
const KEYS_KEPT: usize = 8_192;

/// What an isolate remembers of the keys it has seen.
pub struct IsolateLimits {
    refusals: TtlCache<LimitKey, KnownRefusal>,
    shares: Shares<LimitKey>,
}

impl Default for IsolateLimits {
    fn default() -> Self {
        IsolateLimits {
            refusals: TtlCache::new(KEYS_KEPT),
            shares: Shares::new(KEYS_KEPT),
        }
    }
}

/// Applies `route`'s limits of `stage` to the request described by `facts`, noting each verdict in
/// `tally`. `Err(RateLimited)` once one refuses.
pub async fn check(
    edge: &Rc<Edge>,
    ctx: &Context,
    route: &Route,
    stage: Stage,
    facts: &KeyFacts<'_>,
    tally: &mut Tally,
) -> Result<(), EdgeError> {
    for limit in edge.config.policy.limits_of(route, stage) {
        let key = limit.key(facts);
        let now = now_ms();
        match limit.tier {
            Tier::Exact => exact(edge, limit, &key, now, tally).await,
            Tier::Approximate => approximate(edge, ctx, limit, key, now, tally),
        }
        if let Some(refusal) = tally.refusal() {
            return Err(EdgeError::RateLimited(refusal));
        }
    }
    Ok(())
}

async fn exact(edge: &Edge, limit: &Limit, key: &LimitKey, now: u64, tally: &mut Tally) {
    let known = edge.limits.borrow_mut().refusals.get(key, now as i64);
    if let Some(verdict) = known.and_then(|k| k.at(now)) {
        tally.add(limit, verdict);
        return;
    }
    edge.count(AdapterCall::RateLimiter);
    let asked = match client(edge, key) {
        Ok(client) => client.take(limit.rate).await,
        Err(e) => Err(e),
    };
    match asked {
        Ok(verdict) => {
            if let Some(refusal) = KnownRefusal::of(&verdict, now) {
                let until = refusal.retry_at_ms() as i64;
                edge.limits
                    .borrow_mut()
                    .refusals
                    .insert(key.clone(), refusal, until);
            }
            tally.add(limit, verdict);
        }
        Err(e) => {
            worker::console_error!(
                "ratelimit.unavailable limit.name={} limit.on_error={:?} error={e}",
                limit.name,
                limit.on_error
            );
            tally.add_unavailable(limit);
        }
    }
}

fn approximate(
    edge: &Rc<Edge>,
    ctx: &Context,
    limit: &Limit,
    key: LimitKey,
    now: u64,
    tally: &mut Tally,
) {
    let rate = limit.rate;
    let (verdict, report) = edge.limits.borrow_mut().shares.take(&key, &rate, now);
    if let Some(report) = report {
        ctx.wait_until(send_report(
            edge.clone(),
            limit.name.clone(),
            rate,
            key,
            report,
        ));
    }
    tally.add(limit, verdict);
}

/// Reports an isolate's admissions to the key's object and adopts its answer; a failed report goes
/// with the next one.
async fn send_report(
    edge: Rc<Edge>,
    limit: String,
    rate: auth_core::ratelimit::Rate,
    key: LimitKey,
    report: SyncReport,
) {
    edge.count(AdapterCall::RateLimiter);
    let answered = match client(&edge, &key) {
        Ok(client) => client.report(rate, report).await,
        Err(e) => Err(e),
    };
    let answer = answered.map_err(|e| {
        worker::console_error!("ratelimit.report_failed limit.name={limit} error={e}");
        report
    });
    edge.limits
        .borrow_mut()
        .shares
        .answered(key, &rate, answer, now_ms());
}

/// The client of `key`'s object. The conformance build can take every object down
/// (`/__conformance/limiter-down`).
fn client(edge: &Edge, key: &LimitKey) -> worker::Result<RateLimiterClient> {
    #[cfg(feature = "conformance")]
    if edge.calls.limiter_down.get() {
        return Err(worker::Error::RustError(
            "the conformance run took the limiter down".into(),
        ));
    }
    RateLimiterClient::for_key(&edge.rate_limiters, key)
}

/// Milliseconds since the Unix epoch (the runtime's clock, which advances across I/O).
fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
