//! Discovery: `/t/{tenant}/.well-known/openid-configuration` and `/t/{tenant}/.well-known/jwks.json`.

use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::{keys, oauth, tenants};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Edges cache the key set for `ORIGIN_JWKS_MAX_AGE_SECS`. Invariant (`key_rotation`): a new key is
/// published as `next` at least this long before it becomes `current`, so no edge that honours the
/// max-age meets a token signed by a key it has not fetched.
fn cacheable(state: &AppState, body: serde_json::Value) -> Response {
    let max_age = state.key_rotation().jwks_max_age_secs;
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
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
    // OpenID Connect Discovery 1.0 §3, and RFC 8414 for the OAuth fields. `/authorize` is on the
    // hosted pages' origin, where their sign-in cookie lives; the rest on the issuer's.
    Ok(cacheable(
        &state,
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{}/authorize", state.pages_base(&tenant.slug)),
            "token_endpoint": format!("{issuer}/token"),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "jwks_uri": tenants::jwks_uri(&issuer),
            "scopes_supported": oauth::scope::SUPPORTED,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [tenant.signing_alg],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "email", "email_verified"],
            "authorization_response_iss_parameter_supported": true,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
        }),
    ))
}

pub async fn jwks(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let keys = keys::public_key_set(state.db(), tenant.id).await?;
    Ok(cacheable(&state, keys.to_jwks_json()))
}
