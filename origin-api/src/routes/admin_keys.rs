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
use crate::extract::{ApiJson, ApiPath};
use crate::key_rotation::{self, RevokeError, RotateOutcome};
use crate::revocation::{self, Revoked};
use crate::routes::my_sessions::bulk_answer;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

pub async fn list(admin: TenantAdmin, State(state): State<AppState>) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let keys = key_rotation::list(state.db(), tenant.id).await?;
    Ok(ApiJson(json!({ "keys": keys })).into_response())
}

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
            ApiJson(json!({ "rotated": true, "keys": keys })),
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
                ApiJson(json!({ "rotated": false, "signs_from": signs_from, "keys": keys })),
            )
                .into_response()
        }
    })
}

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
    let outcome = revocation::push_committed(&state, Revoked { count: 1, pending }).await?;
    let keys = key_rotation::list(state.db(), tenant.id).await?;
    let mut body = serde_json::Map::new();
    body.insert("revoked".to_owned(), kid.into());
    body.insert("was".to_owned(), was.as_str().into());
    body.insert("keys".to_owned(), json!(keys));
    Ok(bulk_answer(outcome, body))
}
