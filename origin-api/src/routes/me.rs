//! `GET /t/{tenant}/v1/me`: the signed-in user.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::errors;
use crate::extract::ApiJson;
use crate::openapi::{tags, TenantPath, BEARER};
use crate::state::AppState;
use anyhow::Context as _;
use axum::extract::State;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    id: Uuid,
    email: String,
    tenant_id: Uuid,
    /// RFC 3339.
    created_at: String,
}

errors!(MeErrors = [BEARER]);

/// The signed-in user.
#[utoipa::path(
    get,
    path = "/t/{tenant}/v1/me",
    operation_id = "me",
    tag = tags::ACCOUNTS,
    params(TenantPath),
    security(("access_token" = [])),
    responses((status = 200, description = "The user", body = Me), MeErrors),
)]
pub async fn show(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<ApiJson<Me>, ApiError> {
    let (email, created_at): (String, OffsetDateTime) =
        sqlx::query_as("SELECT email, created_at FROM users WHERE id = $1 AND tenant_id = $2")
            .bind(auth.user_id)
            .bind(auth.tenant.id)
            .fetch_optional(state.db())
            .await?
            .ok_or(ApiError::UserNotFound)?;
    Ok(ApiJson(Me {
        id: auth.user_id,
        email,
        tenant_id: auth.tenant.id,
        created_at: created_at
            .format(&Rfc3339)
            .context("formatting created_at")?,
    }))
}
