//! A signed-in user's own passkeys: list, rename, delete.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::errors;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::openapi::{tags, TenantPath, BEARER, JSON_BODY};
use crate::passkeys::credentials;
use crate::routes::my_sessions::rfc3339;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyList {
    passkeys: Vec<PasskeyView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyView {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    /// RFC 3339.
    pub(crate) created_at: String,
    /// RFC 3339; `null` until its first sign-in.
    pub(crate) last_used_at: Option<String>,
    /// Synced across the user's devices (backup eligible); otherwise bound to one device.
    pub(crate) synced: bool,
    /// Currently backed up by its provider.
    pub(crate) backed_up: bool,
}

type Row = (
    Uuid,
    String,
    OffsetDateTime,
    Option<OffsetDateTime>,
    bool,
    bool,
);
const COLUMNS: &str = "id, name, created_at, last_used_at, backup_eligible, backed_up";

fn view(
    (id, name, created_at, last_used_at, synced, backed_up): Row,
) -> Result<PasskeyView, ApiError> {
    Ok(PasskeyView {
        id,
        name,
        created_at: rfc3339(created_at)?,
        last_used_at: last_used_at.map(rfc3339).transpose()?,
        synced,
        backed_up,
    })
}

/// One passkey of the user, or 404 `passkey_not_found`.
pub(crate) async fn view_of(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
    id: Uuid,
) -> Result<PasskeyView, ApiError> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM passkeys WHERE tenant_id = $1 AND user_id = $2 AND id = $3"
    ))
    .bind(tenant_id)
    .bind(user_id)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    view(row.ok_or(ApiError::PasskeyNotFound)?)
}

fn passkey_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::PasskeyNotFound)
}

errors!(ListPasskeysErrors = [BEARER]);

/// The caller's passkeys, oldest first.
#[utoipa::path(
    get,
    path = "/t/{tenant}/v1/passkeys",
    operation_id = "list_my_passkeys",
    tag = tags::PASSKEYS,
    params(TenantPath),
    security(("access_token" = [])),
    responses((status = 200, description = "The passkeys", body = PasskeyList), ListPasskeysErrors),
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let passkeys = list_of(state.db(), auth.tenant.id, auth.user_id).await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        ApiJson(PasskeyList { passkeys }),
    )
        .into_response())
}

/// A user's passkeys, oldest first.
pub(crate) async fn list_of(
    db: &sqlx::PgPool,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<PasskeyView>, ApiError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM passkeys WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id"
    ))
    .bind(tenant_id)
    .bind(user_id)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(view).collect()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// 1 to 64 printable characters, trimmed.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: String,
}

errors!(
    RenamePasskeyErrors = [
        BEARER,
        JSON_BODY,
        &[
            (404, &["passkey_not_found"]),
            (422, &["passkey_name_invalid"])
        ],
    ]
);

/// Renames one of the caller's passkeys.
#[utoipa::path(
    patch,
    path = "/t/{tenant}/v1/passkeys/{passkey_id}",
    operation_id = "rename_my_passkey",
    tag = tags::PASSKEYS,
    params(TenantPath, ("passkey_id" = String, Path, description = "The passkey's id")),
    request_body = Rename,
    security(("access_token" = [])),
    responses((status = 200, description = "Renamed", body = PasskeyView), RenamePasskeyErrors),
)]
pub async fn rename(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_slug, raw_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<Rename>,
) -> Result<ApiJson<PasskeyView>, ApiError> {
    let view = rename_of(
        state.db(),
        auth.tenant.id,
        auth.user_id,
        &raw_id,
        &body.name,
    )
    .await?;
    Ok(ApiJson(view))
}

/// Renames one of a user's passkeys (`raw_id` as the client gave it).
pub(crate) async fn rename_of(
    db: &sqlx::PgPool,
    tenant_id: Uuid,
    user_id: Uuid,
    raw_id: &str,
    name: &str,
) -> Result<PasskeyView, ApiError> {
    let id = passkey_id(raw_id)?;
    let name = credentials::parse_name(name)?;
    let mut conn = db.acquire().await?;
    let updated = sqlx::query(
        "UPDATE passkeys SET name = $4 WHERE tenant_id = $1 AND user_id = $2 AND id = $3",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(id)
    .bind(&name)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::PasskeyNotFound);
    }
    view_of(&mut conn, tenant_id, user_id, id).await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// `true` to delete the account's last way to sign in (no password, no other passkey).
    #[serde(default)]
    confirm_last: bool,
}

errors!(
    DeletePasskeyErrors = [
        BEARER,
        &[
            (404, &["passkey_not_found"]),
            (409, &["last_sign_in_method"]),
            (422, &["query_invalid"]),
        ],
    ]
);

/// Deletes one of the caller's passkeys; 409 `last_sign_in_method` when it is the account's last way
/// to sign in and `confirm_last` was not given.
#[utoipa::path(
    delete,
    path = "/t/{tenant}/v1/passkeys/{passkey_id}",
    operation_id = "delete_my_passkey",
    tag = tags::PASSKEYS,
    params(TenantPath, ("passkey_id" = String, Path, description = "The passkey's id"), DeleteQuery),
    security(("access_token" = [])),
    responses((status = 204, description = "Deleted"), DeletePasskeyErrors),
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    ApiPath((_slug, raw_id)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<StatusCode, ApiError> {
    delete_of(
        state.db(),
        auth.tenant.id,
        auth.user_id,
        &raw_id,
        query.confirm_last,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes one of a user's passkeys; 409 `last_sign_in_method` when it is the account's last way
/// to sign in and `confirm_last` is not set.
pub(crate) async fn delete_of(
    db: &sqlx::PgPool,
    tenant_id: Uuid,
    user_id: Uuid,
    raw_id: &str,
    confirm_last: bool,
) -> Result<(), ApiError> {
    let id = passkey_id(raw_id)?;
    let mut tx = db.begin().await?;
    // The user's row lock serialises deletes of the same account's passkeys: two concurrent deletes
    // of its last two cannot both pass the check below.
    let (has_password,): (bool,) = sqlx::query_as(
        "SELECT password_hash IS NOT NULL FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(ApiError::UserNotFound)?;
    let (others,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM passkeys WHERE tenant_id = $1 AND user_id = $2 AND id <> $3",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let deleted =
        sqlx::query("DELETE FROM passkeys WHERE tenant_id = $1 AND user_id = $2 AND id = $3")
            .bind(tenant_id)
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::PasskeyNotFound);
    }
    if !has_password && others == 0 && !confirm_last {
        // Dropping the transaction rolls the delete back.
        return Err(ApiError::LastSignInMethod);
    }
    crate::audit::record(
        &mut tx,
        crate::audit::Event::new(
            tenant_id,
            crate::audit::Actor::User(user_id),
            crate::audit::EventType::PasskeyRemoved,
        )
        .subject(id),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant_id, user.id = %user_id, passkey.id = %id, "passkey deleted");
    Ok(())
}
