//! Revocation checks and writes: KV deny entries for every route, the tenant's Durable Object for
//! routes that ask for strict revocation.
//!
//! Bound: a KV write can take 60 s or more to be seen at another location (and a missing key is cached
//! there too), so `eventual` routes may accept a revoked session for about a minute; `strict` routes
//! ask the tenant's Durable Object, which is strongly consistent, and see a revocation as soon as the
//! origin's push has returned.

use auth_core::notice::RevocationNotice;
use auth_core::sessions::SessionKey;
use durable_objects::{RevokeRequest, SessionStatus};
use worker::{Env, Headers, Method, Request, RequestInit, Result};

pub const KV_BINDING: &str = "REVOCATIONS";
pub const DO_BINDING: &str = "TENANT_SESSIONS";

fn kv_key(session: &SessionKey<'_>) -> String {
    format!("deny:{}:{}", session.tenant, session.session)
}

/// Whether a KV deny entry exists for the session.
pub async fn denied_in_kv(env: &Env, session: &SessionKey<'_>) -> Result<bool> {
    let kv = env.kv(KV_BINDING)?;
    Ok(kv.get(&kv_key(session)).text().await?.is_some())
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
