//! Extractors for the two kinds of caller: the operator (admin token) and a signed-in user (one of
//! our own access tokens, verified by `auth-core` exactly as the edge verifies it).

use crate::clock::now_unix;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::tenants::{self, Tenant};
use crate::tokens::ACCESS_TOKEN_TYPE;
use auth_core::claims::DEFAULT_LEEWAY_SECS;
use auth_core::{Algorithm, Expectations, IssuerPolicy, Rejection, VerifiedClaims};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::collections::HashMap;
use uuid::Uuid;

/// The value of an `Authorization: Bearer <token>` header (scheme matched case-insensitively).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A request carrying `ORIGIN_ADMIN_TOKEN`.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match bearer(&parts.headers) {
            Some(token) if state.is_admin_token(token) => Ok(Admin),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// A user of the tenant named in the path, proven by a valid access token of an unrevoked session.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub tenant: Tenant,
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub claims: VerifiedClaims,
}

/// What a token of `tenant` must satisfy: the same `Expectations` type the edge is configured with.
pub fn expectations_for(state: &AppState, tenant: &Tenant) -> Expectations {
    let issuer = state.issuer(&tenant.slug);
    Expectations {
        issuers: vec![IssuerPolicy {
            jwks_uri: tenants::jwks_uri(&issuer),
            issuer,
            audiences: vec![tenant.audience.clone()],
            algorithms: vec![Algorithm::Es256],
            token_type: Some(ACCESS_TOKEN_TYPE.to_owned()),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            jwks_cache: Default::default(),
        }],
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ApiPath(params) =
            ApiPath::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        let slug = params.get("tenant").ok_or(ApiError::TenantNotFound)?;
        let tenant = tenants::find(state.db(), slug).await?;
        let token = bearer(&parts.headers).ok_or(Rejection::Missing)?;

        let keys = crate::keys::public_key_set(state.db(), tenant.id).await?;
        let expectations = expectations_for(state, &tenant);
        let claims = auth_core::verify::verify_native(
            token,
            auth_core::token::DEFAULT_MAX_TOKEN_BYTES,
            &expectations,
            |_| Some(&keys),
            now_unix(),
        )?;

        // Our own tokens always carry these; a token without them was not minted for this tenant.
        if claims.tenant() != Some(tenant.id.to_string().as_str()) {
            return Err(Rejection::ClaimsInvalid("tid does not name this tenant").into());
        }
        let user_id = Uuid::parse_str(claims.subject())
            .map_err(|_| Rejection::ClaimsInvalid("sub is not a user id"))?;
        let session_id = claims
            .session()
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or(Rejection::ClaimsInvalid(
                "sid is missing or not a session id",
            ))?;

        // The edge learns of revocations by push; here the database is the authority.
        let live: Option<(bool,)> = sqlx::query_as(
            "SELECT revoked_at IS NULL FROM sessions WHERE id = $1 AND tenant_id = $2 AND user_id = $3",
        )
        .bind(session_id)
        .bind(tenant.id)
        .bind(user_id)
        .fetch_optional(state.db())
        .await?;
        if !matches!(live, Some((true,))) {
            return Err(Rejection::Revoked.into());
        }
        Ok(Authenticated {
            tenant,
            user_id,
            session_id,
            claims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn a_bearer_token_is_read_whatever_the_case_of_the_scheme() {
        assert_eq!(bearer(&headers("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&headers("bearer abc")), Some("abc"));
        assert_eq!(bearer(&headers("Basic abc")), None);
        assert_eq!(bearer(&headers("Bearer ")), None);
        assert_eq!(bearer(&headers("Bearer")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}
