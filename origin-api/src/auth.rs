//! Extractors for the kinds of caller: the operator (the bootstrap admin token), a tenant's admin
//! (the bootstrap token or one of the tenant's admin API keys), and a signed-in user (one of our own
//! access tokens, verified by `auth-core` exactly as the edge verifies it).

use crate::admin_credentials::{self, Permission};
use crate::audit::Actor;
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
use axum::http::{header, HeaderMap, Method};
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

/// The operator: a request carrying `ORIGIN_ADMIN_TOKEN`, the bootstrap token. Only the routes that
/// act on no one tenant (creating and listing tenants) take this; an admin API key there is 403
/// `bootstrap_required`.
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
            Ok(token) if admin_credentials::has_prefix(token) => Err(ApiError::BootstrapRequired),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// The credential a tenant's admin request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminCredential {
    /// The bootstrap token: every permission on every tenant.
    Bootstrap,
    /// One of the tenant's admin API keys.
    Key {
        id: Uuid,
        permissions: Vec<Permission>,
    },
}

/// An admin of the tenant named by the route's `{slug}`: the bootstrap token, or an unrevoked,
/// unexpired admin API key of that tenant (a key of another tenant is no credential here: 401).
///
/// The permission a key needs follows from the method: `GET` and `HEAD` need `read`, every other
/// method `write` (see [`KeyAdmin`] for the admin-key routes). Handlers get the tenant resolved and
/// record audit events as [`TenantAdmin::actor`].
#[derive(Debug, Clone)]
pub struct TenantAdmin {
    pub tenant: Tenant,
    pub credential: AdminCredential,
}

impl TenantAdmin {
    /// Who the audit trail says acted.
    pub fn actor(&self) -> Actor {
        match &self.credential {
            AdminCredential::Bootstrap => Actor::Admin,
            AdminCredential::Key { id, .. } => Actor::AdminKey(*id),
        }
    }

    /// Whether the credential carries `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        match &self.credential {
            AdminCredential::Bootstrap => true,
            AdminCredential::Key { permissions, .. } => permissions.contains(&permission),
        }
    }

    /// 403 `permission_denied` unless the credential carries `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied(permission.as_str()))
        }
    }

    async fn resolve(parts: &mut Parts, state: &AppState) -> Result<TenantAdmin, ApiError> {
        let ApiPath(params) =
            ApiPath::<HashMap<String, String>>::from_request_parts(parts, state).await?;
        let token = bearer_token(&parts.headers).map_err(|_| ApiError::Unauthorized)?;
        let slug = params.get("slug").ok_or(ApiError::TenantNotFound)?;
        if state.is_admin_token(token) {
            let tenant = tenants::find(state.db(), slug).await?;
            return Ok(TenantAdmin {
                tenant,
                credential: AdminCredential::Bootstrap,
            });
        }
        if !admin_credentials::is_well_formed(token) {
            return Err(ApiError::Unauthorized);
        }
        // Without the bootstrap token, an unknown tenant is only a credential that fits nothing: no
        // answer tells a key holder which other tenants exist.
        let tenant = match tenants::find(state.db(), slug).await {
            Err(ApiError::TenantNotFound) => return Err(ApiError::Unauthorized),
            other => other?,
        };
        let key =
            admin_credentials::authenticate(state.db(), state.admin_key_pepper(), tenant.id, token)
                .await?;
        Ok(TenantAdmin {
            tenant,
            credential: AdminCredential::Key {
                id: key.id,
                permissions: key.permissions,
            },
        })
    }
}

impl FromRequestParts<AppState> for TenantAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let admin = TenantAdmin::resolve(parts, state).await?;
        let needed = if parts.method == Method::GET || parts.method == Method::HEAD {
            Permission::Read
        } else {
            Permission::Write
        };
        admin.require(needed)?;
        Ok(admin)
    }
}

/// A [`TenantAdmin`] on the admin-key routes: listing needs `read`, creating and revoking keys
/// `manage_keys` (and not `write`, so a key may be made only to manage keys).
#[derive(Debug, Clone)]
pub struct KeyAdmin(pub TenantAdmin);

impl FromRequestParts<AppState> for KeyAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let admin = TenantAdmin::resolve(parts, state).await?;
        let needed = if parts.method == Method::GET || parts.method == Method::HEAD {
            Permission::Read
        } else {
            Permission::ManageKeys
        };
        admin.require(needed)?;
        Ok(KeyAdmin(admin))
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
