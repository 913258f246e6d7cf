//! `GET /healthz`: up, and able to reach Postgres.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    #[schema(value_type = String, pattern = "^ok$")]
    status: &'static str,
}

/// Up, and able to reach Postgres.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "health",
    tag = crate::openapi::tags::HEALTH,
    responses((status = 200, description = "Up", body = Health)),
)]
pub async fn check(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    sqlx::query("SELECT 1").execute(state.db()).await?;
    Ok(Json(Health { status: "ok" }))
}
