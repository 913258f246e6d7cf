//! Adapter between the issuer key-set state machines (`auth_core::key_cache`, and per template
//! `auth_core::tenant_issuers`) and the runtime: fetching JWKS documents, importing their keys into
//! WebCrypto, and persisting the last good set in KV (its own namespace, `JWKS`, keyed by issuer) so
//! that a cold isolate has keys without waiting for the issuer.
//!
//! Every decision (when to fetch, when to serve stale, when to refuse an unknown `kid`, which
//! tenants of a template to hold, when a made-up tenant is refused) is the state machines'; this
//! module only performs what they ask for.

use crate::isolate::{AdapterCall, Edge};
use auth_core::key_cache::{self, IssuerKeys, Plan, UnknownKidPlan};
use auth_core::keys::KeySet;
use auth_core::tenant_issuers::{TenantIssuer, TenantKeySets, TrustedIssuer};
use auth_core::{IssuerPolicy, Rejection};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::ops::Deref;
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
    /// Exact issuers, by `iss`.
    by_issuer: HashMap<String, IssuerKeys>,
    /// Exact issuers whose persisted set this isolate has looked for.
    restored: HashSet<String>,
    /// Each template's tenants, by the template's position in the configuration.
    templates: HashMap<usize, TenantKeySets>,
}

impl IssuerKeyCaches {
    fn template(&mut self, index: usize, template: &IssuerPolicy) -> &mut TenantKeySets {
        self.templates
            .entry(index)
            .or_insert_with(|| TenantKeySets::new(template))
    }
}

/// The policy a token's issuer is trusted under: a configured entry, or a template's instance for
/// one tenant (held by the isolate's [`TenantKeySets`]).
pub enum Trusted<'e> {
    Exact(&'e IssuerPolicy),
    Tenant(Arc<IssuerPolicy>),
}

impl Deref for Trusted<'_> {
    type Target = IssuerPolicy;
    fn deref(&self) -> &IssuerPolicy {
        match self {
            Trusted::Exact(p) => p,
            Trusted::Tenant(p) => p,
        }
    }
}

/// The trusted policy for a token's `iss`, before anything is fetched: `IssuerUntrusted` for an
/// issuer no entry names (a template's slug of the wrong shape among them) or a tenant the origin
/// recently said it does not know; `KeysUnavailable` when too many new tenants were looked up.
pub fn resolve<'e>(edge: &'e Edge, iss: &str, now: i64) -> Result<Trusted<'e>, Rejection> {
    match edge.config.expectations.resolve(iss)? {
        TrustedIssuer::Exact(policy) => Ok(Trusted::Exact(policy)),
        TrustedIssuer::Tenant(t) => edge
            .issuer_keys
            .borrow_mut()
            .template(t.index, t.template)
            .sight(&t.slug, now)
            .map(Trusted::Tenant),
    }
}

/// The policy for a pushed notice's issuer (authenticated: a tenant is held without counting as a
/// first lookup).
pub fn for_notice<'e>(edge: &'e Edge, iss: &str) -> Option<Trusted<'e>> {
    match edge.config.expectations.resolve(iss).ok()? {
        TrustedIssuer::Exact(policy) => Some(Trusted::Exact(policy)),
        TrustedIssuer::Tenant(t) => Some(Trusted::Tenant(Arc::new(t.policy()))),
    }
}

/// Runs `f` on the issuer's key-set lifecycle (a tenant's inside its template's sets).
fn with_entry<T>(
    edge: &Edge,
    policy: &IssuerPolicy,
    f: impl FnOnce(&mut IssuerKeys) -> T,
) -> Result<T, Rejection> {
    with_keys(edge, policy, |keys, _| f(keys))
}

/// Like [`with_entry`], with the "persisted set looked for" flag of the issuer.
fn with_keys<T>(
    edge: &Edge,
    policy: &IssuerPolicy,
    f: impl FnOnce(&mut IssuerKeys, &mut bool) -> T,
) -> Result<T, Rejection> {
    let mut caches = edge.issuer_keys.borrow_mut();
    match edge.config.expectations.resolve(&policy.issuer)? {
        TrustedIssuer::Exact(_) => {
            let caches = &mut *caches;
            let mut restored = caches.restored.contains(&policy.issuer);
            let was = restored;
            // Looked up before it is inserted: the issuer is cloned once per isolate, not per request.
            if !caches.by_issuer.contains_key(&policy.issuer) {
                caches
                    .by_issuer
                    .insert(policy.issuer.clone(), IssuerKeys::new(policy.jwks_cache));
            }
            let keys = caches
                .by_issuer
                .get_mut(&policy.issuer)
                .ok_or(Rejection::KeysUnavailable)?;
            let out = f(keys, &mut restored);
            if restored && !was {
                caches.restored.insert(policy.issuer.clone());
            }
            Ok(out)
        }
        TrustedIssuer::Tenant(t) => {
            let entry = caches
                .template(t.index, t.template)
                .entry(&t.slug, crate::now_unix())?;
            Ok(f(&mut entry.keys, &mut entry.restored))
        }
    }
}

/// The issuer's key set for this request.
pub async fn current(
    edge: &Rc<Edge>,
    policy: &IssuerPolicy,
    ctx: &Context,
) -> Result<Arc<KeySet>, Rejection> {
    restore_once(edge, policy).await?;
    let mut waited = Duration::ZERO;
    loop {
        let now = crate::now_unix();
        match with_entry(edge, policy, |e| e.plan(now))? {
            Plan::Use(keys) => return Ok(keys),
            Plan::UseAndRefresh(keys) => {
                let (edge, policy) = (edge.clone(), policy.clone());
                ctx.wait_until(async move {
                    fetch_and_record(&edge, &policy).await;
                });
                return Ok(keys);
            }
            Plan::Fetch => {
                return match fetch_and_record(edge, policy).await {
                    Some(keys) => Ok(keys),
                    // A tenant the origin just said it does not know is untrusted (401), not
                    // unavailable: `with_entry` refuses it.
                    None => with_entry(edge, policy, |_| ()).and(Err(Rejection::KeysUnavailable)),
                };
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
        match with_entry(edge, policy, |e| e.plan_unknown_kid(kid, now))? {
            UnknownKidPlan::Refuse => return Err(Rejection::KeyUnknown),
            UnknownKidPlan::Refetch => {
                let keys = fetch_and_record(edge, policy)
                    .await
                    .ok_or(Rejection::KeyUnknown)?;
                if keys.find(kid).is_none() {
                    with_entry(edge, policy, |e| e.remember_unknown(kid, crate::now_unix()))?;
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
                })?;
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
            })
            .ok()?;
            persist(edge, policy, &document, now, now + held.1).await;
            held.0
        }
        Err(failure) => {
            if matches!(failure, Failure::NotFound) {
                if let Ok(TrustedIssuer::Tenant(t)) =
                    edge.config.expectations.resolve(&policy.issuer)
                {
                    return not_found(edge, &t, policy, now);
                }
            }
            worker::console_warn!(
                "jwks.fetch_failed issuer={} reason={failure}",
                policy.issuer
            );
            with_entry(edge, policy, |e| e.fetched(Err(()), now)).ok()?
        }
    }
}

/// A template's tenant whose JWKS the origin does not have: remembered as unknown unless it holds
/// a set (`TenantKeySets::not_found`).
fn not_found(
    edge: &Edge,
    t: &TenantIssuer<'_>,
    policy: &IssuerPolicy,
    now: i64,
) -> Option<Arc<KeySet>> {
    let held = edge
        .issuer_keys
        .borrow_mut()
        .template(t.index, t.template)
        .not_found(&t.slug, now);
    if held.is_none() {
        worker::console_warn!("jwks.tenant_unknown issuer={}", policy.issuer);
    }
    held
}

/// Why a fetch gave no key set.
#[derive(Debug)]
enum Failure {
    /// 404: for a template's tenant, the origin does not know it.
    NotFound,
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NotFound => f.write_str("status 404"),
            Failure::Other(reason) => f.write_str(reason),
        }
    }
}

async fn fetch(edge: &Edge, uri: &str) -> Result<(KeySet, Option<i64>, String), Failure> {
    let other = |e: worker::Error| Failure::Other(e.to_string());
    let headers = Headers::new();
    headers.set("accept", "application/json").map_err(other)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let request = Request::new_with_init(uri, &init).map_err(other)?;
    let mut response = Fetch::Request(request).send().await.map_err(other)?;
    match response.status_code() {
        200 => {}
        404 => return Err(Failure::NotFound),
        status => return Err(Failure::Other(format!("status {status}"))),
    }
    let max_age = response
        .headers()
        .get("cache-control")
        .ok()
        .flatten()
        .and_then(|v| key_cache::max_age(&v));
    let body = response.text().await.map_err(other)?;
    let keys = importable(
        edge,
        KeySet::from_jwks_json(body.as_bytes()).map_err(|e| Failure::Other(e.to_string()))?,
    )
    .await
    .map_err(Failure::Other)?;
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

/// On an isolate's first use of an issuer (or of a template's tenant), loads the persisted set (if
/// any) from KV.
async fn restore_once(edge: &Edge, policy: &IssuerPolicy) -> Result<(), Rejection> {
    let first = with_keys(edge, policy, |keys, restored| {
        let first = !*restored && !keys.has_keys();
        *restored = true;
        first
    })?;
    if !first {
        return Ok(());
    }
    edge.count(AdapterCall::PersistedKeys);
    let Ok(Some(text)) = edge.persisted_keys.get(&policy.issuer).await else {
        return Ok(());
    };
    let Ok(record) = serde_json::from_str::<Persisted>(&text) else {
        return Ok(());
    };
    let Ok(keys) = KeySet::from_jwks_json(record.document.as_bytes()) else {
        return Ok(());
    };
    let Ok(keys) = importable(edge, keys).await else {
        return Ok(());
    };
    with_entry(edge, policy, |e| {
        e.restore(keys, record.fetched_at, record.fresh_until)
    })
}
