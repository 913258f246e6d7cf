//! A signed-in user's own sessions: list them, sign out the others, sign out everywhere.

use crate::audit::{self, Actor, Event, EventType};
use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::errors;
use crate::extract::ApiJson;
use crate::openapi::{tags, TenantPath, BEARER};
use crate::revocation::{self, EdgeOutcome, Target};
use crate::state::AppState;
use anyhow::Context as _;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Sessions listed at most, most recently used first.
pub const MAX_LISTED_SESSIONS: i64 = 100;

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    sessions: Vec<SessionView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub(crate) id: Uuid,
    /// RFC 3339, like every instant below.
    pub(crate) created_at: String,
    /// The last sign-in or refresh.
    pub(crate) last_used_at: String,
    /// When the session ends regardless of use.
    pub(crate) expires_at: String,
    /// e.g. "Firefox on Linux".
    pub(crate) client: String,
    /// The session of the token this request carries.
    pub(crate) current: bool,
}

pub(crate) fn rfc3339(at: OffsetDateTime) -> Result<String, ApiError> {
    Ok(at.format(&Rfc3339).context("formatting an instant")?)
}

/// The caller's live sessions, most recently used first (at most 100).
#[utoipa::path(
    get,
    path = "/t/{tenant}/v1/sessions",
    operation_id = "list_my_sessions",
    tag = tags::SESSIONS,
    params(TenantPath),
    security(("access_token" = [])),
    responses((status = 200, description = "The sessions", body = SessionList), BearerErrors),
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let sessions = list_of(state.db(), auth.tenant.id, auth.user_id, auth.session_id).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        ApiJson(SessionList { sessions }),
    )
        .into_response())
}

/// A user's live sessions, most recently used first; `current` marks the caller's.
pub(crate) async fn list_of(
    db: &sqlx::PgPool,
    tenant_id: Uuid,
    user_id: Uuid,
    current: Uuid,
) -> Result<Vec<SessionView>, ApiError> {
    let rows: Vec<(Uuid, OffsetDateTime, OffsetDateTime, OffsetDateTime, String)> = sqlx::query_as(
        "SELECT id, created_at, last_used_at, expires_at, client FROM sessions
             WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()
             ORDER BY last_used_at DESC, id LIMIT $3",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(MAX_LISTED_SESSIONS)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|(id, created_at, last_used_at, expires_at, client)| {
            Ok(SessionView {
                id,
                created_at: rfc3339(created_at)?,
                last_used_at: rfc3339(last_used_at)?,
                expires_at: rfc3339(expires_at)?,
                client,
                current: id == current,
            })
        })
        .collect()
}

errors!(BearerErrors = [BEARER]);

/// What a bulk revocation answers: 200 once the edge has every notice (or pushes are off), 202 with
/// `"edge": "pending"` when some are left to the outbox retry. `body`'s own `edge` (there for its
/// schema) is left `None`: this sets it.
pub(crate) fn bulk_answer(outcome: EdgeOutcome, body: impl Serialize) -> Response {
    #[derive(Serialize)]
    struct Answer<T> {
        #[serde(flatten)]
        body: T,
        #[serde(skip_serializing_if = "Option::is_none")]
        edge: Option<&'static str>,
    }
    match outcome {
        EdgeOutcome::Disabled | EdgeOutcome::Delivered => {
            (StatusCode::OK, ApiJson(Answer { body, edge: None })).into_response()
        }
        EdgeOutcome::Pending => (
            StatusCode::ACCEPTED,
            ApiJson(Answer {
                body,
                edge: Some("pending"),
            }),
        )
            .into_response(),
    }
}

/// What signing out other sessions answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// Sessions revoked.
    pub revoked: usize,
    /// `pending` (202 only): the edge has not acknowledged every notice yet; the outbox retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^pending$")]
    pub edge: Option<&'static str>,
}

/// What signing out everywhere answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedOutEverywhere {
    /// Sessions revoked.
    pub revoked: usize,
    /// RFC 3339: every token of the user issued before it is refused, here and at the edge.
    pub not_before: String,
    /// `pending` (202 only), as in [`Revoked`].
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^pending$")]
    pub edge: Option<&'static str>,
}

/// Signs out every session of the caller but this one.
#[utoipa::path(
    delete,
    path = "/t/{tenant}/v1/sessions/others",
    operation_id = "revoke_my_other_sessions",
    tag = tags::SESSIONS,
    params(TenantPath),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "Revoked, and the edge has every notice (or pushes are off)", body = Revoked),
        (status = 202, description = "Revoked; some notices are left to the outbox retry", body = Revoked),
        BearerErrors,
    ),
)]
pub async fn revoke_others(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    let revoked = revocation::revoke_in_tx(
        &mut tx,
        &state,
        auth.tenant.id,
        Target::AllOfUser {
            user_id: auth.user_id,
            except: Some(auth.session_id),
        },
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(
            auth.tenant.id,
            Actor::User(auth.user_id),
            EventType::OtherSessionsRevoked,
        )
        .session(auth.session_id)
        .detail("revoked", revoked.count),
    )
    .await?;
    tx.commit().await?;
    let count = revoked.count;
    tracing::info!(tenant.id = %auth.tenant.id, user.id = %auth.user_id, sessions.revoked = count, "other sessions revoked");
    let outcome = revocation::push_committed(&state, revoked).await?;
    Ok(bulk_answer(
        outcome,
        Revoked {
            revoked: count,
            edge: None,
        },
    ))
}

/// Signs a user out everywhere: sets their not-before to `now`, revokes every session and refresh
/// token of theirs and queues the edge's notices (one per session with a live token, and the
/// user's not-before: the edge then refuses every token of theirs issued before `now`, on both
/// route modes). Call inside the caller's transaction (record its audit event there too), then
/// [`revocation::push_committed`] after commit and answer with [`bulk_answer`]. Returns `None` when
/// the user does not exist.
///
/// This is the one way to end all of a user's access: sign out everywhere, the admin's revocation
/// of a user's sessions, and anything else that must cut a user off (disabling them, say) call it.
pub(crate) async fn sign_out_everywhere_in_tx(
    conn: &mut sqlx::PgConnection,
    state: &AppState,
    tenant_id: Uuid,
    user_id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<(OffsetDateTime, revocation::Revoked)>, ApiError> {
    // FOR UPDATE, not the UPDATE's weaker lock: it conflicts with the key-share lock a sign-in takes
    // on the user, so no session can be created while the sweep runs and escape it.
    let found: Option<(Uuid,)> =
        sqlx::query_as("SELECT id FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    if found.is_none() {
        return Ok(None);
    }
    let (not_before,): (OffsetDateTime,) = sqlx::query_as(
        "UPDATE users SET sessions_not_before = GREATEST(COALESCE(sessions_not_before, $3), $3)
         WHERE tenant_id = $1 AND id = $2 RETURNING sessions_not_before",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let mut revoked = revocation::revoke_in_tx(
        conn,
        state,
        tenant_id,
        Target::AllOfUser {
            user_id,
            except: None,
        },
        now,
    )
    .await?;
    revocation::queue_not_before(
        conn,
        state,
        tenant_id,
        Some(user_id),
        not_before,
        &mut revoked,
    )
    .await?;
    Ok(Some((not_before, revoked)))
}

errors!(SignOutEverywhereErrors = [BEARER]);

/// Sign out everywhere: every session of the caller, this one included, is revoked with its refresh
/// tokens, and the user's not-before is set to now.
#[utoipa::path(
    delete,
    path = "/t/{tenant}/v1/sessions",
    operation_id = "sign_out_everywhere",
    tag = tags::SESSIONS,
    params(TenantPath),
    security(("access_token" = [])),
    responses(
        (status = 200, description = "Signed out everywhere, and the edge has every notice (or pushes are off)", body = SignedOutEverywhere),
        (status = 202, description = "Signed out everywhere; some notices are left to the outbox retry", body = SignedOutEverywhere),
        SignOutEverywhereErrors,
    ),
)]
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    let (not_before, revoked) =
        sign_out_everywhere_in_tx(&mut tx, &state, auth.tenant.id, auth.user_id, now)
            .await?
            .ok_or(ApiError::UserNotFound)?;
    audit::record(
        &mut tx,
        Event::new(
            auth.tenant.id,
            Actor::User(auth.user_id),
            EventType::SignOutEverywhere,
        )
        .detail("revoked", revoked.count),
    )
    .await?;
    tx.commit().await?;
    let count = revoked.count;
    tracing::info!(tenant.id = %auth.tenant.id, user.id = %auth.user_id, sessions.revoked = count, "signed out everywhere");
    let outcome = revocation::push_committed(&state, revoked).await?;
    Ok(bulk_answer(
        outcome,
        SignedOutEverywhere {
            revoked: count,
            not_before: rfc3339(not_before)?,
            edge: None,
        },
    ))
}
