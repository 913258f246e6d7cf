//! Revocation checks and writes, at the three levels of `auth_core::sessions` (a session, a user's
//! not-before, the tenant's not-before): KV for `eventual` routes, the tenant's Durable Object for
//! routes that ask for strict revocation.
//!
//! Bound: a KV write can take 60 s or more to be seen at another location (and a missing key is cached
//! there too), so `eventual` routes may accept a revoked session for about a minute, plus the
//! `REVOCATION_CACHE_SECONDS` for which an isolate reuses a KV answer (`RevocationMemo`); `strict`
//! routes ask the tenant's Durable Object on every request, which is strongly consistent, and see a
//! revocation as soon as the origin's push has returned.
//!
//! An `eventual` route reads the session's deny entry and both not-befores from KV, and the isolate
//! remembers each of them on its own (`RevocationMemo`): a tenant's not-before serves every token
//! of the tenant and a user's every token of the user, so a request reads only the levels it does
//! not hold, in one KV call. A token without `sid` has no deny entry to read: its user's and its
//! tenant's not-befores are (`auth_core::sessions::revocation_check` says why).
//!
//! Only a verified token's session is ever looked up: a token whose signature has not been checked
//! costs no read here.

use crate::isolate::{AdapterCall, Edge};
use auth_core::notice::{kv_ttl, NotBeforeNotice, RevocationNotice, SessionNotice};
use auth_core::sessions::{
    tenant_not_before_key, user_not_before_key, NotBefore, RevocationSubject, SessionKey,
};
use durable_objects::TenantSessionsClient;
use worker::{Error, Result};

/// Whether KV (as it answered at most `REVOCATION_CACHE_SECONDS` ago) refuses the token at any
/// level.
pub async fn refused_by_kv(edge: &Edge, subject: &RevocationSubject<'_>, now: i64) -> Result<bool> {
    let cached = edge.revocation_memo.borrow_mut().standing(subject, now);
    let standing = match cached {
        Ok(standing) => standing,
        Err(read) => {
            edge.count(AdapterCall::DenyEntryRead);
            let found = edge
                .revocations
                .get_each(read.keys())
                .await
                .map_err(Error::from)?;
            edge.revocation_memo
                .borrow_mut()
                .complete(read, |key| found.value_of(key), now)
                .map_err(|e| Error::RustError(e.to_string()))?
        }
    };
    Ok(standing.refuses(subject.issued_at))
}

/// Whether the tenant's Durable Object refuses the token at any level.
pub async fn refused_by_object(edge: &Edge, subject: &RevocationSubject<'_>) -> Result<bool> {
    let Some(session) = subject.session_key() else {
        // `revocation_check` sends only tokens with a session here; refuse rather than guess.
        return Ok(true);
    };
    edge.count(AdapterCall::TenantObject);
    TenantSessionsClient::for_tenant(&edge.tenant_sessions, session.tenant)?
        .is_revoked(session.session, subject.user, subject.issued_at)
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
    edge.revocation_memo.borrow_mut().forget_session(&session);
    let ttl = u64::try_from(notice.deny_ttl(now)).unwrap_or(60);
    edge.count(AdapterCall::DenyEntryWrite);
    edge.revocations
        .put(&session.deny_entry_key(), "1", ttl)
        .await?;
    Ok(())
}

/// Records a pushed not-before in both tiers: the object first, which answers the not-before in
/// force (never earlier than one it has: a late, older notice cannot pull KV's value back), then KV.
pub async fn record_not_before(edge: &Edge, notice: &NotBeforeNotice, now: i64) -> Result<()> {
    edge.count(AdapterCall::TenantObject);
    let in_force = TenantSessionsClient::for_tenant(&edge.tenant_sessions, &notice.tenant_id)?
        .set_not_before(
            notice.user_id.as_deref(),
            NotBefore {
                not_before: notice.not_before,
                expires_at: notice.expires_at,
            },
        )
        .await?;
    edge.revocation_memo
        .borrow_mut()
        .forget_not_before(&notice.tenant_id, notice.user_id.as_deref());
    let key = match &notice.user_id {
        Some(user) => user_not_before_key(&notice.tenant_id, user),
        None => tenant_not_before_key(&notice.tenant_id),
    };
    let ttl = u64::try_from(kv_ttl(in_force.expires_at, now)).unwrap_or(60);
    edge.count(AdapterCall::DenyEntryWrite);
    edge.revocations
        .put(&key, &in_force.not_before.to_string(), ttl)
        .await?;
    Ok(())
}

/// Records a session the origin opened or refreshed, in the tenant's object (KV has no use for it).
pub async fn record_session(edge: &Edge, notice: &SessionNotice) -> Result<()> {
    edge.count(AdapterCall::TenantObject);
    TenantSessionsClient::for_tenant(&edge.tenant_sessions, &notice.tenant_id)?
        .seen(&notice.session_id, notice.session.clone())
        .await
}
