//! The verification pipeline, with the pure-Rust signature check used natively.
//!
//! The edge runs the same steps with WebCrypto in place of [`check_signature_native`]; the order of
//! the steps is the contract both paths keep: parse, choose the issuer, choose the key, check the
//! header against issuer and key, check the signature, validate the claims.

use crate::claims::{Expectations, IssuerPolicy, VerifiedClaims};
use crate::keys::{Algorithm, KeyMaterial, KeySet, VerificationKey};
use crate::reject::Rejection;
use crate::tenant_issuers::TrustedIssuer;
use crate::token::{SignatureJob, UnverifiedToken};
use jwt_compact::alg::{Ed25519, Es256, Rsa};
use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
use std::borrow::Cow;

/// The trusted issuer a token names (unverified, used only for routing to its keys): an exact
/// entry, or a template's instance for the tenant the `iss` names (`crate::tenant_issuers`).
pub fn select_issuer<'e>(
    token: &UnverifiedToken<'_>,
    expectations: &'e Expectations,
) -> Result<Cow<'e, IssuerPolicy>, Rejection> {
    let iss = token
        .issuer()
        .ok_or(Rejection::ClaimsInvalid("iss is missing"))?;
    Ok(match expectations.resolve(iss)? {
        TrustedIssuer::Exact(policy) => Cow::Borrowed(policy),
        TrustedIssuer::Tenant(tenant) => Cow::Owned(tenant.policy()),
    })
}

/// The key a token's `kid` names in the issuer's key set. A token without `kid` is refused rather
/// than tried against every key.
pub fn select_key<'k>(
    token: &UnverifiedToken<'_>,
    keys: &'k KeySet,
) -> Result<&'k VerificationKey, Rejection> {
    let kid = token.kid().ok_or(Rejection::Malformed("kid is missing"))?;
    keys.find(kid).ok_or(Rejection::KeyUnknown)
}

/// Checks a signature with the pure-Rust stack (jwt-compact over p256 / ed25519-dalek).
pub fn check_signature_native(job: &SignatureJob<'_, '_>) -> bool {
    let message = job.signing_input.as_bytes();
    match job.key.material() {
        KeyMaterial::P256 { key, .. } => {
            <Es256 as jwt_compact::Algorithm>::Signature::try_from_slice(&job.signature)
                .is_ok_and(|sig| Es256.verify_signature(&sig, key, message))
        }
        KeyMaterial::Ed25519 { key, .. } => {
            <Ed25519 as jwt_compact::Algorithm>::Signature::try_from_slice(&job.signature)
                .is_ok_and(|sig| Ed25519.verify_signature(&sig, key, message))
        }
        KeyMaterial::Rsa { n, e } => {
            // RFC 8017 §5.2.2: the signature representative must be below the modulus. The `rsa`
            // crate's PSS path does not check this (an unreduced s + n verifies), so we do, for both
            // paddings: same length as n, and smaller as a big-endian number.
            if job.signature.len() != n.len() || job.signature.as_slice() >= n.as_slice() {
                return false;
            }
            let alg = match job.alg {
                Algorithm::Ps256 => Rsa::ps256(),
                _ => Rsa::rs256(),
            };
            let Ok(key) = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(n),
                rsa::BigUint::from_bytes_be(e),
            ) else {
                return false;
            };
            <Rsa as jwt_compact::Algorithm>::Signature::try_from_slice(&job.signature)
                .is_ok_and(|sig| alg.verify_signature(&sig, &key, message))
        }
    }
}

/// Verifies a bearer token end to end with the native signature check. `keys_for` yields the current
/// key set of an issuer, or `None` when none can be had (then the answer is `KeysUnavailable`).
pub fn verify_native<'k>(
    raw: &str,
    max_token_bytes: usize,
    expectations: &Expectations,
    keys_for: impl FnOnce(&IssuerPolicy) -> Option<&'k KeySet>,
    now: i64,
) -> Result<VerifiedClaims, Rejection> {
    let token = UnverifiedToken::parse(raw, max_token_bytes)?;
    let policy = select_issuer(&token, expectations)?;
    let keys = keys_for(&policy).ok_or(Rejection::KeysUnavailable)?;
    let key = select_key(&token, keys)?;
    let job = token.signature_job(&policy, key)?;
    let valid = check_signature_native(&job);
    let proof = job.conclude(valid)?;
    token.finish(proof, &policy, now)
}
