//! Minting access tokens (RFC 9068 `at+jwt`, signed with the tenant's current key: ES256 or EdDSA)
//! and opaque refresh tokens.
//!
//! A session acting for an organization gets `org_id`, `roles` (RFC 9068 §2.2.3.1: an array) and
//! the scopes of those roles in `scope` (§2.2.3: space-separated, with the scopes an OAuth client
//! was granted): the claim names and shapes `auth_core::policy` reads for `scopes`, `roles` and
//! `bind = { org = "org_id" }`.

use crate::keys::CurrentKey;
use crate::orgs::OrgClaims;
use anyhow::Context as _;
use auth_core::encoding::b64url_encode;
use chrono::{DateTime, Utc};
use jwt_compact::Claims;
use rand::rngs::OsRng;
use rand::RngCore as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// The `typ` header of our access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// Random bytes in a refresh token: 256 bits, well above the 128 RFC 9700 asks for.
const REFRESH_TOKEN_BYTES: usize = 32;

/// What an access token says, besides `exp` and `iat`.
#[derive(Debug, Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    jti: String,
    sid: String,
    tid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// Everything that goes into one access token.
#[derive(Debug)]
pub struct AccessTokenRequest<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub session_id: Uuid,
    /// Unix seconds.
    pub now: i64,
    pub ttl_secs: i64,
    /// The organization the session acts for.
    pub org: Option<&'a OrgClaims>,
    /// What an OAuth client was granted (`openid email`), for a session opened through the code flow.
    pub oauth_scope: Option<&'a str>,
}

/// The `scope` claim: the client's grant, then the organization's scopes, each once; none when
/// both are empty.
fn scope_claim(oauth_scope: Option<&str>, org: Option<&OrgClaims>) -> Option<String> {
    let mut scopes: Vec<&str> = Vec::new();
    let granted = oauth_scope.into_iter().flat_map(|s| s.split(' '));
    let of_org = org
        .into_iter()
        .flat_map(|o| o.scopes.iter().map(String::as_str));
    for scope in granted.chain(of_org).filter(|s| !s.is_empty()) {
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    (!scopes.is_empty()).then(|| scopes.join(" "))
}

/// Signs an access token with the tenant's current key (`keys::current`).
pub fn mint_access_token(
    request: &AccessTokenRequest<'_>,
    key: &CurrentKey,
) -> anyhow::Result<String> {
    let issued_at =
        DateTime::<Utc>::from_timestamp(request.now, 0).context("the clock is out of range")?;
    let expires_at =
        DateTime::<Utc>::from_timestamp(request.now.saturating_add(request.ttl_secs), 0)
            .context("the expiry is out of range")?;
    let mut claims = Claims::new(AccessClaims {
        iss: request.issuer,
        sub: request.user_id.to_string(),
        aud: request.audience,
        jti: Uuid::new_v4().to_string(),
        sid: request.session_id.to_string(),
        tid: request.tenant_id.to_string(),
        org_id: request.org.map(|o| o.org_id.to_string()),
        roles: request.org.map(|o| o.roles.as_slice()),
        scope: scope_claim(request.oauth_scope, request.org),
    });
    claims.issued_at = Some(issued_at);
    claims.expiration = Some(expires_at);
    key.sign(ACCESS_TOKEN_TYPE, &claims)
}

/// A new refresh token: the value handed to the client, and the hash we keep.
#[derive(Debug)]
pub struct RefreshToken {
    pub value: String,
    pub hash: [u8; 32],
}

impl RefreshToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
        OsRng.fill_bytes(&mut bytes);
        let value = b64url_encode(&bytes);
        let hash = hash_refresh_token(&value);
        RefreshToken { value, hash }
    }
}

/// The stored form of a refresh token. A plain SHA-256 suffices: the token is 256 random bits, so
/// there is nothing to brute-force that a slow hash would protect.
pub fn hash_refresh_token(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{PrivateKey, SigningAlgorithm};
    use auth_core::{Expectations, IssuerPolicy, KeySet};

    fn expectations() -> Expectations {
        Expectations {
            issuers: vec![IssuerPolicy {
                issuer: "http://origin/t/acme".into(),
                jwks_uri: "http://origin/t/acme/.well-known/jwks.json".into(),
                audiences: vec!["api".into()],
                algorithms: vec![auth_core::Algorithm::Es256, auth_core::Algorithm::EdDsa],
                token_type: Some(ACCESS_TOKEN_TYPE.into()),
                leeway_secs: 30,
                jwks_cache: Default::default(),
                tenant: auth_core::claims::TenantBinding::Origin,
            }],
        }
    }

    #[test]
    fn a_minted_token_verifies_with_the_core_and_carries_every_claim() {
        for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            a_minted_token_of(alg);
        }
    }

    fn a_minted_token_of(alg: SigningAlgorithm) {
        let key = CurrentKey {
            kid: "k1".into(),
            key: PrivateKey::generate(alg),
        };
        let (tenant_id, user_id, session_id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let token = mint_access_token(
            &AccessTokenRequest {
                issuer: "http://origin/t/acme",
                audience: "api",
                tenant_id,
                user_id,
                session_id,
                now: 1_700_000_000,
                ttl_secs: 300,
                org: None,
                oauth_scope: None,
            },
            &key,
        )
        .unwrap();
        let keys = KeySet::new(vec![key.key.verification_key("k1").unwrap()])
            .unwrap()
            .published_for(&tenant_id.to_string());
        let expectations = expectations();
        let claims = auth_core::verify::verify_native(
            &token,
            auth_core::token::DEFAULT_MAX_TOKEN_BYTES,
            &expectations,
            |_| Some(&keys),
            1_700_000_100,
        )
        .unwrap();
        assert_eq!(claims.subject(), user_id.to_string());
        assert_eq!(claims.session(), Some(session_id.to_string().as_str()));
        assert_eq!(claims.tenant(), Some(tenant_id.to_string().as_str()));
        assert_eq!(claims.expires_at(), 1_700_000_300);
        assert_eq!(claims.issued_at(), Some(1_700_000_000));
        assert!(claims.jwt_id().is_some_and(|j| Uuid::parse_str(j).is_ok()));

        let expired = auth_core::verify::verify_native(
            &token,
            auth_core::token::DEFAULT_MAX_TOKEN_BYTES,
            &expectations,
            |_| Some(&keys),
            1_700_000_331,
        );
        assert_eq!(expired.unwrap_err(), auth_core::Rejection::Expired);
    }

    #[test]
    fn an_organization_s_roles_and_scopes_are_in_the_shapes_route_policies_read() {
        let key = CurrentKey {
            kid: "k1".into(),
            key: PrivateKey::generate(SigningAlgorithm::Es256),
        };
        let org = OrgClaims {
            org_id: Uuid::new_v4(),
            roles: vec!["admin".into(), "member".into()],
            scopes: vec!["members:read".into(), "org:read".into()],
        };
        let tenant_id = Uuid::new_v4();
        let token = mint_access_token(
            &AccessTokenRequest {
                issuer: "http://origin/t/acme",
                audience: "api",
                tenant_id,
                user_id: Uuid::new_v4(),
                session_id: Uuid::new_v4(),
                now: 1_700_000_000,
                ttl_secs: 300,
                org: Some(&org),
                oauth_scope: Some("openid email"),
            },
            &key,
        )
        .unwrap();
        let keys = KeySet::new(vec![key.key.verification_key("k1").unwrap()])
            .unwrap()
            .published_for(&tenant_id.to_string());
        let claims = auth_core::verify::verify_native(
            &token,
            auth_core::token::DEFAULT_MAX_TOKEN_BYTES,
            &expectations(),
            |_| Some(&keys),
            1_700_000_100,
        )
        .unwrap();
        let org_id = org.org_id.to_string();
        assert_eq!(
            claims.claim("org_id"),
            Some(&serde_json::Value::String(org_id))
        );
        assert_eq!(claims.roles(), vec!["admin", "member"]);
        assert_eq!(
            claims.scopes(),
            vec!["openid", "email", "members:read", "org:read"]
        );
        assert_eq!(scope_claim(None, None), None);
        assert_eq!(scope_claim(Some("openid"), None).as_deref(), Some("openid"));
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_only_as_their_hash() {
        let a = RefreshToken::generate();
        let b = RefreshToken::generate();
        assert_ne!(a.value, b.value);
        assert_eq!(a.value.len(), 43);
        assert_eq!(a.hash, hash_refresh_token(&a.value));
        assert_ne!(a.hash.as_slice(), a.value.as_bytes());
    }
}
