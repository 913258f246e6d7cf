//! `GET /healthz`: up, and able to reach Postgres.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

pub async fn check(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    sqlx::query("SELECT 1").execute(state.db()).await?;
    Ok(Json(json!({ "status": "ok" })))
}
