//! Discovery: `/t/{tenant}/.well-known/openid-configuration` and `/t/{tenant}/.well-known/jwks.json`.

use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::{keys, tenants};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Edges cache the key set this long. Invariant: a new key is published as `next` at least this
/// long before it becomes `current`, so no edge meets a token signed by a key it has not fetched.
pub const JWKS_MAX_AGE_SECS: u32 = 300;

fn cacheable(body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={JWKS_MAX_AGE_SECS}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

pub async fn openid_configuration(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let issuer = state.issuer(&tenant.slug);
    Ok(cacheable(json!({
        "issuer": issuer,
        "jwks_uri": tenants::jwks_uri(&issuer),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    })))
}

pub async fn jwks(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let keys = keys::public_key_set(state.db(), tenant.id).await?;
    Ok(cacheable(keys.to_jwks_json()))
}
