//! `POST /t/{tenant}/token`: the token endpoint (RFC 6749 §3.2, OAuth 2.1 §3.2, OpenID Connect Core
//! §3.1.3), form-encoded, for public clients (`client_id` in the body, no secret).
//!
//! `authorization_code` trades a code and its PKCE verifier for an access token, a refresh token and
//! an ID token, opening the same API session a password sign-in opens. `refresh_token` rotates
//! through `routes::sessions::rotate`, the same rotation and reuse detection as
//! `/v1/sessions/refresh`. Every answer is `Cache-Control: no-store`; errors are RFC 6749 JSON.

use crate::audit::{self, Actor, Event, EventType};
use crate::client_ip::ClientIp;
use crate::domain::{CodeChallenge, CodeVerifier};
use crate::extract::ApiPath;
use crate::keys;
use crate::oauth::clients::{self, Client};
use crate::oauth::codes;
use crate::oauth::error::OAuthError;
use crate::oauth::id_token::{mint_id_token, IdTokenRequest};
use crate::oauth_errors;
use crate::openapi::{tags, TenantPath};
use crate::revocation::{self, Target};
use crate::routes::sessions::{self, OAuthGrant, RefreshRequest};
use crate::state::AppState;
use crate::tenants::{self, Tenant};
use crate::throttle::{self, Key};
use crate::tokens::{hash_refresh_token, mint_access_token, AccessTokenRequest};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Serialize;
use std::collections::HashMap;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// The form of a token request; no parameter may appear twice (RFC 6749 §3.2).
struct Form(HashMap<String, String>);

impl Form {
    fn parse(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Self, OAuthError> {
        let form_encoded = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_encoded {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let body = body.map_err(|_| OAuthError::invalid_request("the body could not be read"))?;
        let mut values = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(&body) {
            if values
                .insert(name.clone().into_owned(), value.into_owned())
                .is_some()
            {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {name} appears more than once"
                )));
            }
        }
        Ok(Form(values))
    }

    fn optional(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.optional(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

/// A token request (RFC 6749 §4.1.3 and §6), form-encoded; no parameter may appear twice.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Documents what `Form` reads.
pub struct TokenRequest {
    #[schema(value_type = String, pattern = "^(authorization_code|refresh_token)$")]
    grant_type: String,
    /// A registered client of the tenant (public: no secret, no `Authorization` header).
    client_id: String,
    /// `authorization_code`: the code `/authorize` sent to the redirect URI.
    code: Option<String>,
    /// `authorization_code`: exactly the authorization request's.
    redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier (RFC 7636), 43 to 128 characters.
    #[schema(
        min_length = 43,
        max_length = 128,
        pattern = "^[A-Za-z0-9._~-]{43,128}$"
    )]
    code_verifier: Option<String>,
    /// `refresh_token`: a refresh token this client was issued.
    refresh_token: Option<String>,
}

/// The token response (`Cache-Control: no-store`). The refresh grant answers without `id_token`
/// and `scope`.
#[derive(Serialize, ToSchema)]
struct TokenResponse {
    access_token: String,
    #[schema(value_type = String, pattern = "^Bearer$")]
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
    /// `authorization_code` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    /// `authorization_code` only: what was granted, e.g. `openid email`.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    session_id: Uuid,
}

oauth_errors!(
    TokenErrors = [&[
        (
            400,
            &["invalid_request", "invalid_grant", "unsupported_grant_type"]
        ),
        (401, &["invalid_client"]),
        (403, &["invalid_request"]),
        (404, &["invalid_request"]),
        (429, &["too_many_attempts"]),
    ]]
);

/// The token endpoint (RFC 6749 §3.2, OAuth 2.1, OpenID Connect Core §3.1.3) for public clients.
///
/// `authorization_code` trades a code and its PKCE verifier for an access token, a refresh token
/// and an ID token; `refresh_token` rotates like `/v1/sessions/refresh`. Errors are RFC 6749 JSON.
#[utoipa::path(
    post,
    path = "/t/{tenant}/token",
    operation_id = "token",
    tag = tags::OAUTH,
    params(TenantPath),
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Tokens", body = TokenResponse), TokenErrors),
)]
pub async fn token(
    State(state): State<AppState>,
    client_ip: ClientIp,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match exchange(&state, client_ip, &slug, &headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn exchange(
    state: &AppState,
    client_ip: ClientIp,
    slug: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let tenant = tenants::find(state.db(), slug).await?;
    let form = Form::parse(headers, body)?;
    if headers.contains_key(header::AUTHORIZATION) {
        // Public clients only: a secret sent here was never issued and is not checked.
        return Err(OAuthError::invalid_client(
            "clients here are public: send client_id in the body and no Authorization header",
        ));
    }
    let grant_type = form.required("grant_type")?;
    if !matches!(grant_type, "authorization_code" | "refresh_token") {
        return Err(OAuthError::unsupported_grant_type());
    }
    let client_id = form.required("client_id")?;
    let client = clients::find(state.db(), tenant.id, client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_client("client_id is not registered"))?;

    // Codes and refresh tokens are 256 random bits; the per-address limit still bounds guessing,
    // and every refusal counts against it.
    let reservation = throttle::reserve(state.db(), &tenant, vec![Key::ip(client_ip)]).await?;
    let response = match grant_type {
        "authorization_code" => redeem_code(state, &tenant, &client, &form, headers).await?,
        _ => refresh(state, &tenant, &client, &form).await?,
    };
    reservation.succeeded(state.db()).await?;
    Ok(response)
}

/// The `authorization_code` grant.
async fn redeem_code(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    form: &Form,
    headers: &HeaderMap,
) -> Result<Response, OAuthError> {
    let code = form.required("code")?;
    let redirect_uri = form.required("redirect_uri")?;
    let verifier = CodeVerifier::parse(form.required("code_verifier")?)
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let now = OffsetDateTime::now_utc();

    let mut tx = state.db().begin().await?;
    let Some(stored) = codes::find_for_update(&mut tx, tenant.id, code).await? else {
        return Err(OAuthError::invalid_grant("the code is unknown"));
    };
    if stored.used_at.is_some() {
        // Someone else holds this code too: revoke what it issued (RFC 9700 §4.2.4), here and at
        // the edge. The refusal does not wait for, or depend on, the edge.
        let revoked = match stored.session_id {
            Some(session_id) => Some(
                revocation::revoke_in_tx(
                    &mut tx,
                    state,
                    tenant.id,
                    Target::One {
                        user_id: stored.user_id,
                        session_id,
                    },
                    now,
                )
                .await?,
            ),
            None => None,
        };
        let mut event = Event::new(tenant.id, Actor::System, EventType::AuthorizationCodeReused)
            .user(stored.user_id)
            .detail("client_id", stored.client_id.as_str());
        if let Some(session_id) = stored.session_id {
            event = event.session(session_id);
        }
        audit::record(&mut tx, event).await?;
        tx.commit().await?;
        tracing::warn!(tenant.id = %tenant.id, client.id = %stored.client_id, session.id = ?stored.session_id, "authorization code reused; its session revoked");
        if let Some(revoked) = revoked {
            if let Err(e) = revocation::push_committed(state, revoked).await {
                tracing::error!(error.cause = %e, "settling a revocation push failed");
            }
        }
        return Err(OAuthError::invalid_grant(
            "the code was already used; the tokens it issued have been revoked",
        ));
    }
    // A mismatch changes nothing: the code stays redeemable by the client it was issued to.
    if stored.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    if stored.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if stored.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request's",
        ));
    }
    if !CodeChallenge::stored(stored.code_challenge.clone()).is_met_by(&verifier) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    if codes::signed_in_at(&mut *tx, stored.page_session_id)
        .await?
        .is_none()
    {
        return Err(OAuthError::invalid_grant(
            "the sign-in that produced the code has ended",
        ));
    }

    let mut grant = sessions::open_session_in_tx(
        &mut tx,
        state,
        tenant,
        stored.user_id,
        headers,
        None,
        Some(OAuthGrant {
            client_id: &client.client_id,
            client_name: &client.name,
            scope: &stored.scope,
        }),
        None,
    )
    .await?;
    codes::mark_used(&mut tx, &stored.code_hash, grant.session_id, now).await?;
    let key = keys::current(&mut *tx, state.kek(), tenant.id).await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant.id, client.id = %client.client_id, user.id = %grant.user_id, session.id = %grant.session_id, "authorization code redeemed");
    crate::revocation::push_in_background(state, std::mem::take(&mut grant.edge));

    let ttl = state.access_token_ttl_for(tenant);
    let issuer = state.issuer(&tenant.slug);
    let issued_at = grant.now.unix_timestamp();
    let access_token = mint_access_token(
        &AccessTokenRequest {
            issuer: &issuer,
            audience: &tenant.audience,
            tenant_id: tenant.id,
            user_id: grant.user_id,
            session_id: grant.session_id,
            now: issued_at,
            ttl_secs: ttl,
            org: grant.org.as_ref(),
            oauth_scope: grant.oauth_scope.as_deref(),
        },
        &key,
    )?;
    let id_token = mint_id_token(
        &IdTokenRequest {
            issuer: &issuer,
            client_id: &client.client_id,
            user_id: grant.user_id,
            session_id: grant.session_id,
            nonce: stored.nonce.as_deref(),
            auth_time: stored.auth_time.unix_timestamp(),
            access_token: &access_token,
            now: issued_at,
            ttl_secs: ttl,
        },
        &key,
    )?;
    let body = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token: grant.refresh_token.value,
        id_token: Some(id_token),
        scope: Some(stored.scope),
        session_id: grant.session_id,
    };
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The `refresh_token` grant: only for a session this client opened through the code flow.
async fn refresh(
    state: &AppState,
    tenant: &Tenant,
    client: &Client,
    form: &Form,
) -> Result<Response, OAuthError> {
    let presented = form.required("refresh_token")?;
    // The session's client never changes, so checking it before the rotation locks anything is
    // sound; the rotation itself decides validity and reuse.
    let owner: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT s.oauth_client_id FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id
         WHERE rt.token_hash = $1 AND s.tenant_id = $2",
    )
    .bind(hash_refresh_token(presented).as_slice())
    .bind(tenant.id)
    .fetch_optional(state.db())
    .await?;
    match owner {
        None => {
            return Err(OAuthError::invalid_grant(
                "refresh token is unknown or expired",
            ))
        }
        Some((Some(owner),)) if owner == client.client_id => {}
        Some(_) => {
            return Err(OAuthError::invalid_grant(
                "the refresh token was not issued to this client",
            ))
        }
    }
    let mut response = sessions::rotate(
        state,
        tenant,
        RefreshRequest {
            refresh_token: SecretString::from(presented.to_owned()),
        },
    )
    .await?;
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

crate::cors_preflight!(preflight, "/t/{tenant}/token", "token_preflight");
