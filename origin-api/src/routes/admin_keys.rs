//! The operator's view of a tenant's signing keys: list them, rotate now, revoke one in an emergency.
//!
//! - `GET /v1/admin/tenants/{slug}/keys`: every key the tenant ever had, newest first.
//! - `POST /v1/admin/tenants/{slug}/keys/rotate`: the `next` key signs from now if it has been
//!   published for the JWKS max-age (200 `"rotated": true`), else from when it has (202, its
//!   `signs_from`).
//! - `POST /v1/admin/tenants/{slug}/keys/{kid}/revoke`: withdraws the key from the JWKS at once,
//!   wipes its private half, promotes the next key if it was signing, and pushes the revocation to
//!   the edge (202 `"edge": "pending"` when the push is left to the outbox).

use crate::auth::TenantAdmin;
use crate::edge_push::{self, Notice};
use crate::error::ApiError;
use crate::errors;
use crate::extract::{ApiJson, ApiPath};
use crate::key_rotation::{self, KeyView, RevokeError, RotateOutcome};
use crate::openapi::{tags, SlugPath, TENANT_ADMIN};
use crate::revocation::{self, Revoked};
use crate::routes::my_sessions::bulk_answer;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// The tenant's signing keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    keys: Vec<KeyView>,
}

/// What a rotation answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rotation {
    /// `true`: the next key signs from now; `false`: from `signs_from`.
    rotated: bool,
    /// RFC 3339, when not rotated yet: once the next key has been published for the JWKS max-age.
    #[serde(skip_serializing_if = "Option::is_none")]
    signs_from: Option<String>,
    keys: Vec<KeyView>,
}

/// What revoking a key answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRevoked {
    /// The revoked key's `kid`.
    revoked: String,
    /// Its status before: `next`, `current` or `retired`.
    was: &'static str,
    keys: Vec<KeyView>,
    /// `pending` (202 only): the edge has not acknowledged the notice yet; the outbox retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^pending$")]
    edge: Option<&'static str>,
}

errors!(KeysErrors = [TENANT_ADMIN]);

/// Every signing key the tenant ever had, newest first.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{slug}/keys",
    operation_id = "list_signing_keys",
    tag = tags::ADMIN,
    params(SlugPath),
    security(("admin_token" = [])),
    responses((status = 200, description = "The keys", body = KeyList), KeysErrors),
)]
pub async fn list(admin: TenantAdmin, State(state): State<AppState>) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let keys = key_rotation::list(state.db(), tenant.id).await?;
    Ok(ApiJson(KeyList { keys }).into_response())
}

/// Rotate now: the `next` key signs from now if it has been published for the JWKS max-age (200),
/// else from when it has (202, `signs_from`).
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{slug}/keys/rotate",
    operation_id = "rotate_signing_key",
    tag = tags::ADMIN,
    params(SlugPath),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Rotated", body = Rotation),
        (status = 202, description = "Scheduled", body = Rotation),
        KeysErrors,
    ),
)]
pub async fn rotate(
    admin: TenantAdmin,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let now = OffsetDateTime::now_utc();
    let outcome = key_rotation::rotate_now(
        state.db(),
        state.kek(),
        tenant.id,
        state.key_rotation(),
        now,
        admin.actor(),
    )
    .await?
    .ok_or(ApiError::TenantNotFound)?;
    let keys = key_rotation::list(state.db(), tenant.id).await?;
    Ok(match outcome {
        RotateOutcome::Rotated => (
            StatusCode::OK,
            ApiJson(Rotation {
                rotated: true,
                signs_from: None,
                keys,
            }),
        )
            .into_response(),
        RotateOutcome::Scheduled { signs_from } => {
            let signs_from = OffsetDateTime::from_unix_timestamp(signs_from)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                });
            (
                StatusCode::ACCEPTED,
                ApiJson(Rotation {
                    rotated: false,
                    signs_from,
                    keys,
                }),
            )
                .into_response()
        }
    })
}

errors!(
    RevokeKeyErrors = [
        TENANT_ADMIN,
        &[(404, &["key_not_found"]), (409, &["key_already_revoked"])],
    ]
);

/// Revoke a key in an emergency: withdrawn from the JWKS at once, its private half wiped, the next
/// key promoted if it was signing, and the revocation pushed to the edge.
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{slug}/keys/{kid}/revoke",
    operation_id = "revoke_signing_key",
    tag = tags::ADMIN,
    params(SlugPath, ("kid" = String, Path, description = "The key's `kid`")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Revoked, and the edge has the notice (or pushes are off)", body = KeyRevoked),
        (status = 202, description = "Revoked; the notice is left to the outbox retry", body = KeyRevoked),
        RevokeKeyErrors,
    ),
)]
pub async fn revoke(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_slug, kid)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    if kid.len() > auth_core::keys::MAX_KID_BYTES {
        return Err(ApiError::KeyNotFound);
    }
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    let was = key_rotation::revoke_in_tx(
        &mut tx,
        state.kek(),
        tenant.id,
        &kid,
        state.key_rotation(),
        now,
        admin.actor(),
    )
    .await
    .map_err(|e| match e {
        RevokeError::KeyNotFound => ApiError::KeyNotFound,
        RevokeError::AlreadyRevoked => ApiError::KeyAlreadyRevoked,
        RevokeError::Internal(e) => ApiError::Internal(e),
    })?;
    let pending = match state.edge() {
        Some(_) => {
            let notice = Notice::key_revoked(
                tenant.id,
                state.issuer(&tenant.slug),
                kid.clone(),
                now.unix_timestamp(),
            );
            edge_push::enqueue(&mut tx, Uuid::new_v4(), vec![notice]).await?
        }
        None => vec![],
    };
    tx.commit().await?;
    tracing::warn!(tenant.id = %tenant.id, token.kid = %kid, key.status = was.as_str(), "signing key revoked");
    let revoked = Revoked {
        count: 1,
        pending,
        latest_notice_expiry: None,
    };
    let outcome = revocation::push_committed(&state, revoked).await?;
    let keys = key_rotation::list(state.db(), tenant.id).await?;
    Ok(bulk_answer(
        outcome,
        KeyRevoked {
            revoked: kid,
            was: was.as_str(),
            keys,
            edge: None,
        },
    ))
}
