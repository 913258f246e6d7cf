//! A tenant's admin API keys: `/v1/admin/tenants/{slug}/admin-keys`.
//!
//! - `POST`: makes a key (the bootstrap token, or a key with `manage_keys`, which may grant only
//!   permissions it holds itself). The answer is the only time the key is shown.
//! - `GET`: every key of the tenant, revoked and expired ones too, without their secrets.
//! - `POST /{key_id}/revoke`: the key stops working at once.

use crate::admin_credentials::{self, Permission};
use crate::audit::{self, Event, EventType};
use crate::auth::KeyAdmin;
use crate::error::ApiError;
use crate::errors;
use crate::extract::{ApiJson, ApiPath};
use crate::openapi::{tags, SlugPath, JSON_BODY, TENANT_ADMIN};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::openapi::schema::{Array, ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_NAME_CHARS: usize = 100;
/// Keys neither revoked nor expired a tenant may have at once.
pub const MAX_ACTIVE_KEYS: i64 = 100;
const MAX_EXPIRY_DAYS: i32 = 3650;
/// What a key may do when its creator does not say.
const DEFAULT_PERMISSIONS: [Permission; 2] = [Permission::Read, Permission::Write];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for ("CI deploys", "SIEM export"): 1 to 100 printable characters, trimmed.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: String,
    #[schema(schema_with = permissions_schema)]
    permissions: Option<Vec<String>>,
    /// 1 to 3650; omitted: the key does not expire.
    #[schema(minimum = 1, maximum = 3650)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    expires_in_days: Option<i32>,
}

/// `permissions`: a set of permission names (utoipa's attributes cannot say `uniqueItems`).
fn permissions_schema() -> Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(Permission::ALL.iter().map(|p| p.as_str())))
                .build(),
        )
        .min_items(Some(1))
        .max_items(Some(Permission::ALL.len()))
        .unique_items(true)
        .description(Some(
            "Distinct names among `read`, `write`, `manage_keys`; omitted: `read` and `write`.",
        ))
        .build()
}

/// A key as listed: never its secret.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
#[schema(as = AdminKeyView)]
pub struct KeyView {
    id: Uuid,
    name: String,
    /// `eak_live_…` and the key's last four characters.
    #[serde(serialize_with = "show_hint")]
    hint: String,
    permissions: Vec<String>,
    /// `active`, `revoked` or `expired`.
    status: String,
    /// The audit actor id of its creator: `bootstrap` or another key's id.
    created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    /// To the minute.
    #[serde(with = "time::serde::rfc3339::option")]
    last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    revoked_at: Option<OffsetDateTime>,
}

fn show_hint<S: serde::Serializer>(hint: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}…{hint}", admin_credentials::PREFIX))
}

const VIEW_COLUMNS: &str = "id, name, hint, permissions, created_by, created_at, expires_at,
    last_used_at, revoked_at,
    CASE WHEN revoked_at IS NOT NULL THEN 'revoked'
         WHEN expires_at <= now() THEN 'expired'
         ELSE 'active' END AS status";

/// The answer to a creation: the view and, this once, the key.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminKeyCreated)]
pub struct Created {
    #[serde(flatten)]
    view: KeyView,
    key: String,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("view", &self.view)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

fn parse_permissions(raw: Option<&[String]>) -> Result<Vec<Permission>, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_PERMISSIONS.to_vec());
    };
    let invalid = ApiError::FieldInvalid(
        "permissions_invalid",
        "permissions must list distinct values among read, write and manage_keys",
    );
    let mut permissions = Vec::with_capacity(raw.len());
    for name in raw {
        let p = Permission::parse(name).ok_or(ApiError::FieldInvalid(
            "permissions_invalid",
            "permissions must list distinct values among read, write and manage_keys",
        ))?;
        if permissions.contains(&p) {
            return Err(invalid);
        }
        permissions.push(p);
    }
    if permissions.is_empty() {
        return Err(invalid);
    }
    permissions.sort();
    Ok(permissions)
}

errors!(
    CreateKeyErrors = [
        TENANT_ADMIN,
        JSON_BODY,
        &[
            (409, &["admin_key_limit"]),
            (
                422,
                &[
                    "name_invalid",
                    "permissions_invalid",
                    "expires_in_days_invalid"
                ]
            ),
        ],
    ]
);

/// Create an admin API key of the tenant: 201 with the key, shown this once (stored hashed).
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{slug}/admin-keys",
    operation_id = "create_admin_key",
    tag = tags::ADMIN,
    params(SlugPath),
    request_body = NewKey,
    security(("admin_token" = [])),
    responses((status = 201, description = "The key, shown this once", body = Created), CreateKeyErrors),
)]
pub async fn create(
    KeyAdmin(admin): KeyAdmin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<Response, ApiError> {
    let name = body.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::FieldInvalid(
            "name_invalid",
            "name must be 1 to 100 printable characters",
        ));
    }
    let permissions = parse_permissions(body.permissions.as_deref())?;
    // A key cannot make a key more powerful than itself.
    for p in &permissions {
        admin.require(*p)?;
    }
    if body
        .expires_in_days
        .is_some_and(|d| !(1..=MAX_EXPIRY_DAYS).contains(&d))
    {
        return Err(ApiError::FieldInvalid(
            "expires_in_days_invalid",
            "expires_in_days must be from 1 to 3650",
        ));
    }

    let tenant_id = admin.tenant.id;
    let key = admin_credentials::generate(state.admin_key_pepper());
    let id = Uuid::new_v4();
    let created_by = admin.actor().id().unwrap_or_default();
    let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    let mut tx = state.db().begin().await?;
    // Serialises creations of one tenant, so the cap holds.
    sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
    let (active,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM admin_api_keys
         WHERE tenant_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    if active >= MAX_ACTIVE_KEYS {
        return Err(ApiError::AdminKeyLimit);
    }
    let view: KeyView = sqlx::query_as(&format!(
        "INSERT INTO admin_api_keys (id, tenant_id, name, secret_hash, hint, permissions, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(days => $8))
         RETURNING {VIEW_COLUMNS}"
    ))
    .bind(id)
    .bind(tenant_id)
    .bind(name)
    .bind(key.hash.as_slice())
    .bind(&key.hint)
    .bind(&names)
    .bind(&created_by)
    .bind(body.expires_in_days)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(tenant_id, admin.actor(), EventType::AdminKeyCreated)
            .subject(id)
            .detail("name", name)
            .detail("permissions", names.clone())
            .detail("expires_in_days", body.expires_in_days),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant_id, admin_key.id = %id, "admin api key created");
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        ApiJson(Created {
            view,
            key: key.value.expose_secret().to_owned(),
        }),
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AdminKeyList)]
pub struct KeyList {
    admin_keys: Vec<KeyView>,
}

errors!(ListKeysErrors = [TENANT_ADMIN]);

/// The tenant's admin API keys, oldest first (never their secrets).
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{slug}/admin-keys",
    operation_id = "list_admin_keys",
    tag = tags::ADMIN,
    params(SlugPath),
    security(("admin_token" = [])),
    responses((status = 200, description = "The keys", body = KeyList), ListKeysErrors),
)]
pub async fn list(
    KeyAdmin(admin): KeyAdmin,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let admin_keys: Vec<KeyView> = sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM admin_api_keys WHERE tenant_id = $1 ORDER BY created_at, id"
    ))
    .bind(admin.tenant.id)
    .fetch_all(state.db())
    .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        ApiJson(KeyList { admin_keys }),
    )
        .into_response())
}

errors!(
    RevokeKeyErrors = [
        TENANT_ADMIN,
        &[
            (404, &["admin_key_not_found"]),
            (409, &["admin_key_already_revoked"])
        ],
    ]
);

/// Revoke an admin API key.
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{slug}/admin-keys/{key_id}/revoke",
    operation_id = "revoke_admin_key",
    tag = tags::ADMIN,
    params(SlugPath, ("key_id" = String, Path, description = "The admin key's id")),
    security(("admin_token" = [])),
    responses((status = 200, description = "The key, revoked", body = KeyView), RevokeKeyErrors),
)]
pub async fn revoke(
    KeyAdmin(admin): KeyAdmin,
    State(state): State<AppState>,
    ApiPath((_slug, raw_id)): ApiPath<(String, String)>,
) -> Result<ApiJson<KeyView>, ApiError> {
    let tenant_id = admin.tenant.id;
    let id = Uuid::parse_str(&raw_id).map_err(|_| ApiError::AdminKeyNotFound)?;
    let mut tx = state.db().begin().await?;
    let found: Option<(bool,)> = sqlx::query_as(
        "SELECT revoked_at IS NOT NULL FROM admin_api_keys WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    match found {
        None => return Err(ApiError::AdminKeyNotFound),
        Some((true,)) => return Err(ApiError::AdminKeyAlreadyRevoked),
        Some((false,)) => {}
    }
    let view: KeyView = sqlx::query_as(&format!(
        "UPDATE admin_api_keys SET revoked_at = now() WHERE tenant_id = $1 AND id = $2
         RETURNING {VIEW_COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(tenant_id, admin.actor(), EventType::AdminKeyRevoked).subject(id),
    )
    .await?;
    tx.commit().await?;
    tracing::warn!(tenant.id = %tenant_id, admin_key.id = %id, "admin api key revoked");
    Ok(ApiJson(view))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_known_distinct_and_default_to_read_and_write() {
        let p = |v: &[&str]| {
            parse_permissions(Some(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()))
                .map_err(|e| e.code())
        };
        assert_eq!(
            parse_permissions(None).unwrap(),
            vec![Permission::Read, Permission::Write]
        );
        assert_eq!(
            p(&["manage_keys", "read"]),
            Ok(vec![Permission::Read, Permission::ManageKeys])
        );
        assert_eq!(p(&[]), Err("permissions_invalid"));
        assert_eq!(p(&["read", "read"]), Err("permissions_invalid"));
        assert_eq!(p(&["root"]), Err("permissions_invalid"));
    }
}
