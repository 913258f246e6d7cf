//! Revocation checks and writes: KV deny entries for every route, the tenant's Durable Object for
//! routes that ask for strict revocation.
//!
//! Bound: a KV write can take 60 s or more to be seen at another location (and a missing key is cached
//! there too), so `eventual` routes may accept a revoked session for about a minute, plus the
//! `REVOCATION_CACHE_SECONDS` for which an isolate reuses a KV answer (`DenyListMemo`); `strict`
//! routes ask the tenant's Durable Object on every request, which is strongly consistent, and see a
//! revocation as soon as the origin's push has returned.

use auth_core::notice::RevocationNotice;
use auth_core::sessions::{DenyListMemo, SessionKey};
use durable_objects::{RevokeRequest, SessionStatus};
use std::cell::RefCell;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::{Env, Headers, Method, Request, RequestInit, Result};

pub const KV_BINDING: &str = "REVOCATIONS";
pub const DO_BINDING: &str = "TENANT_SESSIONS";
/// Sessions whose KV answer an isolate remembers.
const MEMO_CAPACITY: usize = 4096;

thread_local! {
    static MEMO: RefCell<Option<DenyListMemo>> = const { RefCell::new(None) };
    static KV: RefCell<Option<KvNamespace>> = const { RefCell::new(None) };
}

#[wasm_bindgen]
extern "C" {
    /// The KV binding itself: one call per lookup, no wrapper objects built per request.
    #[derive(Clone)]
    type KvNamespace;
    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_text(this: &KvNamespace, key: &str) -> std::result::Result<js_sys::Promise, JsValue>;
}

#[wasm_bindgen(module = "/js/kv.js")]
extern "C" {
    /// `kv.get(key)`, resolving to `undefined` where the read fails (see `js/kv.js`).
    #[wasm_bindgen(js_name = readOrUndefined, catch)]
    fn read_or_undefined(
        kv: &KvNamespace,
        key: &str,
    ) -> std::result::Result<js_sys::Promise, JsValue>;
}

fn with_memo<T>(ttl_secs: i64, f: impl FnOnce(&mut DenyListMemo) -> T) -> T {
    MEMO.with(|m| {
        f(m.borrow_mut()
            .get_or_insert_with(|| DenyListMemo::new(MEMO_CAPACITY, ttl_secs)))
    })
}

fn kv_key(session: &SessionKey<'_>) -> String {
    format!("deny:{}:{}", session.tenant, session.session)
}

/// Whether a KV deny entry exists for the session, as KV answered at most `memo_secs` ago, or as a
/// prefetch for this very session found.
pub async fn denied_in_kv(
    env: &Env,
    session: &SessionKey<'_>,
    memo_secs: i64,
    prefetched: Option<Prefetched>,
    now: i64,
) -> Result<bool> {
    if let Some(denied) = with_memo(memo_secs, |m| m.answer(session, now)) {
        return Ok(denied);
    }
    let key = kv_key(session);
    let denied = match prefetched
        .filter(|p| p.kv_key == key)
        .and_then(|p| p.denied)
    {
        Some(denied) => denied,
        None => !crate::eager::settled(binding(env)?.get_text(&key)?)
            .await?
            .is_null(),
    };
    with_memo(memo_secs, |m| m.record(session, denied, now));
    Ok(denied)
}

/// A deny-entry read started before the token's signature is checked, from the token's unverified
/// session (`UnverifiedToken::session_hint`), so that the two wait together. Its answer counts only
/// for the session the verified claims name (`denied_in_kv` compares).
pub struct Prefetch {
    kv_key: String,
    /// Resolves to the entry's value, `null` when absent, `undefined` when the read failed.
    pub promise: js_sys::Promise,
}

/// What a [`Prefetch`] found.
pub struct Prefetched {
    kv_key: String,
    /// `None` when the read failed: the check then reads again, and a failure there is a 503.
    denied: Option<bool>,
}

impl Prefetch {
    pub fn answered(self, value: &JsValue) -> Prefetched {
        Prefetched {
            kv_key: self.kv_key,
            denied: (!value.is_undefined()).then(|| !value.is_null()),
        }
    }
}

/// Starts the deny-entry read for `session`, unless this isolate's memo already answers for it.
pub fn prefetch(env: &Env, session: &SessionKey<'_>, memo_secs: i64, now: i64) -> Option<Prefetch> {
    if with_memo(memo_secs, |m| m.answer(session, now)).is_some() {
        return None;
    }
    let kv_key = kv_key(session);
    // A failed read resolves to `undefined` instead of failing what it is awaited with.
    let promise = read_or_undefined(&binding(env).ok()?, &kv_key).ok()?;
    Some(Prefetch { kv_key, promise })
}

/// The KV binding, looked up once per isolate: bindings outlive the request that first reads them.
fn binding(env: &Env) -> Result<KvNamespace> {
    if let Some(kv) = KV.with(|k| k.borrow().clone()) {
        return Ok(kv);
    }
    let binding = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(KV_BINDING))?;
    if binding.is_undefined() {
        return Err(worker::Error::RustError(format!(
            "{KV_BINDING} is not bound"
        )));
    }
    let kv: KvNamespace = binding.unchecked_into();
    KV.with(|k| *k.borrow_mut() = Some(kv.clone()));
    Ok(kv)
}

/// Whether the tenant's Durable Object has the session revoked.
pub async fn revoked_in_object(env: &Env, session: &SessionKey<'_>) -> Result<bool> {
    let stub = env
        .durable_object(DO_BINDING)?
        .id_from_name(session.tenant)?
        .get_stub()?;
    let url = format!(
        "https://tenant-sessions/sessions/{}",
        encode_segment(session.session)
    );
    let mut response = stub.fetch_with_str(&url).await?;
    if response.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "tenant object answered {}",
            response.status_code()
        )));
    }
    Ok(response.json::<SessionStatus>().await?.revoked)
}

/// Records a pushed revocation in both tiers: the Durable Object first (it is what strict routes
/// read), then the KV deny entry.
pub async fn record(env: &Env, notice: &RevocationNotice, now: i64) -> Result<()> {
    let session = SessionKey {
        tenant: &notice.tenant_id,
        session: &notice.session_id,
    };
    let body = serde_json::to_string(&RevokeRequest {
        session_id: notice.session_id.clone(),
        expires_at: notice.expires_at,
    })?;
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let request = Request::new_with_init("https://tenant-sessions/revoke", &init)?;
    let stub = env
        .durable_object(DO_BINDING)?
        .id_from_name(session.tenant)?
        .get_stub()?;
    let response = stub.fetch_with_request(request).await?;
    if response.status_code() != 204 {
        return Err(worker::Error::RustError(format!(
            "tenant object answered {}",
            response.status_code()
        )));
    }
    MEMO.with(|m| {
        if let Some(memo) = m.borrow_mut().as_mut() {
            memo.forget(&session);
        }
    });
    let ttl = u64::try_from(notice.deny_ttl(now)).unwrap_or(60);
    env.kv(KV_BINDING)?
        .put(&kv_key(&session), "1")?
        .expiration_ttl(ttl)
        .execute()
        .await?;
    Ok(())
}

/// Percent-encodes everything but unreserved characters: a session id is data, never a path.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
