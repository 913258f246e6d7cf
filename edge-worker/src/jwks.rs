//! Adapter between the issuer key-set state machine (`auth_core::key_cache`) and the runtime:
//! fetching JWKS documents, importing their keys into WebCrypto, and persisting the last good set in
//! KV so that a cold isolate has keys without waiting for the issuer.
//!
//! Every decision (when to fetch, when to serve stale, when to refuse an unknown `kid`) is the state
//! machine's; this module only performs what it asks for.

use crate::webcrypto;
use auth_core::key_cache::{IssuerKeys, Plan, UnknownKidPlan};
use auth_core::keys::KeySet;
use auth_core::{IssuerPolicy, Rejection};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use worker::{Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit};

/// How long a request waits, in total, for a fetch another request owns before answering 503.
const MAX_WAIT: Duration = Duration::from_millis(2_000);
const WAIT_STEP: Duration = Duration::from_millis(25);
/// KV key prefix of persisted key sets.
const KV_PREFIX: &str = "jwks:";

thread_local! {
    static CACHE: RefCell<HashMap<String, IssuerKeys>> = RefCell::new(HashMap::new());
    static RESTORED: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

fn with_entry<T>(policy: &IssuerPolicy, f: impl FnOnce(&mut IssuerKeys) -> T) -> T {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(entry) = c.get_mut(&policy.issuer) {
            return f(entry);
        }
        f(c.entry(policy.issuer.clone())
            .or_insert_with(|| IssuerKeys::new(policy.jwks_cache)))
    })
}

/// The issuer's key set for this request.
pub async fn current(
    policy: &IssuerPolicy,
    env: &Env,
    ctx: &Context,
) -> Result<Arc<KeySet>, Rejection> {
    restore_once(policy, env).await;
    let mut waited = Duration::ZERO;
    loop {
        let now = crate::now_unix();
        match with_entry(policy, |e| e.plan(now)) {
            Plan::Use(keys) => return Ok(keys),
            Plan::UseAndRefresh(keys) => {
                let (policy, env) = (policy.clone(), env.clone());
                ctx.wait_until(async move {
                    fetch_and_record(&policy, &env).await;
                });
                return Ok(keys);
            }
            Plan::Fetch => {
                return fetch_and_record(policy, env)
                    .await
                    .ok_or(Rejection::KeysUnavailable)
            }
            Plan::Wait if waited < MAX_WAIT => {
                Delay::from(WAIT_STEP).await;
                waited += WAIT_STEP;
            }
            Plan::Wait | Plan::Unavailable => return Err(Rejection::KeysUnavailable),
        }
    }
}

/// A key set that holds `kid`, refetching if the state machine allows; `KeyUnknown` otherwise.
pub async fn with_kid(
    policy: &IssuerPolicy,
    env: &Env,
    kid: &str,
) -> Result<Arc<KeySet>, Rejection> {
    let mut waited = Duration::ZERO;
    loop {
        let now = crate::now_unix();
        match with_entry(policy, |e| e.plan_unknown_kid(kid, now)) {
            UnknownKidPlan::Refuse => return Err(Rejection::KeyUnknown),
            UnknownKidPlan::Refetch => {
                let keys = fetch_and_record(policy, env)
                    .await
                    .ok_or(Rejection::KeyUnknown)?;
                if keys.find(kid).is_none() {
                    with_entry(policy, |e| e.remember_unknown(kid, crate::now_unix()));
                    return Err(Rejection::KeyUnknown);
                }
                return Ok(keys);
            }
            UnknownKidPlan::Wait if waited < MAX_WAIT => {
                Delay::from(WAIT_STEP).await;
                waited += WAIT_STEP;
                let keys = with_entry(policy, |e| match e.plan(crate::now_unix()) {
                    Plan::Use(k) => Some(k),
                    _ => None,
                });
                if let Some(keys) = keys.filter(|k| k.find(kid).is_some()) {
                    return Ok(keys);
                }
            }
            UnknownKidPlan::Wait => return Err(Rejection::KeyUnknown),
        }
    }
}

/// Fetches the issuer's JWKS, reports the outcome to the state machine and persists a good set.
/// Returns the set now held (the new one, or the last good one after a failure).
async fn fetch_and_record(policy: &IssuerPolicy, env: &Env) -> Option<Arc<KeySet>> {
    let outcome = fetch(&policy.jwks_uri).await;
    let now = crate::now_unix();
    match outcome {
        Ok((keys, max_age, document)) => {
            let held = with_entry(policy, |e| {
                let ttl = e.ttl_for(max_age);
                (e.fetched(Ok((keys, max_age)), now), ttl)
            });
            persist(policy, env, &document, now, now + held.1).await;
            held.0
        }
        Err(reason) => {
            worker::console_warn!("jwks.fetch_failed issuer={} reason={reason}", policy.issuer);
            with_entry(policy, |e| e.fetched(Err(()), now))
        }
    }
}

async fn fetch(uri: &str) -> Result<(KeySet, Option<i64>, String), String> {
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
        .and_then(|v| max_age(&v));
    let body = response.text().await.map_err(|e| e.to_string())?;
    let keys =
        importable(KeySet::from_jwks_json(body.as_bytes()).map_err(|e| e.to_string())?).await?;
    Ok((keys, max_age, body))
}

/// Keeps the keys the runtime's WebCrypto accepts: a key it refuses could never verify anything.
async fn importable(keys: KeySet) -> Result<KeySet, String> {
    let mut usable = Vec::with_capacity(keys.keys().len());
    for key in keys.keys() {
        match webcrypto::import(key.material(), key.algorithm()).await {
            Ok(()) => usable.push(key.clone()),
            Err(_) => worker::console_warn!("jwks.key_refused kid={:?}", key.kid()),
        }
    }
    KeySet::new(usable).map_err(|e| e.to_string())
}

/// A persisted key set: the document as fetched and its freshness.
#[derive(Debug, Serialize, Deserialize)]
struct Persisted {
    document: String,
    fetched_at: i64,
    fresh_until: i64,
}

async fn persist(
    policy: &IssuerPolicy,
    env: &Env,
    document: &str,
    fetched_at: i64,
    fresh_until: i64,
) {
    let Ok(kv) = env.kv(crate::revocation::KV_BINDING) else {
        return;
    };
    let record = Persisted {
        document: document.to_owned(),
        fetched_at,
        fresh_until,
    };
    let Ok(value) = serde_json::to_string(&record) else {
        return;
    };
    let ttl = (fresh_until + policy.jwks_cache.stale_if_error_secs - fetched_at).max(60);
    let key = format!("{KV_PREFIX}{}", policy.issuer);
    let written = match kv.put(&key, value) {
        Ok(put) => put
            .expiration_ttl(u64::try_from(ttl).unwrap_or(60))
            .execute()
            .await
            .is_ok(),
        Err(_) => false,
    };
    if !written {
        worker::console_warn!("jwks.persist_failed issuer={}", policy.issuer);
    }
}

/// On an isolate's first use of an issuer, loads the persisted set (if any) from KV.
async fn restore_once(policy: &IssuerPolicy, env: &Env) {
    let first = RESTORED.with(|r| {
        let mut restored = r.borrow_mut();
        !restored.contains(&policy.issuer) && restored.insert(policy.issuer.clone())
    });
    if !first || with_entry(policy, |e| e.has_keys()) {
        return;
    }
    let Ok(kv) = env.kv(crate::revocation::KV_BINDING) else {
        return;
    };
    let Ok(Some(record)) = kv
        .get(&format!("{KV_PREFIX}{}", policy.issuer))
        .json::<Persisted>()
        .await
    else {
        return;
    };
    let Ok(keys) = KeySet::from_jwks_json(record.document.as_bytes()) else {
        return;
    };
    let Ok(keys) = importable(keys).await else {
        return;
    };
    with_entry(policy, |e| {
        e.restore(keys, record.fetched_at, record.fresh_until)
    });
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
