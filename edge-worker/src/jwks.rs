//! Adapter between the issuer key-set state machine (`auth_core::key_cache`) and the runtime:
//! fetching JWKS documents, importing their keys into WebCrypto, and persisting the last good set in
//! KV (its own namespace, `JWKS`) so that a cold isolate has keys without waiting for the issuer.
//!
//! Every decision (when to fetch, when to serve stale, when to refuse an unknown `kid`) is the state
//! machine's; this module only performs what it asks for.

use crate::isolate::{AdapterCall, Edge};
use auth_core::key_cache::{self, IssuerKeys, Plan, UnknownKidPlan};
use auth_core::keys::KeySet;
use auth_core::{IssuerPolicy, Rejection};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use worker::{Context, Delay, Fetch, Headers, Method, Request, RequestInit};

/// How long a request waits, in total, for a fetch another request owns before answering 503.
const MAX_WAIT: Duration = Duration::from_millis(2_000);
const WAIT_STEP: Duration = Duration::from_millis(25);

/// Every trusted issuer's key-set lifecycle in this isolate (`isolate::Edge::issuer_keys`).
#[derive(Default)]
pub struct IssuerKeyCaches {
    by_issuer: HashMap<String, IssuerKeys>,
    /// Issuers whose persisted set this isolate has looked for.
    restored: HashSet<String>,
}

fn with_entry<T>(edge: &Edge, policy: &IssuerPolicy, f: impl FnOnce(&mut IssuerKeys) -> T) -> T {
    let mut caches = edge.issuer_keys.borrow_mut();
    if let Some(entry) = caches.by_issuer.get_mut(&policy.issuer) {
        return f(entry);
    }
    f(caches
        .by_issuer
        .entry(policy.issuer.clone())
        .or_insert_with(|| IssuerKeys::new(policy.jwks_cache)))
}

/// The issuer's key set for this request.
pub async fn current(
    edge: &Rc<Edge>,
    policy: &IssuerPolicy,
    ctx: &Context,
) -> Result<Arc<KeySet>, Rejection> {
    restore_once(edge, policy).await;
    let mut waited = Duration::ZERO;
    loop {
        let now = crate::now_unix();
        match with_entry(edge, policy, |e| e.plan(now)) {
            Plan::Use(keys) => return Ok(keys),
            Plan::UseAndRefresh(keys) => {
                let (edge, policy) = (edge.clone(), policy.clone());
                ctx.wait_until(async move {
                    fetch_and_record(&edge, &policy).await;
                });
                return Ok(keys);
            }
            Plan::Fetch => {
                return fetch_and_record(edge, policy)
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
    edge: &Edge,
    policy: &IssuerPolicy,
    kid: &str,
) -> Result<Arc<KeySet>, Rejection> {
    let mut waited = Duration::ZERO;
    loop {
        let now = crate::now_unix();
        match with_entry(edge, policy, |e| e.plan_unknown_kid(kid, now)) {
            UnknownKidPlan::Refuse => return Err(Rejection::KeyUnknown),
            UnknownKidPlan::Refetch => {
                let keys = fetch_and_record(edge, policy)
                    .await
                    .ok_or(Rejection::KeyUnknown)?;
                if keys.find(kid).is_none() {
                    with_entry(edge, policy, |e| e.remember_unknown(kid, crate::now_unix()));
                    return Err(Rejection::KeyUnknown);
                }
                return Ok(keys);
            }
            UnknownKidPlan::Wait if waited < MAX_WAIT => {
                Delay::from(WAIT_STEP).await;
                waited += WAIT_STEP;
                let keys = with_entry(edge, policy, |e| match e.plan(crate::now_unix()) {
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

/// Fetches the issuer's JWKS now, whatever its freshness (an emergency key revocation was pushed).
pub async fn refetch(edge: &Edge, policy: &IssuerPolicy) {
    fetch_and_record(edge, policy).await;
}

/// Fetches the issuer's JWKS, reports the outcome to the state machine and persists a good set.
/// Returns the set now held (the new one, or the last good one after a failure).
async fn fetch_and_record(edge: &Edge, policy: &IssuerPolicy) -> Option<Arc<KeySet>> {
    edge.count(AdapterCall::JwksFetch);
    let outcome = fetch(edge, &policy.jwks_uri).await;
    let now = crate::now_unix();
    match outcome {
        Ok((keys, max_age, document)) => {
            let held = with_entry(edge, policy, |e| {
                let ttl = e.ttl_for(max_age);
                (e.fetched(Ok((keys, max_age)), now), ttl)
            });
            persist(edge, policy, &document, now, now + held.1).await;
            held.0
        }
        Err(reason) => {
            worker::console_warn!("jwks.fetch_failed issuer={} reason={reason}", policy.issuer);
            with_entry(edge, policy, |e| e.fetched(Err(()), now))
        }
    }
}

async fn fetch(edge: &Edge, uri: &str) -> Result<(KeySet, Option<i64>, String), String> {
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
        .and_then(|v| key_cache::max_age(&v));
    let body = response.text().await.map_err(|e| e.to_string())?;
    let keys = importable(
        edge,
        KeySet::from_jwks_json(body.as_bytes()).map_err(|e| e.to_string())?,
    )
    .await?;
    Ok((keys, max_age, body))
}

/// Keeps the keys the runtime's WebCrypto accepts: a key it refuses could never verify anything.
async fn importable(edge: &Edge, keys: KeySet) -> Result<KeySet, String> {
    let mut usable = Vec::with_capacity(keys.keys().len());
    for key in keys.keys() {
        match edge.crypto.import(key.material(), key.algorithm()).await {
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
    edge: &Edge,
    policy: &IssuerPolicy,
    document: &str,
    fetched_at: i64,
    fresh_until: i64,
) {
    let record = Persisted {
        document: document.to_owned(),
        fetched_at,
        fresh_until,
    };
    let Ok(value) = serde_json::to_string(&record) else {
        return;
    };
    let ttl = (fresh_until + policy.jwks_cache.stale_if_error_secs - fetched_at).max(60);
    edge.count(AdapterCall::PersistedKeys);
    let written = edge
        .persisted_keys
        .put(&policy.issuer, &value, u64::try_from(ttl).unwrap_or(60))
        .await;
    if written.is_err() {
        worker::console_warn!("jwks.persist_failed issuer={}", policy.issuer);
    }
}

/// On an isolate's first use of an issuer, loads the persisted set (if any) from KV.
async fn restore_once(edge: &Edge, policy: &IssuerPolicy) {
    let first = {
        let mut caches = edge.issuer_keys.borrow_mut();
        !caches.restored.contains(&policy.issuer) && caches.restored.insert(policy.issuer.clone())
    };
    if !first || with_entry(edge, policy, |e| e.has_keys()) {
        return;
    }
    edge.count(AdapterCall::PersistedKeys);
    let Ok(Some(text)) = edge.persisted_keys.get(&policy.issuer).await else {
        return;
    };
    let Ok(record) = serde_json::from_str::<Persisted>(&text) else {
        return;
    };
    let Ok(keys) = KeySet::from_jwks_json(record.document.as_bytes()) else {
        return;
    };
    let Ok(keys) = importable(edge, keys).await else {
        return;
    };
    with_entry(edge, policy, |e| {
        e.restore(keys, record.fetched_at, record.fresh_until)
    });
}
