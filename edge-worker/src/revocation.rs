//! Revocation checks and writes: KV deny entries for `eventual` routes, the tenant's Durable Object
//! for routes that ask for strict revocation.
//!
//! Bound: a KV write can take 60 s or more to be seen at another location (and a missing key is cached
//! there too), so `eventual` routes may accept a revoked session for about a minute, plus the
//! `REVOCATION_CACHE_SECONDS` for which an isolate reuses a KV answer (`DenyListMemo`); `strict`
//! routes ask the tenant's Durable Object on every request, which is strongly consistent, and see a
//! revocation as soon as the origin's push has returned.
//!
//! Only a verified token's session is ever looked up: a token whose signature has not been checked
//! costs no read here.

use crate::isolate::{AdapterCall, Edge};
use auth_core::notice::RevocationNotice;
use auth_core::sessions::SessionKey;
use durable_objects::TenantSessionsClient;
use worker::Result;

/// Whether a KV deny entry exists for the session, as KV answered at most
/// `REVOCATION_CACHE_SECONDS` ago.
pub async fn denied_in_kv(edge: &Edge, session: &SessionKey<'_>, now: i64) -> Result<bool> {
    if let Some(denied) = edge.deny_memo.borrow_mut().answer(session, now) {
        return Ok(denied);
    }
    edge.count(AdapterCall::DenyEntryRead);
    let denied = edge
        .revocations
        .get(&session.deny_entry_key())
        .await?
        .is_some();
    edge.deny_memo.borrow_mut().record(session, denied, now);
    Ok(denied)
}

/// Whether the tenant's Durable Object has the session revoked.
pub async fn revoked_in_object(edge: &Edge, session: &SessionKey<'_>) -> Result<bool> {
    edge.count(AdapterCall::TenantObject);
    TenantSessionsClient::for_tenant(&edge.tenant_sessions, session.tenant)?
        .is_revoked(session.session)
        .await
}

/// Records a pushed revocation in both tiers: the Durable Object first (it is what strict routes
/// read), then the KV deny entry.
pub async fn record(edge: &Edge, notice: &RevocationNotice, now: i64) -> Result<()> {
    let session = SessionKey {
        tenant: &notice.tenant_id,
        session: &notice.session_id,
    };
    edge.count(AdapterCall::TenantObject);
    TenantSessionsClient::for_tenant(&edge.tenant_sessions, session.tenant)?
        .revoke(session.session, notice.expires_at)
        .await?;
    edge.deny_memo.borrow_mut().forget(&session);
    let ttl = u64::try_from(notice.deny_ttl(now)).unwrap_or(60);
    edge.count(AdapterCall::DenyEntryWrite);
    edge.revocations
        .put(&session.deny_entry_key(), "1", ttl)
        .await?;
    Ok(())
}
