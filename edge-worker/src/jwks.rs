//! Per-isolate cache of each trusted issuer's key set, fetched from its `jwks_uri`.
//!
//! Freshness follows the issuer's `Cache-Control: max-age`, clamped to
//! [`MIN_MAX_AGE_SECS`, `MAX_MAX_AGE_SECS`]. A token naming an unknown `kid` triggers a refetch at most
//! once per [`UNKNOWN_KID_COOLDOWN_SECS`], so random `kid`s cannot turn into a flood of fetches. When
//! a refresh fails the last good set keeps serving; with no set at all the answer is `keys_unavailable`.

use auth_core::keys::KeySet;
use auth_core::{IssuerPolicy, Rejection};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::{Fetch, Headers, Method, Request, RequestInit};

const DEFAULT_MAX_AGE_SECS: i64 = 300;
const MIN_MAX_AGE_SECS: i64 = 30;
const MAX_MAX_AGE_SECS: i64 = 3600;
const UNKNOWN_KID_COOLDOWN_SECS: i64 = 30;

#[derive(Debug)]
struct Cached {
    keys: Rc<KeySet>,
    fresh_until: i64,
    fetched_at: i64,
}

thread_local! {
    static CACHE: RefCell<HashMap<String, Cached>> = RefCell::new(HashMap::new());
}

/// The issuer's current key set, fetching it when absent or stale.
pub async fn current(policy: &IssuerPolicy, now: i64) -> Result<Rc<KeySet>, Rejection> {
    let cached = CACHE.with(|c| {
        c.borrow()
            .get(&policy.issuer)
            .map(|e| (e.keys.clone(), e.fresh_until))
    });
    match cached {
        Some((keys, fresh_until)) if now < fresh_until => Ok(keys),
        stale => refresh(policy, now, stale.map(|(k, _)| k)).await,
    }
}

/// Called when a token names a `kid` the cached set lacks (the issuer may have rotated): refetches
/// unless the last fetch was within the cooldown.
pub async fn refresh_for_unknown_kid(
    policy: &IssuerPolicy,
    now: i64,
) -> Result<Rc<KeySet>, Rejection> {
    let cached = CACHE.with(|c| {
        c.borrow()
            .get(&policy.issuer)
            .map(|e| (e.keys.clone(), e.fetched_at))
    });
    match cached {
        Some((keys, fetched_at)) if now - fetched_at < UNKNOWN_KID_COOLDOWN_SECS => Ok(keys),
        other => refresh(policy, now, other.map(|(k, _)| k)).await,
    }
}

async fn refresh(
    policy: &IssuerPolicy,
    now: i64,
    last_good: Option<Rc<KeySet>>,
) -> Result<Rc<KeySet>, Rejection> {
    match fetch(&policy.jwks_uri).await {
        Ok((keys, max_age)) => {
            let keys = Rc::new(keys);
            CACHE.with(|c| {
                c.borrow_mut().insert(
                    policy.issuer.clone(),
                    Cached {
                        keys: keys.clone(),
                        fresh_until: now + max_age,
                        fetched_at: now,
                    },
                )
            });
            Ok(keys)
        }
        Err(reason) => {
            worker::console_warn!("jwks.fetch_failed issuer={} reason={reason}", policy.issuer);
            // Stale-if-error: keep serving the last good set, and do not retry on every request.
            if let Some(keys) = last_good {
                CACHE.with(|c| {
                    if let Some(e) = c.borrow_mut().get_mut(&policy.issuer) {
                        e.fresh_until = now + MIN_MAX_AGE_SECS;
                        e.fetched_at = now;
                    }
                });
                Ok(keys)
            } else {
                Err(Rejection::KeysUnavailable)
            }
        }
    }
}

async fn fetch(uri: &str) -> Result<(KeySet, i64), String> {
    let headers = Headers::new();
    headers
        .set("accept", "application/json")
        .map_err(|e| e.to_string())?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let request = Request::new_with_init(uri, &init).map_err(|e| e.to_string())?;
    let mut response = Fetch::Request(request)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status_code() != 200 {
        return Err(format!("status {}", response.status_code()));
    }
    let max_age = response
        .headers()
        .get("cache-control")
        .ok()
        .flatten()
        .and_then(|v| max_age(&v))
        .unwrap_or(DEFAULT_MAX_AGE_SECS)
        .clamp(MIN_MAX_AGE_SECS, MAX_MAX_AGE_SECS);
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    let keys = KeySet::from_jwks_json(&body).map_err(|e| e.to_string())?;
    Ok((keys, max_age))
}

/// `max-age` from a `Cache-Control` value; `no-cache`/`no-store` count as zero (then clamped up).
fn max_age(cache_control: &str) -> Option<i64> {
    let mut result = None;
    for directive in cache_control.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(0);
        }
        if let Some(v) = lower.strip_prefix("max-age=") {
            result = v.trim_matches('"').parse().ok();
        }
    }
    result
}
