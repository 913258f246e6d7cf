//! Sessions: sign-in, refresh-token rotation with reuse detection, and revocation.
//!
//! A session is the unit of revocation: every access token names it in `sid`. Its refresh tokens
//! form one family; each is single-use (RFC 9700 §4.14.2), and presenting a used one revokes the whole
//! session here and at the edge.

use crate::audit::{self, Actor, Event, EventType};
use crate::auth::Authenticated;
use crate::client_ip::ClientIp;
use crate::domain::Email;
use crate::edge_push::{self, Notice, OutboxEntry};
use crate::error::ApiError;
use crate::errors;
use crate::extract::{ApiJson, ApiPath};
use crate::keys::{self, CurrentKey};
use crate::openapi::{tags, TenantPath, BEARER, DISABLED, HASHING, JSON_BODY, TENANT, THROTTLED};
use crate::orgs::{self, OrgClaims};
use crate::revocation::{self, EdgeOutcome, Target};
use crate::state::AppState;
use crate::tenants::{self, Tenant};
use crate::throttle::{self, Key};
use crate::tokens::{hash_refresh_token, mint_access_token, AccessTokenRequest, RefreshToken};
use crate::user_agent;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Absolute session lifetime. Invariant: rotation never extends it; after it, every refresh token of
/// the session is refused and the user signs in again.
pub const SESSION_LIFETIME: time::Duration = time::Duration::days(30);

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "ada@example.com", "password": "correct horse battery staple"}))]
pub struct Credentials {
    email: String,
    #[schema(value_type = String)]
    password: SecretString,
    /// The organization the session acts for; omitted: the one the user joined first, if any.
    org_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[schema(value_type = String)]
    pub(crate) refresh_token: SecretString,
}

/// The token response of sign-in and refresh (`Cache-Control: no-store`).
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// An `at+jwt` signed by the tenant's current key.
    access_token: String,
    #[schema(value_type = String, pattern = "^Bearer$")]
    token_type: &'static str,
    /// Seconds the access token lives.
    expires_in: i64,
    /// Single use: each refresh answers a new one.
    refresh_token: String,
    session_id: Uuid,
}

/// What a revocation answers when the edge has not acknowledged it yet (the outbox retries).
#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationPending {
    pub session_id: Uuid,
    pub revoked: bool,
    /// `pending`.
    #[schema(value_type = String, pattern = "^pending$")]
    pub edge: &'static str,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[REDACTED]")
            .field("refresh_token", &"[REDACTED]")
            .field("expires_in", &self.expires_in)
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// What a successful sign-in or refresh hands out, before the access token is minted.
#[derive(Debug)]
pub(crate) struct Grant {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub refresh_token: RefreshToken,
    pub now: OffsetDateTime,
    /// The organization the session acts for, as its tokens state it.
    pub org: Option<OrgClaims>,
    /// What an OAuth client was granted, for a session opened through the code flow.
    pub oauth_scope: Option<String>,
    /// The session's notice for the tenant's object, queued in the grant's transaction: push it
    /// ([`revocation::push_in_background`]) once that commits (else the outbox retry does, once
    /// its claim lapses).
    pub edge: Vec<OutboxEntry>,
}

/// Mints an access token and answers with both tokens, uncacheable (RFC 6749 §5.1).
fn token_response(
    state: &AppState,
    tenant: &Tenant,
    key: &CurrentKey,
    grant: Grant,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let ttl = state.access_token_ttl_for(tenant);
    let issuer = state.issuer(&tenant.slug);
    let access_token = mint_access_token(
        &AccessTokenRequest {
            issuer: &issuer,
            audience: &tenant.audience,
            tenant_id: tenant.id,
            user_id: grant.user_id,
            session_id: grant.session_id,
            now: grant.now.unix_timestamp(),
            ttl_secs: ttl,
            org: grant.org.as_ref(),
            oauth_scope: grant.oauth_scope.as_deref(),
        },
        key,
    )?;
    let body = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token: grant.refresh_token.value,
        session_id: grant.session_id,
    };
    Ok((status, [(header::CACHE_CONTROL, "no-store")], ApiJson(body)).into_response())
}

async fn insert_refresh_token(
    conn: &mut sqlx::PgConnection,
    id: Uuid,
    session_id: Uuid,
    token: &RefreshToken,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO refresh_tokens (id, session_id, token_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(session_id)
        .bind(token.hash.as_slice())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

errors!(
    SignInErrors = [
        JSON_BODY,
        TENANT,
        THROTTLED,
        HASHING,
        DISABLED,
        &[(401, &["invalid_credentials"]), (404, &["org_not_found"])],
    ]
);

/// Sign in with an e-mail address and a password.
///
/// An unknown address and a wrong password get the same answer. Failed attempts count against the
/// account and the client address.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/sessions",
    operation_id = "sign_in",
    tag = tags::SESSIONS,
    params(TenantPath),
    request_body = Credentials,
    responses(
        (status = 201, description = "A new session", body = TokenResponse),
        SignInErrors,
    ),
)]
pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let user_id = check_password(&state, &tenant, client, &body.email, body.password).await?;
    let mut tx = state.db().begin().await?;
    let mut grant = open_session_in_tx(
        &mut tx,
        &state,
        &tenant,
        user_id,
        &headers,
        None,
        None,
        body.org_id,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant.id, user.id = %user_id, session.id = %grant.session_id, "signed in");
    revocation::push_in_background(&state, std::mem::take(&mut grant.edge));
    token_response_now(&state, &tenant, grant, StatusCode::CREATED).await
}

/// Whose account `email` and `password` prove, or 401 `invalid_credentials` (the API's and the
/// hosted sign-in page's check).
///
/// The attempt is reserved against the account and the client address before anything else runs;
/// a blocked one answers 429 `too_many_attempts` without a password check.
pub(crate) async fn check_password(
    state: &AppState,
    tenant: &Tenant,
    client: ClientIp,
    email: &str,
    password: SecretString,
) -> Result<Uuid, ApiError> {
    let reservation = throttle::reserve(
        state.db(),
        tenant,
        vec![Key::ip(client), Key::account(email)],
    )
    .await?;
    // A malformed email names no user: same answer, same work as an unknown one.
    let user: Option<(Uuid, Option<String>)> = match Email::parse(email) {
        Ok(email) => sqlx::query_as(
            "SELECT id, password_hash FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)",
        )
        .bind(tenant.id)
        .bind(email.as_str())
        .fetch_optional(state.db())
        .await?,
        Err(_) => None,
    };
    let (user_id, stored_hash) = user.unzip();
    // With no user, or a passkey-only one, a dummy hash is checked: every failure takes the same time.
    let stored_hash = stored_hash.flatten();
    let verified = match state.hasher().verify(password, stored_hash).await {
        Ok(verified) => verified,
        Err(e) => {
            // No check ran (busy) or it broke on our side: not the client's failure.
            reservation.release(state.db()).await?;
            return Err(e.into());
        }
    };
    let Some(user_id) = user_id.filter(|_| verified) else {
        // The reservation stays: this failure counts.
        audit::record_sign_in_failure(
            state.db(),
            tenant.id,
            user_id,
            Some(email),
            "password",
            &reservation,
        )
        .await?;
        return Err(ApiError::InvalidCredentials);
    };
    reservation.succeeded(state.db()).await?;
    Ok(user_id)
}

/// Answers with a fresh access token signed by the tenant's current key.
pub(crate) async fn token_response_now(
    state: &AppState,
    tenant: &Tenant,
    grant: Grant,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let key = keys::current(state.db(), state.kek(), tenant.id).await?;
    token_response(state, tenant, &key, grant, status)
}

/// Opens a session for a user who has just proven who they are, by password or by passkey: the
/// same session row, refresh token and `sid` (so the same edge state) whichever way they signed in.
pub(crate) async fn open_session(
    state: &AppState,
    tenant: &Tenant,
    user_id: Uuid,
    headers: &HeaderMap,
) -> Result<Grant, ApiError> {
    open_session_with_cookie(state, tenant, user_id, headers, None).await
}

/// [`open_session`], recording the hash of the hosted pages' session cookie when there is one.
pub(crate) async fn open_session_with_cookie(
    state: &AppState,
    tenant: &Tenant,
    user_id: Uuid,
    headers: &HeaderMap,
    cookie_hash: Option<&[u8; 32]>,
) -> Result<Grant, ApiError> {
    let mut tx = state.db().begin().await?;
    let mut grant = open_session_in_tx(
        &mut tx,
        state,
        tenant,
        user_id,
        headers,
        cookie_hash,
        None,
        None,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant.id, user.id = %user_id, session.id = %grant.session_id, "signed in");
    revocation::push_in_background(state, std::mem::take(&mut grant.edge));
    Ok(grant)
}

/// Longest client summary a session keeps (the `sessions.client` CHECK).
const MAX_CLIENT_CHARS: usize = 64;

/// The client and scope a session opened through the code flow was granted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OAuthGrant<'a> {
    pub client_id: &'a str,
    pub client_name: &'a str,
    pub scope: &'a str,
}

/// [`open_session_with_cookie`] inside the caller's transaction (the token exchange marks its code
/// redeemed in the same one), optionally bound to the OAuth client it is opened for, acting for
/// `org_id` (404 `org_not_found` unless the user is a member) or else the organization the user
/// joined first.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn open_session_in_tx(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    tenant: &Tenant,
    user_id: Uuid,
    headers: &HeaderMap,
    cookie_hash: Option<&[u8; 32]>,
    oauth: Option<OAuthGrant<'_>>,
    org_id: Option<Uuid>,
) -> Result<Grant, ApiError> {
    // A session opened for an app is named after it (what its owner recognises in their list); the
    // user agent there is the app's server, not the person's browser.
    let client = match oauth {
        Some(grant) => grant.client_name.chars().take(MAX_CLIENT_CHARS).collect(),
        None => user_agent::describe(
            headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        ),
    };
    let session_id = Uuid::new_v4();
    let refresh_token = RefreshToken::generate();
    // Waits for a sign-out-everywhere, a tenant not-before or a disabling in progress (they lock
    // these rows for update), and reads the clock and the user's state after it: the new session is
    // never swept by one that committed first, its tokens are issued after that not-before, and a
    // user disabled meanwhile gets no session.
    let (disabled,): (bool,) = sqlx::query_as(
        "SELECT u.disabled_at IS NOT NULL FROM users u JOIN tenants t ON t.id = u.tenant_id
         WHERE u.id = $1 FOR KEY SHARE",
    )
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    if disabled {
        return Err(ApiError::UserDisabled);
    }
    let active_org = orgs::initial_org(&mut *tx, tenant.id, user_id, org_id).await?;
    let now = OffsetDateTime::now_utc();
    let access_expires_at = now + time::Duration::seconds(state.access_token_ttl_for(tenant));
    sqlx::query(
        "INSERT INTO sessions (id, tenant_id, user_id, created_at, last_used_at, expires_at, access_expires_at, client,
                               cookie_hash, oauth_client_id, oauth_scope, active_org_id)
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(session_id)
    .bind(tenant.id)
    .bind(user_id)
    .bind(now)
    .bind(now + SESSION_LIFETIME)
    .bind(access_expires_at)
    .bind(&client)
    .bind(cookie_hash.map(|h| h.as_slice()))
    .bind(oauth.map(|o| o.client_id))
    .bind(oauth.map(|o| o.scope))
    .bind(active_org)
    .execute(&mut *tx)
    .await?;
    insert_refresh_token(tx, Uuid::new_v4(), session_id, &refresh_token, now).await?;
    let org = orgs::claims_for_session(&mut *tx, tenant.id, session_id).await?;
    let via = match (oauth, cookie_hash) {
        (Some(_), _) => "oauth_code",
        (None, Some(_)) => "hosted_pages",
        (None, None) => "api",
    };
    audit::record(
        tx,
        Event::new(tenant.id, Actor::User(user_id), EventType::SignInSucceeded)
            .session(session_id)
            .detail("via", via),
    )
    .await?;
    let edge = queue_session_seen(
        tx,
        state,
        tenant.id,
        session_id,
        SeenSession {
            user_id,
            created_at: now,
            last_refreshed_at: now,
            expires_at: now + SESSION_LIFETIME,
            client: &client,
        },
    )
    .await?;
    Ok(Grant {
        user_id,
        session_id,
        refresh_token,
        now,
        org,
        oauth_scope: oauth.map(|o| o.scope.to_owned()),
        edge,
    })
}

/// A session as the tenant's object lists it.
struct SeenSession<'a> {
    user_id: Uuid,
    created_at: OffsetDateTime,
    last_refreshed_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    client: &'a str,
}

/// Queues the notice that tells the tenant's object about a session opened or refreshed in this
/// transaction (nothing when pushes are disabled).
async fn queue_session_seen(
    tx: &mut sqlx::PgConnection,
    state: &AppState,
    tenant_id: Uuid,
    session_id: Uuid,
    seen: SeenSession<'_>,
) -> Result<Vec<OutboxEntry>, sqlx::Error> {
    if state.edge().is_none() {
        return Ok(Vec::new());
    }
    let now = seen.last_refreshed_at.unix_timestamp();
    let notice = Notice::session_seen(
        tenant_id,
        session_id,
        auth_core::sessions::LiveSession {
            user_id: seen.user_id.to_string(),
            created_at: seen.created_at.unix_timestamp(),
            last_refreshed_at: now,
            expires_at: seen.expires_at.unix_timestamp(),
            client: seen.client.to_owned(),
        },
        now,
    );
    edge_push::enqueue(tx, Uuid::new_v4(), vec![notice]).await
}

#[derive(Debug, sqlx::FromRow)]
struct PresentedRefreshToken {
    id: Uuid,
    used: bool,
    session_id: Uuid,
    user_id: Uuid,
    session_revoked: bool,
    session_created_at: OffsetDateTime,
    session_expires_at: OffsetDateTime,
    user_disabled: bool,
    oauth_scope: Option<String>,
    client: String,
}

errors!(
    RefreshErrors = [
        JSON_BODY,
        TENANT,
        THROTTLED,
        DISABLED,
        &[(
            401,
            &[
                "refresh_token_invalid",
                "refresh_token_reused",
                "session_revoked"
            ]
        )],
    ]
);

/// Trade a refresh token for new tokens of the same session.
///
/// Presenting a refresh token that was already used revokes its session (`refresh_token_reused`).
/// Refresh tokens are 256 random bits, so guessing one is hopeless; the per-address limit still
/// caps how fast anyone may try, and every refusal counts against it.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/sessions/refresh",
    operation_id = "refresh_session",
    tag = tags::SESSIONS,
    params(TenantPath),
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens of the same session", body = TokenResponse),
        RefreshErrors,
    ),
)]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientIp,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let reservation = throttle::reserve(state.db(), &tenant, vec![Key::ip(client)]).await?;
    let response = rotate(&state, &tenant, body).await?;
    reservation.succeeded(state.db()).await?;
    Ok(response)
}

/// The refresh itself: every `Err` leaves the caller's attempt counted.
pub(crate) async fn rotate(
    state: &AppState,
    tenant: &Tenant,
    body: RefreshRequest,
) -> Result<Response, ApiError> {
    let hash = hash_refresh_token(body.refresh_token.expose_secret());
    let now = OffsetDateTime::now_utc();

    let mut tx = state.db().begin().await?;
    // Locking the token and its session serialises concurrent refreshes (the loser sees `used`) and
    // a refresh racing a revocation.
    let presented: Option<PresentedRefreshToken> = sqlx::query_as(
        "SELECT rt.id, rt.used_at IS NOT NULL AS used, s.id AS session_id, s.user_id,
                s.revoked_at IS NOT NULL AS session_revoked, s.created_at AS session_created_at,
                s.expires_at AS session_expires_at, s.client,
                u.disabled_at IS NOT NULL AS user_disabled,
                s.oauth_scope
         FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
              JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
         WHERE rt.token_hash = $1 AND s.tenant_id = $2
         FOR UPDATE OF rt, s",
    )
    .bind(hash.as_slice())
    .bind(tenant.id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(presented) = presented else {
        return Err(ApiError::RefreshTokenInvalid);
    };
    if presented.session_revoked {
        return Err(ApiError::SessionRevoked);
    }
    if presented.used {
        // Two parties hold this family: revoke the session, here and at the edge.
        let revoked = revocation::revoke_in_tx(
            &mut tx,
            state,
            tenant.id,
            Target::One {
                user_id: presented.user_id,
                session_id: presented.session_id,
            },
            now,
        )
        .await?;
        audit::record(
            &mut tx,
            Event::new(tenant.id, Actor::System, EventType::RefreshTokenReused)
                .user(presented.user_id)
                .session(presented.session_id),
        )
        .await?;
        tx.commit().await?;
        tracing::warn!(tenant.id = %tenant.id, session.id = %presented.session_id, "refresh token reused; session revoked");
        // The client's answer does not depend on the edge: a failed push stays in the outbox, and
        // even a failure to record that must not turn this refusal into a 500.
        if let Err(e) = revocation::push_committed(state, revoked).await {
            tracing::error!(error.cause = %e, session.id = %presented.session_id, "settling a revocation push failed");
        }
        return Err(ApiError::RefreshTokenReused);
    }
    if presented.session_expires_at <= now {
        return Err(ApiError::RefreshTokenInvalid);
    }
    // Disabling revokes every session too; this holds even for one that escaped it somehow.
    if presented.user_disabled {
        return Err(ApiError::UserDisabled);
    }

    let key = keys::current(&mut *tx, state.kek(), tenant.id).await?;
    let next = RefreshToken::generate();
    let next_id = Uuid::new_v4();
    insert_refresh_token(&mut tx, next_id, presented.session_id, &next, now).await?;
    sqlx::query("UPDATE refresh_tokens SET used_at = $2, replaced_by = $3 WHERE id = $1")
        .bind(presented.id)
        .bind(now)
        .bind(next_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE sessions SET last_used_at = $2, access_expires_at = $3 WHERE id = $1")
        .bind(presented.session_id)
        .bind(now)
        .bind(now + time::Duration::seconds(state.access_token_ttl_for(tenant)))
        .execute(&mut *tx)
        .await?;
    // Read under the session's lock: a switch or a membership change committed before this refresh
    // is in its token.
    let org = orgs::claims_for_session(&mut tx, tenant.id, presented.session_id).await?;
    let edge = queue_session_seen(
        &mut tx,
        state,
        tenant.id,
        presented.session_id,
        SeenSession {
            user_id: presented.user_id,
            created_at: presented.session_created_at,
            last_refreshed_at: now,
            expires_at: presented.session_expires_at,
            client: &presented.client,
        },
    )
    .await?;
    tx.commit().await?;

    tracing::info!(tenant.id = %tenant.id, session.id = %presented.session_id, "session refreshed");
    revocation::push_in_background(state, edge);
    let grant = Grant {
        user_id: presented.user_id,
        session_id: presented.session_id,
        refresh_token: next,
        now,
        org,
        oauth_scope: presented.oauth_scope,
        edge: Vec::new(),
    };
    token_response(state, tenant, &key, grant, StatusCode::OK)
}

errors!(RevokeSessionErrors = [BEARER, &[(404, &["session_not_found"])]]);

/// Sign out one of the caller's own sessions.
///
/// 204 once the edge has acknowledged (or when pushes are disabled); 202 when the revocation is
/// committed but the edge has not acknowledged it yet (the outbox retries).
#[utoipa::path(
    delete,
    path = "/t/{tenant}/v1/sessions/{session_id}",
    operation_id = "revoke_session",
    tag = tags::SESSIONS,
    params(TenantPath, ("session_id" = String, Path, description = "The session's id")),
    security(("access_token" = [])),
    responses(
        (status = 204, description = "Revoked, and the edge has acknowledged it (or pushes are disabled)"),
        (status = 202, description = "Revoked; the edge has not acknowledged it yet", body = RevocationPending),
        RevokeSessionErrors,
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_slug, raw_session_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let session_id = Uuid::parse_str(&raw_session_id).map_err(|_| ApiError::SessionNotFound)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    let revoked = revocation::revoke_in_tx(
        &mut tx,
        &state,
        auth.tenant.id,
        Target::One {
            user_id: auth.user_id,
            session_id,
        },
        now,
    )
    .await?;
    if revoked.count == 0 {
        return Err(ApiError::SessionNotFound);
    }
    audit::record(
        &mut tx,
        Event::new(
            auth.tenant.id,
            Actor::User(auth.user_id),
            EventType::SessionRevoked,
        )
        .session(session_id),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %auth.tenant.id, session.id = %session_id, "session revoked");

    Ok(match revocation::push_committed(&state, revoked).await? {
        EdgeOutcome::Disabled | EdgeOutcome::Delivered => StatusCode::NO_CONTENT.into_response(),
        EdgeOutcome::Pending => (
            StatusCode::ACCEPTED,
            ApiJson(RevocationPending {
                session_id,
                revoked: true,
                edge: "pending",
            }),
        )
            .into_response(),
    })
}
