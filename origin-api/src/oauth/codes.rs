//! Authorization codes: one-time, short-lived, stored only as their hash, bound to everything the
//! token exchange must match.

use crate::domain::CodeChallenge;
use crate::oauth::scope::Scope;
use crate::tokens::{hash_refresh_token, RefreshToken};
use sqlx::{PgConnection, PgExecutor};
use time::OffsetDateTime;
use uuid::Uuid;

/// How long a code may wait for its exchange. Invariant: short (OAuth 2.1 §4.1.2 asks for at most
/// 10 minutes; the client exchanges it right after the redirect, so a minute is plenty).
pub const CODE_LIFETIME: time::Duration = time::Duration::seconds(60);
/// How long a redeemed or expired code is kept, so that presenting it again still revokes what it
/// issued; after that it is purged and is merely unknown.
pub const USED_CODE_RETENTION: time::Duration = time::Duration::hours(24);

/// What a code is issued for.
#[derive(Debug)]
pub struct NewCode<'a> {
    pub tenant_id: Uuid,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub challenge: &'a CodeChallenge,
    pub scope: &'a Scope,
    pub nonce: Option<&'a str>,
    pub user_id: Uuid,
    pub page_session_id: Uuid,
    pub auth_time: OffsetDateTime,
    pub now: OffsetDateTime,
}

/// Stores a new code and returns its value (256 random bits, for the redirect only).
pub async fn issue(
    executor: impl PgExecutor<'_>,
    code: &NewCode<'_>,
) -> Result<String, sqlx::Error> {
    let value = RefreshToken::generate();
    sqlx::query(
        "INSERT INTO authorization_codes (code_hash, tenant_id, client_id, redirect_uri, code_challenge,
                                          scope, nonce, user_id, page_session_id, auth_time, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(value.hash.as_slice())
    .bind(code.tenant_id)
    .bind(code.client_id)
    .bind(code.redirect_uri)
    .bind(code.challenge.as_str())
    .bind(code.scope.as_str())
    .bind(code.nonce)
    .bind(code.user_id)
    .bind(code.page_session_id)
    .bind(code.auth_time)
    .bind(code.now)
    .bind(code.now + CODE_LIFETIME)
    .execute(executor)
    .await?;
    Ok(value.value)
}

/// A presented code as stored, locked for the rest of the transaction.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredCode {
    pub code_hash: Vec<u8>,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub user_id: Uuid,
    pub page_session_id: Uuid,
    pub auth_time: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
    /// The API session the code opened, once redeemed.
    pub session_id: Option<Uuid>,
}

/// The tenant's code with this value, locked: concurrent exchanges of one code are serialised, and
/// the second sees it used.
pub async fn find_for_update(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    value: &str,
) -> Result<Option<StoredCode>, sqlx::Error> {
    sqlx::query_as(
        "SELECT code_hash, client_id, redirect_uri, code_challenge, scope, nonce, user_id,
                page_session_id, auth_time, expires_at, used_at, session_id
         FROM authorization_codes WHERE code_hash = $1 AND tenant_id = $2 FOR UPDATE",
    )
    .bind(hash_refresh_token(value).as_slice())
    .bind(tenant_id)
    .fetch_optional(conn)
    .await
}

/// Marks a code redeemed by opening `session_id`.
pub async fn mark_used(
    conn: &mut PgConnection,
    code_hash: &[u8],
    session_id: Uuid,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE authorization_codes SET used_at = $2, session_id = $3 WHERE code_hash = $1",
    )
    .bind(code_hash)
    .bind(now)
    .bind(session_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// When the user signed in to the hosted pages' session `session_id` (the ID token's `auth_time`),
/// while it is live.
pub async fn signed_in_at(
    executor: impl PgExecutor<'_>,
    session_id: Uuid,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT created_at FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(session_id)
    .fetch_optional(executor)
    .await
}

/// Deletes codes past their retention (spawned maintenance).
pub async fn purge_expired(executor: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    let cutoff = OffsetDateTime::now_utc() - USED_CODE_RETENTION;
    let done = sqlx::query("DELETE FROM authorization_codes WHERE expires_at < $1")
        .bind(cutoff)
        .execute(executor)
        .await?;
    Ok(done.rows_affected())
}
