//! The operator's revocations: every session of a user, every session of a tenant before an instant.

use crate::audit::{self, Event, EventType};
use crate::auth::TenantAdmin;
use crate::error::ApiError;
use crate::errors;
use crate::extract::{ApiJson, ApiPath};
use crate::openapi::{tags, SlugPath, JSON_BODY, TENANT_ADMIN};
use crate::revocation::{self, Target};
use crate::routes::my_sessions::{
    bulk_answer, rfc3339, sign_out_everywhere_in_tx, SignedOutEverywhere,
};
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

errors!(RevokeUserSessionsErrors = [TENANT_ADMIN, &[(404, &["user_not_found"])]]);

/// Signs a user out everywhere: their not-before set to now, every session and refresh token
/// revoked, here and at the edge.
#[utoipa::path(
    delete,
    path = "/v1/admin/tenants/{slug}/users/{user_id}/sessions",
    operation_id = "revoke_user_sessions",
    tag = tags::ADMIN,
    params(SlugPath, ("user_id" = String, Path, description = "The user's id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Signed out, and the edge has every notice (or pushes are off)", body = SignedOutEverywhere),
        (status = 202, description = "Signed out; some notices are left to the outbox retry", body = SignedOutEverywhere),
        RevokeUserSessionsErrors,
    ),
)]
pub async fn revoke_user_sessions(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_slug, raw_user_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let user_id = Uuid::parse_str(&raw_user_id).map_err(|_| ApiError::UserNotFound)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    let (not_before, revoked) = sign_out_everywhere_in_tx(&mut tx, &state, tenant.id, user_id, now)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    audit::record(
        &mut tx,
        Event::new(
            tenant.id,
            admin.actor(),
            EventType::AdminUserSessionsRevoked,
        )
        .user(user_id)
        .detail("revoked", revoked.count),
    )
    .await?;
    tx.commit().await?;
    let count = revoked.count;
    tracing::info!(tenant.id = %tenant.id, user.id = %user_id, sessions.revoked = count, "admin revoked a user's sessions");
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

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotBefore {
    /// RFC 3339; omitted means now. Never in the future.
    #[schema(format = DateTime)]
    not_before: Option<String>,
}

errors!(SetNotBeforeErrors = [TENANT_ADMIN, JSON_BODY, &[(422, &["not_before_invalid"])],]);

/// Every session of the tenant created before the instant is revoked (after a breach); the tenant's
/// not-before only moves forward.
#[utoipa::path(
    put,
    path = "/v1/admin/tenants/{slug}/sessions/not-before",
    operation_id = "set_tenant_not_before",
    tag = tags::ADMIN,
    params(SlugPath),
    request_body = NotBefore,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Revoked, and the edge has every notice (or pushes are off)", body = SignedOutEverywhere),
        (status = 202, description = "Revoked; some notices are left to the outbox retry", body = SignedOutEverywhere),
        SetNotBeforeErrors,
    ),
)]
pub async fn set_tenant_not_before(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NotBefore>,
) -> Result<Response, ApiError> {
    let tenant = &admin.tenant;
    let now = OffsetDateTime::now_utc();
    let requested = match body.not_before.as_deref() {
        None => now,
        Some(raw) => {
            let at = OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| {
                ApiError::FieldInvalid(
                    "not_before_invalid",
                    "not_before must be an RFC 3339 instant",
                )
            })?;
            if at > now {
                return Err(ApiError::FieldInvalid(
                    "not_before_invalid",
                    "not_before must not be in the future",
                ));
            }
            at
        }
    };
    let mut tx = state.db().begin().await?;
    // FOR UPDATE conflicts with the key-share lock each sign-in takes on its tenant: no session is
    // created while the sweep runs.
    sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
        .bind(tenant.id)
        .execute(&mut *tx)
        .await?;
    let (not_before,): (OffsetDateTime,) = sqlx::query_as(
        "UPDATE tenants SET sessions_not_before = GREATEST(COALESCE(sessions_not_before, $2), $2)
         WHERE id = $1 RETURNING sessions_not_before",
    )
    .bind(tenant.id)
    .bind(requested)
    .fetch_one(&mut *tx)
    .await?;
    let mut revoked = revocation::revoke_in_tx(
        &mut tx,
        &state,
        tenant.id,
        Target::CreatedBefore(not_before),
        now,
    )
    .await?;
    revocation::queue_not_before(&mut tx, &state, tenant.id, None, not_before, &mut revoked)
        .await?;
    audit::record(
        &mut tx,
        Event::new(tenant.id, admin.actor(), EventType::TenantNotBeforeSet)
            .detail("not_before", rfc3339(not_before)?)
            .detail("revoked", revoked.count),
    )
    .await?;
    tx.commit().await?;
    let count = revoked.count;
    tracing::warn!(tenant.id = %tenant.id, sessions.revoked = count, "tenant not-before set");
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
