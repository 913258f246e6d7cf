//! Minting access tokens (RFC 9068 `at+jwt`, signed with the tenant's current key: ES256 or EdDSA)
//! and opaque refresh tokens.

use crate::keys::CurrentKey;
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
            },
            &key,
        )
        .unwrap();
        let keys = KeySet::new(vec![key.key.verification_key("k1").unwrap()])
            .unwrap()
            .published_for(&tenant_id.to_string());
        let expectations = Expectations {
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
        };
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
    fn refresh_tokens_are_random_and_stored_only_as_their_hash() {
        let a = RefreshToken::generate();
        let b = RefreshToken::generate();
        assert_ne!(a.value, b.value);
        assert_eq!(a.value.len(), 43);
        assert_eq!(a.hash, hash_refresh_token(&a.value));
        assert_ne!(a.hash.as_slice(), a.value.as_bytes());
    }
}
