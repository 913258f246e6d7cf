//! `GET|POST /t/{tenant}/userinfo` (OpenID Connect Core §5.3): the signed-in user's claims, for the
//! access token in the `Authorization` header, checked exactly as every other user endpoint checks it.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::errors;
use crate::extract::ApiJson;
use crate::oauth::scope::Scope;
use crate::openapi::{tags, TenantPath, BEARER};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserInfo {
    sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// Addresses are not verified here (yet): said plainly, so no client relies on them as proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
}

errors!(UserInfoErrors = [BEARER]);

/// The signed-in user's claims (OpenID Connect Core §5.3); `email` only when the session's scope
/// grants it.
#[utoipa::path(
    get,
    path = "/t/{tenant}/userinfo",
    operation_id = "userinfo",
    tag = tags::OAUTH,
    params(TenantPath),
    security(("access_token" = [])),
    responses((status = 200, description = "The claims", body = UserInfo), UserInfoErrors),
)]
pub async fn show(state: State<AppState>, auth: Authenticated) -> Result<Response, ApiError> {
    claims(state, auth).await
}

/// [`show`] by `POST` (OpenID Connect Core §5.3.1 allows both).
#[utoipa::path(
    post,
    path = "/t/{tenant}/userinfo",
    operation_id = "userinfo_post",
    tag = tags::OAUTH,
    params(TenantPath),
    security(("access_token" = [])),
    responses((status = 200, description = "The claims", body = UserInfo), UserInfoErrors),
)]
pub async fn show_post(state: State<AppState>, auth: Authenticated) -> Result<Response, ApiError> {
    claims(state, auth).await
}

crate::cors_preflight!(preflight, "/t/{tenant}/userinfo", "userinfo_preflight");

async fn claims(State(state): State<AppState>, auth: Authenticated) -> Result<Response, ApiError> {
    let (email, scope): (String, Option<String>) = sqlx::query_as(
        "SELECT u.email, s.oauth_scope FROM users u JOIN sessions s ON s.user_id = u.id
         WHERE u.id = $1 AND u.tenant_id = $2 AND s.id = $3",
    )
    .bind(auth.user_id)
    .bind(auth.tenant.id)
    .bind(auth.session_id)
    .fetch_optional(state.db())
    .await?
    .ok_or(ApiError::UserNotFound)?;
    // A session opened through the code flow shows what its scope grants; one opened by the
    // tenant's own API sign-in is first-party and sees the e-mail.
    let shows_email = scope.map(Scope::stored).is_none_or(|s| s.contains("email"));
    let body = UserInfo {
        sub: auth.user_id.to_string(),
        email_verified: shows_email.then_some(false),
        email: shows_email.then_some(email),
    };
    let mut response = ApiJson(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
