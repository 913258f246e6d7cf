//! OpenID Connect ID tokens (Core 1.0 §2), signed with the tenant's current key like access tokens.

use crate::keys::CurrentKey;
use anyhow::Context as _;
use auth_core::encoding::b64url_encode;
use chrono::{DateTime, Utc};
use jwt_compact::Claims;
use serde::Serialize;
use sha2::{Digest as _, Sha256, Sha512};
use uuid::Uuid;

/// What an ID token says, besides `exp` and `iat`.
#[derive(Debug, Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    /// The client the token was issued to (Core §2; equal to `aud` with one audience).
    azp: &'a str,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    /// The API session the tokens belong to: the `sid` of the access token.
    sid: String,
}

/// Everything that goes into one ID token.
#[derive(Debug)]
pub struct IdTokenRequest<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub nonce: Option<&'a str>,
    /// Unix seconds.
    pub auth_time: i64,
    /// The access token issued with it (for `at_hash`).
    pub access_token: &'a str,
    /// Unix seconds.
    pub now: i64,
    pub ttl_secs: i64,
}

/// `at_hash` (Core §3.1.3.6): the left half of the access token's hash under the hash function of
/// the ID token's `alg`, base64url: SHA-256 for ES256, SHA-512 for EdDSA over Ed25519 (the hash
/// Ed25519 itself uses, as OpenID Connect's errata set resolves). `None` for an algorithm we do not
/// sign with.
pub fn at_hash(alg: &str, access_token: &str) -> Option<String> {
    let digest = match alg {
        "ES256" => Sha256::digest(access_token.as_bytes()).to_vec(),
        "EdDSA" => Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => return None,
    };
    Some(b64url_encode(&digest[..digest.len() / 2]))
}

pub fn mint_id_token(request: &IdTokenRequest<'_>, key: &CurrentKey) -> anyhow::Result<String> {
    let alg = key.key.algorithm().as_str();
    let issued_at =
        DateTime::<Utc>::from_timestamp(request.now, 0).context("the clock is out of range")?;
    let expires_at =
        DateTime::<Utc>::from_timestamp(request.now.saturating_add(request.ttl_secs), 0)
            .context("the expiry is out of range")?;
    let mut claims = Claims::new(IdClaims {
        iss: request.issuer,
        sub: request.user_id.to_string(),
        aud: request.client_id,
        azp: request.client_id,
        auth_time: request.auth_time,
        nonce: request.nonce,
        at_hash: at_hash(alg, request.access_token).with_context(|| format!("at_hash of {alg}"))?,
        sid: request.session_id.to_string(),
    });
    claims.issued_at = Some(issued_at);
    claims.expiration = Some(expires_at);
    key.sign("JWT", &claims).context("signing an id token")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_algorithms_hash() {
        // The example of OpenID Connect Core's appendix A.3 (ES256 hashes like its RS256).
        let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
        assert_eq!(
            at_hash("ES256", token).as_deref(),
            Some("77QmUPtjPfzWtF2AnpK9RQ")
        );
        // Left 32 bytes of SHA-512 (computed independently with Python's hashlib).
        assert_eq!(
            at_hash("EdDSA", token).as_deref(),
            Some("q7nS86GgvvFaZkzALLWqJYaJIKw2wCDAVfCAsm5CrBM")
        );
        assert_eq!(at_hash("HS256", token), None);
    }
}
