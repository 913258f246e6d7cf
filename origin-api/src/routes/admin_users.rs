//! A tenant's users through the admin API: list and search, read, disable, enable, delete.
//!
//! - `GET .../users?email=&status=&cursor=&limit=`: newest first in the stable order
//!   (`created_at`, `id`) descending, behind a `{micros}.{uuid}` cursor (`crate::pagination`); `email` matches a part of the
//!   address, case-insensitively; `status` is `active` or `disabled`.
//! - `GET .../users/{user_id}`.
//! - `POST .../users/{user_id}/disable`: the user can no longer sign in or refresh; every session is
//!   revoked and the revocations pushed to the edge, in the transaction that disables.
//! - `POST .../users/{user_id}/enable`: they may sign in again (their old sessions stay revoked).
//! - `DELETE .../users/{user_id}`: revokes everything and removes the user's personal data (e-mail,
//!   password hash, passkeys, sessions, ceremonies and codes in flight); the audit trail keeps the
//!   user as an id only.

use crate::audit::{self, Event, EventType};
use crate::auth::TenantAdmin;
use crate::error::ApiError;
use crate::errors;
use crate::extract::{ApiJson, ApiPath};
use crate::openapi::{tags, PageQuery, SlugPath, PAGE, TENANT_ADMIN};
use crate::pagination::{Page, TimeCursor};
use crate::revocation;
use crate::routes::my_sessions::{bulk_answer, sign_out_everywhere_in_tx};
use crate::state::AppState;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Longest `email` search term (the longest address).
const MAX_SEARCH_CHARS: usize = 320;

/// A user as the admin API shows it.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
pub struct UserView {
    id: Uuid,
    email: String,
    /// `active` or `disabled`.
    #[sqlx(skip)]
    #[schema(value_type = String)]
    status: &'static str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    disabled_at: Option<OffsetDateTime>,
    /// Whether the account can sign in with a password (passkey-first accounts have none).
    has_password: bool,
    passkeys: i64,
    /// Sessions neither revoked nor past their lifetime.
    live_sessions: i64,
    /// Sessions created before it were revoked ("sign out everywhere"); `null`: never.
    #[serde(with = "time::serde::rfc3339::option")]
    sessions_not_before: Option<OffsetDateTime>,
}

impl UserView {
    fn with_status(mut self) -> Self {
        self.status = if self.disabled_at.is_some() {
            "disabled"
        } else {
            "active"
        };
        self
    }
}

const USER_COLUMNS: &str = "u.id, u.email, u.created_at, u.disabled_at,
    u.password_hash IS NOT NULL AS has_password, u.sessions_not_before,
    (SELECT count(*) FROM passkeys p WHERE p.tenant_id = u.tenant_id AND p.user_id = u.id) AS passkeys,
    (SELECT count(*) FROM sessions s WHERE s.tenant_id = u.tenant_id AND s.user_id = u.id
        AND s.revoked_at IS NULL AND s.expires_at > now()) AS live_sessions";

/// The user, or 404 `user_not_found`.
async fn load(
    executor: impl sqlx::PgExecutor<'_>,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<UserView, ApiError> {
    let user: Option<UserView> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.tenant_id = $1 AND u.id = $2"
    ))
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(executor)
    .await?;
    user.map(UserView::with_status)
        .ok_or(ApiError::UserNotFound)
}

/// A user id from the path; anything else names no user.
fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::UserNotFound)
}

/// The filters of one list request, validated.
#[derive(Debug, PartialEq)]
struct Filters {
    /// A `LIKE` pattern matching the lowercased address.
    email_pattern: Option<String>,
    disabled: Option<bool>,
    page: Page<TimeCursor>,
}

impl Filters {
    fn parse(query: Option<&str>) -> Result<Filters, ApiError> {
        let (mut email_pattern, mut disabled) = (None, None);
        let page = Page::parse(
            query,
            "known query parameters: email, status, cursor, limit",
            |name, value| {
                match name {
                    "email" => email_pattern = Some(email_pattern_of(value)?),
                    "status" => disabled = Some(is_disabled(value)?),
                    _ => return Ok(false),
                }
                Ok(true)
            },
        )?;
        Ok(Filters {
            email_pattern,
            disabled,
            page,
        })
    }
}

/// `email`: a `LIKE` pattern for the lowercased address, or 422 `email_search_invalid`.
fn email_pattern_of(value: &str) -> Result<String, ApiError> {
    let term = value.trim();
    if term.is_empty()
        || term.chars().count() > MAX_SEARCH_CHARS
        || term.chars().any(char::is_control)
    {
        return Err(ApiError::FieldInvalid(
            "email_search_invalid",
            "email must be 1 to 320 printable characters",
        ));
    }
    Ok(format!("%{}%", like_escape(&term.to_lowercase())))
}

/// `status`: whether it asks for disabled users, or 422 `status_invalid`.
fn is_disabled(value: &str) -> Result<bool, ApiError> {
    match value {
        "active" => Ok(false),
        "disabled" => Ok(true),
        _ => Err(ApiError::FieldInvalid(
            "status_invalid",
            "status must be active or disabled",
        )),
    }
}

/// `term` as a literal inside a `LIKE ... ESCAPE '\'` pattern.
fn like_escape(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    users: Vec<UserView>,
    /// Pass as `cursor` for the next (older) page; `null` on the last one.
    next_cursor: Option<String>,
}

/// `?email=&status=` beside the paging.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents what `Filters::parse` reads.
pub struct UserQuery {
    /// Users whose address contains it, case-insensitively (1 to 320 printable characters, trimmed).
    #[param(
        min_length = 1,
        max_length = 320,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    email: Option<String>,
    /// `active` or `disabled`.
    #[param(pattern = "^(active|disabled)$")]
    status: Option<String>,
}

errors!(
    ListUsersErrors = [
        TENANT_ADMIN,
        PAGE,
        &[(422, &["email_search_invalid", "status_invalid"])],
    ]
);

/// The tenant's users, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{slug}/users",
    operation_id = "list_users",
    tag = tags::ADMIN,
    params(SlugPath, UserQuery, PageQuery),
    security(("admin_token" = [])),
    responses((status = 200, description = "A page of users", body = UserPage), ListUsersErrors),
)]
pub async fn list(
    admin: TenantAdmin,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let filters = Filters::parse(query.as_deref())?;
    let rows: Vec<UserView> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users u
         WHERE u.tenant_id = $1
           AND ($2::text IS NULL OR lower(u.email) LIKE $2 ESCAPE '\\')
           AND ($3::bool IS NULL OR (u.disabled_at IS NOT NULL) = $3)
           AND ($4::timestamptz IS NULL OR (u.created_at, u.id) < ($4, $5::uuid))
         ORDER BY u.created_at DESC, u.id DESC
         LIMIT $6"
    ))
    .bind(admin.tenant.id)
    .bind(filters.email_pattern.as_deref())
    .bind(filters.disabled)
    .bind(filters.page.after.map(|c| c.at))
    .bind(filters.page.after.map(|c| c.id))
    .bind(filters.page.fetch())
    .fetch_all(state.db())
    .await?;
    let (rows, next_cursor) = filters.page.finish(rows, |u| TimeCursor {
        at: u.created_at,
        id: u.id,
    });
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        ApiJson(UserPage {
            users: rows.into_iter().map(UserView::with_status).collect(),
            next_cursor,
        }),
    )
        .into_response())
}

errors!(UserErrors = [TENANT_ADMIN, &[(404, &["user_not_found"])]]);

/// One user.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{slug}/users/{user_id}",
    operation_id = "show_user",
    tag = tags::ADMIN,
    params(SlugPath, ("user_id" = String, Path, description = "The user's id")),
    security(("admin_token" = [])),
    responses((status = 200, description = "The user", body = UserView), UserErrors),
)]
pub async fn show(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_slug, raw_user_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let user = load(state.db(), admin.tenant.id, user_id(&raw_user_id)?).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], ApiJson(user)).into_response())
}

/// What disabling a user answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDisabled {
    user: UserView,
    /// Sessions revoked.
    revoked: usize,
    /// `pending` (202 only): the edge has not acknowledged every notice yet; the outbox retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^pending$")]
    edge: Option<&'static str>,
}

/// What deleting a user answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserDeleted {
    /// The deleted user's id.
    deleted: Uuid,
    /// Sessions revoked.
    revoked: usize,
    /// `pending` (202 only), as in [`UserDisabled`].
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^pending$")]
    edge: Option<&'static str>,
}

/// `POST /v1/admin/tenants/{slug}/users/{user_id}/disable`: 200 once the edge has every revocation
/// (or pushes are off), 202 `"edge": "pending"` when the outbox retries some. Disabling a disabled
/// user changes nothing but is answered (and audited) the same way.
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{slug}/users/{user_id}/disable",
    operation_id = "disable_user",
    tag = tags::ADMIN,
    params(SlugPath, ("user_id" = String, Path, description = "The user's id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Disabled; the edge has every revocation (or pushes are off)", body = UserDisabled),
        (status = 202, description = "Disabled; the outbox retries some revocations (`edge: pending`)", body = UserDisabled),
        UserErrors,
    ),
)]
pub async fn disable(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_slug, raw_user_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let tenant_id = admin.tenant.id;
    let user_id = user_id(&raw_user_id)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    // Locks the user against sign-ins (they wait, then see the user disabled), revokes every
    // session and queues the edge's notices.
    let (_, revoked) = sign_out_everywhere_in_tx(&mut tx, &state, tenant_id, user_id, now)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    let (already,): (bool,) = sqlx::query_as(
        "SELECT disabled_at IS NOT NULL FROM users WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE users SET disabled_at = COALESCE(disabled_at, $3) WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(tenant_id, admin.actor(), EventType::UserDisabled)
            .user(user_id)
            .detail("revoked", revoked.count)
            .detail("already_disabled", already),
    )
    .await?;
    let user = load(&mut *tx, tenant_id, user_id).await?;
    tx.commit().await?;
    let count = revoked.count;
    tracing::warn!(tenant.id = %tenant_id, user.id = %user_id, sessions.revoked = count, "user disabled");
    let outcome = revocation::push_committed(&state, revoked).await?;
    Ok(bulk_answer(
        outcome,
        UserDisabled {
            user,
            revoked: count,
            edge: None,
        },
    ))
}

/// Enable a disabled user.
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{slug}/users/{user_id}/enable",
    operation_id = "enable_user",
    tag = tags::ADMIN,
    params(SlugPath, ("user_id" = String, Path, description = "The user's id")),
    security(("admin_token" = [])),
    responses((status = 200, description = "The user", body = UserView), UserErrors),
)]
pub async fn enable(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_slug, raw_user_id)): ApiPath<(String, String)>,
) -> Result<ApiJson<UserView>, ApiError> {
    let tenant_id = admin.tenant.id;
    let user_id = user_id(&raw_user_id)?;
    let mut tx = state.db().begin().await?;
    let was: Option<(bool,)> = sqlx::query_as(
        "SELECT disabled_at IS NOT NULL FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let (was_disabled,) = was.ok_or(ApiError::UserNotFound)?;
    sqlx::query("UPDATE users SET disabled_at = NULL WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::new(tenant_id, admin.actor(), EventType::UserEnabled)
            .user(user_id)
            .detail("was_disabled", was_disabled),
    )
    .await?;
    let user = load(&mut *tx, tenant_id, user_id).await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant_id, user.id = %user_id, "user enabled");
    Ok(ApiJson(user))
}

/// Deletes a user: revokes everything and removes their personal data; the audit trail keeps them as
/// an id only.
#[utoipa::path(
    delete,
    path = "/v1/admin/tenants/{slug}/users/{user_id}",
    operation_id = "delete_user",
    tag = tags::ADMIN,
    params(SlugPath, ("user_id" = String, Path, description = "The user's id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Deleted; the edge has every revocation (or pushes are off)", body = UserDeleted),
        (status = 202, description = "Deleted; the outbox retries some revocations (`edge: pending`)", body = UserDeleted),
        UserErrors,
    ),
)]
pub async fn delete(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_slug, raw_user_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let tenant_id = admin.tenant.id;
    let user_id = user_id(&raw_user_id)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    let found: Option<(String,)> =
        sqlx::query_as("SELECT email FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE")
            .bind(tenant_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (email,) = found.ok_or(ApiError::UserNotFound)?;
    // Revoked first, so the edge hears of every session (notices outlive the rows they name).
    let (_, revoked) = sign_out_everywhere_in_tx(&mut tx, &state, tenant_id, user_id, now)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    // Ceremonies in flight hold the address (an e-mail sign-in) or the id (adding a passkey).
    sqlx::query(
        "DELETE FROM passkey_ceremonies
         WHERE tenant_id = $1 AND (user_id = $2 OR lower(email) = lower($3))",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(&email)
    .execute(&mut *tx)
    .await?;
    // Sessions, refresh tokens, passkeys and authorization codes go with the row (ON DELETE CASCADE).
    sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Event::new(tenant_id, admin.actor(), EventType::UserDeleted)
            .user(user_id)
            .detail("revoked", revoked.count),
    )
    .await?;
    tx.commit().await?;
    let count = revoked.count;
    tracing::warn!(tenant.id = %tenant_id, user.id = %user_id, sessions.revoked = count, "user deleted");
    let outcome = revocation::push_committed(&state, revoked).await?;
    Ok(bulk_answer(
        outcome,
        UserDeleted {
            deleted: user_id,
            revoked: count,
            edge: None,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_term_is_matched_literally() {
        assert_eq!(like_escape("a_b%c\\d"), "a\\_b\\%c\\\\d");
        let filters = Filters::parse(Some("email=Ada%40Ex")).unwrap();
        assert_eq!(filters.email_pattern.as_deref(), Some("%ada@ex%"));
    }

    #[test]
    fn filters_refuse_what_they_do_not_know() {
        let code = |q: &str| match Filters::parse(Some(q)) {
            Err(e) => e.code(),
            Ok(_) => "ok",
        };
        assert_eq!(code("status=active&limit=200"), "ok");
        assert_eq!(code("status=gone"), "status_invalid");
        assert_eq!(code("email="), "email_search_invalid");
        assert_eq!(
            code(&format!("email={}", "a".repeat(321))),
            "email_search_invalid"
        );
        assert_eq!(code("limit=0"), "limit_invalid");
        assert_eq!(code("cursor=zzz"), "cursor_invalid");
        assert_eq!(code("sort=email"), "query_invalid");
        assert_eq!(code("status=active&status=disabled"), "query_invalid");
    }
}
