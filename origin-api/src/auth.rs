//! Extractors for the two kinds of caller: the operator (admin token) and a signed-in user (one of
//! our own access tokens, verified by `auth-core` exactly as the edge verifies it).

use crate::clock::now_unix;
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::tenants::{self, Tenant};
use crate::tokens::ACCESS_TOKEN_TYPE;
use auth_core::claims::{TenantBinding, DEFAULT_LEEWAY_SECS};
use auth_core::{bearer, Algorithm, Expectations, IssuerPolicy, Rejection, VerifiedClaims};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::collections::HashMap;
use uuid::Uuid;

/// The token of the `Authorization: Bearer <token>` header, by the rule the edge applies
/// (`auth_core::bearer`). A header that is not visible ASCII is malformed.
fn bearer_token(headers: &HeaderMap) -> Result<&str, Rejection> {
    let value = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| Rejection::Malformed("authorization header"))?,
        ),
    };
    bearer::token(value)
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
        match bearer_token(&parts.headers) {
            Ok(token) if state.is_admin_token(token) => Ok(Admin),
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
            // A tenant's keys are ES256 or EdDSA; each key's own `alg` decides which applies.
            algorithms: vec![Algorithm::Es256, Algorithm::EdDsa],
            token_type: Some(ACCESS_TOKEN_TYPE.to_owned()),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            jwks_cache: Default::default(),
            tenant: TenantBinding::Origin,
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
        let token = bearer_token(&parts.headers)?;

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

    fn headers(value: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(value).unwrap(),
        );
        h
    }

    #[test]
    fn the_bearer_token_is_read_by_the_core_rule_and_non_ascii_is_malformed() {
        assert_eq!(bearer_token(&headers(b"bearer abc")), Ok("abc"));
        assert_eq!(bearer_token(&HeaderMap::new()), Err(Rejection::Missing));
        assert_eq!(
            bearer_token(&headers(b"Bearer \xff")),
            Err(Rejection::Malformed("authorization header"))
        );
    }
}
