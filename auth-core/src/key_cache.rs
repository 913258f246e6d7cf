//! The lifecycle of one issuer's key set at the edge, as a state machine.
//!
//! The edge adapter asks [`IssuerKeys::plan`] what to do for a request, performs the fetch when told to,
//! and reports the outcome with [`IssuerKeys::fetched`]. The rules that keep a JWKS endpoint both
//! respected and survivable live here, where they are tested without a runtime:
//!
//! - freshness follows the issuer's `Cache-Control: max-age`, clamped to `[min_ttl, max_ttl]`;
//! - a set nearing the end of its freshness is refreshed in the background while requests keep using
//!   it, and so is a stale one: no request waits for a refresh while a usable set exists;
//! - when refreshes fail, the last good set keeps serving for `stale_if_error` past its freshness;
//! - a token naming an unknown `kid` triggers at most one refetch per `unknown_kid_cooldown`, and the
//!   unknown `kid` is remembered so a flood of random `kid`s costs no fetches;
//! - at most one fetch is in flight; a request that finds one in flight and no usable set waits and
//!   re-plans (it never awaits another request's fetch), and an abandoned fetch is forgotten.

use crate::keys::KeySet;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Tunables of the key-set lifecycle; per issuer in `IssuerPolicy` (`jwks_cache`), each optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyCacheSettings {
    pub min_ttl_secs: i64,
    pub max_ttl_secs: i64,
    /// Used when the issuer sends no `max-age`.
    pub default_ttl_secs: i64,
    pub stale_if_error_secs: i64,
    pub unknown_kid_cooldown_secs: i64,
    /// How long a `kid` found missing after a refetch is refused without another look.
    pub unknown_kid_ttl_secs: i64,
    /// Templates only (`crate::tenant_issuers`): most tenants' key sets an isolate holds; the least
    /// recently used goes first.
    pub max_tenants: i64,
    /// Templates only: how long a tenant the origin does not know (its JWKS answered 404) is refused
    /// without another look.
    pub unknown_tenant_ttl_secs: i64,
    /// Templates only: tenants an isolate may look up for the first time per minute (a KV read and
    /// a JWKS fetch each), in a burst of as many. Bounds what a flood of made-up tenants costs.
    pub new_tenants_per_minute: i64,
}

impl Default for KeyCacheSettings {
    fn default() -> Self {
        KeyCacheSettings {
            min_ttl_secs: 60,
            max_ttl_secs: 3600,
            default_ttl_secs: 300,
            stale_if_error_secs: 6 * 3600,
            unknown_kid_cooldown_secs: 30,
            unknown_kid_ttl_secs: 300,
            max_tenants: 1000,
            unknown_tenant_ttl_secs: 300,
            new_tenants_per_minute: 60,
        }
    }
}

/// Longest stale-if-error window a configuration may ask for: a week-old key set may hold keys the
/// issuer withdrew long ago.
pub const MAX_STALE_IF_ERROR_SECS: i64 = 7 * 24 * 3600;

impl KeyCacheSettings {
    /// Why these settings are unusable, if they are.
    pub fn problem(&self) -> Option<&'static str> {
        let values = [
            self.min_ttl_secs,
            self.max_ttl_secs,
            self.default_ttl_secs,
            self.stale_if_error_secs,
            self.unknown_kid_cooldown_secs,
            self.unknown_kid_ttl_secs,
            self.unknown_tenant_ttl_secs,
        ];
        if values.iter().any(|v| *v < 0) {
            Some("jwks_cache values must not be negative")
        } else if self.min_ttl_secs > self.max_ttl_secs {
            Some("jwks_cache.min_ttl_secs exceeds max_ttl_secs")
        } else if self.stale_if_error_secs > MAX_STALE_IF_ERROR_SECS {
            Some("jwks_cache.stale_if_error_secs exceeds a week")
        } else if !(1..=MAX_TENANTS).contains(&self.max_tenants) {
            Some("jwks_cache.max_tenants must be from 1 to 100000")
        } else if !(1..=MAX_NEW_TENANTS_PER_MINUTE).contains(&self.new_tenants_per_minute) {
            Some("jwks_cache.new_tenants_per_minute must be from 1 to 10000")
        } else {
            None
        }
    }
}

/// Most tenants' key sets a template may keep per isolate: a set is a few keys, isolates have 128 MB.
pub const MAX_TENANTS: i64 = 100_000;
/// Most first lookups of tenants a template may allow per minute.
pub const MAX_NEW_TENANTS_PER_MINUTE: i64 = 10_000;

/// A fetch not reported within this long is taken as abandoned (its request went away).
const ABANDONED_FETCH_SECS: i64 = 10;
/// After a failed fetch, the next attempt waits this long (unless no set is usable at all).
const RETRY_AFTER_FAILURE_SECS: i64 = 10;
/// Refresh in the background once this fraction of the freshness lifetime has passed.
const REFRESH_AHEAD_PERCENT: i64 = 80;
/// Bound on remembered unknown `kid`s.
const MAX_UNKNOWN_KIDS: usize = 256;

/// What the adapter should do for a request.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Use this set.
    Use(Arc<KeySet>),
    /// Use this set, and refresh it in the background (the caller now owns the one fetch in flight).
    UseAndRefresh(Arc<KeySet>),
    /// No usable set: fetch now and wait for it (the caller owns the fetch).
    Fetch,
    /// No usable set and another request is fetching: wait briefly and plan again.
    Wait,
    /// No usable set and fetching failed recently: answer `keys_unavailable`.
    Unavailable,
}

/// What to do about a `kid` the current set lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownKidPlan {
    /// Refetch now and look again (the caller owns the fetch).
    Refetch,
    /// Refuse the token: the kid is known to be unknown, or we refetched too recently.
    Refuse,
    /// A fetch is in flight: wait briefly and look again.
    Wait,
}

#[derive(Debug, Clone)]
struct Current {
    keys: Arc<KeySet>,
    fetched_at: i64,
    fresh_until: i64,
}

/// One issuer's key set and the bookkeeping around it.
#[derive(Debug, Clone, Default)]
pub struct IssuerKeys {
    settings: KeyCacheSettings,
    current: Option<Current>,
    in_flight_since: Option<i64>,
    last_attempt: Option<i64>,
    last_failure: Option<i64>,
    unknown_kids: BTreeMap<String, i64>,
}

impl IssuerKeys {
    pub fn new(settings: KeyCacheSettings) -> Self {
        IssuerKeys {
            settings,
            ..IssuerKeys::default()
        }
    }

    /// Freshness lifetime for a response's `max-age`, clamped to the settings.
    pub fn ttl_for(&self, max_age: Option<i64>) -> i64 {
        let s = &self.settings;
        max_age
            .unwrap_or(s.default_ttl_secs)
            .clamp(s.min_ttl_secs, s.max_ttl_secs.max(s.min_ttl_secs))
    }

    fn in_flight(&mut self, now: i64) -> bool {
        match self.in_flight_since {
            Some(since) if now - since < ABANDONED_FETCH_SECS => true,
            Some(_) => {
                self.in_flight_since = None;
                false
            }
            None => false,
        }
    }

    fn may_retry(&self, now: i64) -> bool {
        self.last_failure
            .is_none_or(|f| now - f >= RETRY_AFTER_FAILURE_SECS)
    }

    fn start_fetch(&mut self, now: i64) {
        self.in_flight_since = Some(now);
        self.last_attempt = Some(now);
    }

    /// The plan for a request at `now`.
    pub fn plan(&mut self, now: i64) -> Plan {
        let in_flight = self.in_flight(now);
        let may_retry = self.may_retry(now);
        let Some(cur) = self.current.clone() else {
            return if in_flight {
                Plan::Wait
            } else if may_retry {
                self.start_fetch(now);
                Plan::Fetch
            } else {
                Plan::Unavailable
            };
        };
        let lifetime = (cur.fresh_until - cur.fetched_at).max(0);
        let refresh_at = cur.fetched_at + lifetime * REFRESH_AHEAD_PERCENT / 100;
        let usable = now
            < cur
                .fresh_until
                .saturating_add(self.settings.stale_if_error_secs);
        if !usable {
            // Past stale-if-error: the set may hold keys the issuer has withdrawn. Drop it.
            self.current = None;
            return self.plan(now);
        }
        if now >= refresh_at && !in_flight && may_retry {
            self.start_fetch(now);
            Plan::UseAndRefresh(cur.keys)
        } else {
            Plan::Use(cur.keys)
        }
    }

    /// The plan when a token's `kid` is not in the current set.
    pub fn plan_unknown_kid(&mut self, kid: &str, now: i64) -> UnknownKidPlan {
        self.unknown_kids.retain(|_, until| *until > now);
        if self.unknown_kids.contains_key(kid) {
            return UnknownKidPlan::Refuse;
        }
        if self.in_flight(now) {
            return UnknownKidPlan::Wait;
        }
        let cooling = self
            .last_attempt
            .is_some_and(|a| now - a < self.settings.unknown_kid_cooldown_secs);
        if cooling || !self.may_retry(now) {
            self.remember_unknown(kid, now);
            return UnknownKidPlan::Refuse;
        }
        self.start_fetch(now);
        UnknownKidPlan::Refetch
    }

    /// Records that `kid` was looked for and not found after a fetch.
    pub fn remember_unknown(&mut self, kid: &str, now: i64) {
        if self.unknown_kids.len() >= MAX_UNKNOWN_KIDS {
            // Bounded memory: forget the entry closest to expiry.
            if let Some(first) = self
                .unknown_kids
                .iter()
                .min_by_key(|(_, u)| **u)
                .map(|(k, _)| k.clone())
            {
                self.unknown_kids.remove(&first);
            }
        }
        self.unknown_kids
            .insert(kid.to_owned(), now + self.settings.unknown_kid_ttl_secs);
    }

    /// Reports a fetch's outcome: the new set and its `max-age`, or a failure (network error, bad
    /// status, garbage). A failure keeps the last good set.
    pub fn fetched(
        &mut self,
        outcome: Result<(KeySet, Option<i64>), ()>,
        now: i64,
    ) -> Option<Arc<KeySet>> {
        self.in_flight_since = None;
        match outcome {
            Ok((keys, max_age)) => {
                let ttl = self.ttl_for(max_age);
                let keys = Arc::new(keys);
                self.unknown_kids.retain(|kid, _| keys.find(kid).is_none());
                self.current = Some(Current {
                    keys: keys.clone(),
                    fetched_at: now,
                    fresh_until: now + ttl,
                });
                self.last_failure = None;
                Some(keys)
            }
            Err(()) => {
                self.last_failure = Some(now);
                self.current.as_ref().map(|c| c.keys.clone())
            }
        }
    }

    /// Installs a set persisted elsewhere (e.g. KV, for a cold isolate) unless a newer one is held.
    pub fn restore(&mut self, keys: KeySet, fetched_at: i64, fresh_until: i64) {
        if self
            .current
            .as_ref()
            .is_none_or(|c| c.fetched_at < fetched_at)
        {
            self.current = Some(Current {
                keys: Arc::new(keys),
                fetched_at,
                fresh_until,
            });
        }
    }

    /// Whether a usable set is held.
    pub fn has_keys(&self) -> bool {
        self.current.is_some()
    }
}

/// The freshness lifetime a JWKS response's `Cache-Control` value asks for, in seconds, before
/// [`IssuerKeys::ttl_for`] clamps it: `max-age`, or 0 for `no-cache` / `no-store` (some issuers send
/// those on their JWKS; the clamp then keeps the set for `min_ttl_secs`). `None` when the value names
/// no lifetime. Directive names are case-insensitive; of several `max-age`s the first counts
/// (RFC 9111 §4.2.1); a value that is not delta-seconds (digits, optionally quoted) counts as absent.
pub fn max_age(cache_control: &str) -> Option<i64> {
    let mut max_age = None;
    for directive in cache_control.split(',').map(str::trim) {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("max-age") && max_age.is_none() {
            let digits = value.trim();
            let digits = digits
                .strip_prefix('"')
                .and_then(|d| d.strip_suffix('"'))
                .unwrap_or(digits);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                // Longer than i64 holds: as long as possible, clamped anyway.
                max_age = Some(digits.parse().unwrap_or(i64::MAX));
            }
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::VerificationKey;

    fn set(kid: &str) -> KeySet {
        let sk = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        KeySet::new(vec![VerificationKey::from_p256(
            Some(kid.into()),
            *sk.verifying_key(),
        )
        .unwrap()])
        .unwrap()
    }

    fn keys_of(plan: &Plan) -> Option<&KeySet> {
        match plan {
            Plan::Use(k) | Plan::UseAndRefresh(k) => Some(k),
            _ => None,
        }
    }

    #[test]
    fn a_cold_cache_fetches_once_and_others_wait() {
        let mut c = IssuerKeys::new(KeyCacheSettings::default());
        assert!(matches!(c.plan(0), Plan::Fetch));
        assert!(
            matches!(c.plan(0), Plan::Wait),
            "a second request must not start a duplicate fetch"
        );
        c.fetched(Ok((set("a"), Some(300))), 1);
        assert!(matches!(c.plan(2), Plan::Use(_)));
    }

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(max_age("public, max-age=300"), Some(300));
        assert_eq!(max_age("Max-Age=\"120\", public"), Some(120));
        assert_eq!(
            max_age("max-age=60, max-age=900"),
            Some(60),
            "the first counts"
        );
        assert_eq!(max_age("no-cache"), Some(0));
        assert_eq!(max_age("max-age=300, No-Store"), Some(0));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=-5"), None);
        assert_eq!(max_age("max-age=1e3"), None);
        assert_eq!(max_age("max-age="), None);
        assert_eq!(max_age("max-age=99999999999999999999999"), Some(i64::MAX));
        assert_eq!(max_age(""), None);
    }

    #[test]
    fn max_age_is_clamped() {
        let c = IssuerKeys::new(KeyCacheSettings::default());
        assert_eq!(c.ttl_for(Some(0)), 60);
        assert_eq!(c.ttl_for(Some(999_999)), 3600);
        assert_eq!(c.ttl_for(None), 300);
        assert_eq!(c.ttl_for(Some(120)), 120);
    }

    #[test]
    fn a_set_nearing_expiry_is_refreshed_in_the_background_once() {
        let mut c = IssuerKeys::new(KeyCacheSettings::default());
        c.plan(0);
        c.fetched(Ok((set("a"), Some(100))), 0);
        assert!(matches!(c.plan(79), Plan::Use(_)));
        assert!(matches!(c.plan(80), Plan::UseAndRefresh(_)));
        assert!(
            matches!(c.plan(85), Plan::Use(_)),
            "one background refresh at a time"
        );
        assert!(
            matches!(c.plan(150), Plan::UseAndRefresh(_)),
            "stale: the abandoned refresh is retried"
        );
        c.fetched(Ok((set("b"), Some(100))), 151);
        assert!(keys_of(&c.plan(152)).is_some_and(|k| k.find("b").is_some()));
    }

    #[test]
    fn failures_keep_the_last_good_set_for_the_stale_window_then_drop_it() {
        let settings = KeyCacheSettings {
            stale_if_error_secs: 1000,
            ..KeyCacheSettings::default()
        };
        let mut c = IssuerKeys::new(settings);
        c.plan(0);
        c.fetched(Ok((set("a"), Some(100))), 0);
        assert!(matches!(c.plan(200), Plan::UseAndRefresh(_)));
        assert!(c.fetched(Err(()), 200).is_some());
        assert!(
            matches!(c.plan(205), Plan::Use(_)),
            "no retry storm right after a failure"
        );
        assert!(matches!(c.plan(211), Plan::UseAndRefresh(_)));
        c.fetched(Err(()), 211);
        assert!(keys_of(&c.plan(1099)).is_some());
        c.fetched(Err(()), 1099);
        assert!(
            matches!(c.plan(1110), Plan::Fetch),
            "past stale-if-error the set is dropped"
        );
        c.fetched(Err(()), 1110);
        assert!(matches!(c.plan(1111), Plan::Unavailable));
    }

    #[test]
    fn unknown_kids_refetch_at_most_once_per_cooldown_and_are_remembered() {
        let mut c = IssuerKeys::new(KeyCacheSettings::default());
        c.plan(0);
        c.fetched(Ok((set("a"), Some(300))), 0);
        assert_eq!(
            c.plan_unknown_kid("x", 10),
            UnknownKidPlan::Refuse,
            "inside the cooldown"
        );
        assert_eq!(c.plan_unknown_kid("y", 31), UnknownKidPlan::Refetch);
        c.fetched(Ok((set("a"), Some(300))), 31);
        c.remember_unknown("y", 31);
        assert_eq!(
            c.plan_unknown_kid("y", 70),
            UnknownKidPlan::Refuse,
            "remembered"
        );
        assert_eq!(c.plan_unknown_kid("z", 70), UnknownKidPlan::Refetch);
        assert_eq!(c.plan_unknown_kid("w", 70), UnknownKidPlan::Wait);
    }

    #[test]
    fn a_rotated_key_is_found_after_the_refetch_clears_it_from_the_unknown_list() {
        let mut c = IssuerKeys::new(KeyCacheSettings::default());
        c.plan(0);
        c.fetched(Ok((set("a"), Some(300))), 0);
        c.remember_unknown("b", 0);
        c.fetched(Ok((set("b"), Some(300))), 40);
        assert_ne!(c.plan_unknown_kid("b", 41), UnknownKidPlan::Refuse);
    }

    #[test]
    fn an_abandoned_fetch_is_forgotten() {
        let mut c = IssuerKeys::new(KeyCacheSettings::default());
        assert!(matches!(c.plan(0), Plan::Fetch));
        assert!(matches!(c.plan(5), Plan::Wait));
        assert!(matches!(c.plan(10), Plan::Fetch));
    }

    #[test]
    fn remembered_unknown_kids_are_bounded() {
        let mut c = IssuerKeys::new(KeyCacheSettings::default());
        for i in 0..1000 {
            c.remember_unknown(&format!("k{i}"), i);
        }
        assert!(c.unknown_kids.len() <= MAX_UNKNOWN_KIDS);
    }
}
