//! The native path: auth-core's steps with the pure-Rust signature check.
//!
//! This mirrors `edge-worker/src/conformance.rs` step for step, with
//! [`check_signature_native`] in place of WebCrypto and no import step (the origin, the CLI and the
//! tests verify with jwt-compact directly). Stage names are the Worker's, so the two compare as data.

use super::{Case, Input, KeySource, Outcome};
use auth_core::encoding::b64url_decode;
use auth_core::keys::{KeySet, VerificationKey};
use auth_core::token::{UnverifiedToken, DEFAULT_MAX_TOKEN_BYTES};
use auth_core::vectors::{signing_input, stand_in};
use auth_core::verify::{check_signature_native, select_key};
use auth_core::{Algorithm, IssuerPolicy, Rejection, SignatureJob};
use serde_json::{json, Value};

/// Every case's outcome; `None` for cases neither path runs.
pub fn run_all(cases: &[Case]) -> Vec<Option<Outcome>> {
    let policy = policy();
    // Keys are imported once per key source, as the Worker does per batch.
    let mut keys: Option<(&KeySource, Result<Keys, Outcome>)> = None;
    cases
        .iter()
        .map(|case| match &case.input {
            Input::Signature {
                jwk,
                alg,
                signing_input,
                signature: sig,
            } => Some(signature(&policy, jwk, alg, signing_input, sig)),
            Input::Token {
                key,
                token: raw,
                opaque_payload,
            } => {
                if keys.as_ref().is_none_or(|(source, _)| *source != key) {
                    keys = Some((key, import(key)));
                }
                let imported = keys.as_ref().map(|(_, k)| k);
                imported.map(|k| token(&policy, k, raw, *opaque_payload))
            }
            Input::KeySet { document } => Some(match KeySet::from_jwks_json(document.as_bytes()) {
                Ok(set) => Outcome {
                    stage: "keyset_accepted".into(),
                    valid: true,
                    detail: String::new(),
                    keys: Some(set.keys().len()),
                },
                Err(e) => refused("keyset_refused", e),
            }),
            Input::NotRun { .. } => None,
        })
        .collect()
}

/// The conformance issuer, as the Worker builds it.
fn policy() -> IssuerPolicy {
    serde_json::from_value(json!({
        "issuer": "https://conformance.invalid",
        "jwks_uri": "https://conformance.invalid/jwks.json",
        "audiences": ["conformance"],
        "algorithms": ["ES256", "EdDSA", "RS256", "PS256"],
    }))
    .unwrap_or_else(|e| panic!("the conformance issuer policy must parse: {e}"))
}

fn refused(stage: &str, detail: impl ToString) -> Outcome {
    Outcome {
        stage: stage.into(),
        valid: false,
        detail: detail.to_string(),
        keys: None,
    }
}

fn check(job: &SignatureJob<'_, '_>) -> Outcome {
    Outcome {
        stage: "verified".into(),
        valid: check_signature_native(job),
        detail: String::new(),
        keys: None,
    }
}

fn signature(
    policy: &IssuerPolicy,
    jwk: &Value,
    alg: &str,
    signing_input: &str,
    signature: &str,
) -> Outcome {
    let key = match VerificationKey::from_jwk(jwk) {
        Ok(key) => key,
        Err(e) => return refused("jwk_refused", e),
    };
    let Some(signature) = b64url_decode(signature) else {
        return refused("bad_request", "signature is not base64url");
    };
    let alg = match Algorithm::from_header(alg) {
        Some(alg) if alg == key.algorithm() && policy.algorithms.contains(&alg) => alg,
        _ => return refused("alg_mismatch", Rejection::AlgorithmNotAllowed),
    };
    check(&SignatureJob {
        alg,
        key: &key,
        signing_input,
        signature,
    })
}

/// The key a batch of tokens is checked against.
enum Keys {
    One(Box<VerificationKey>),
    Set(KeySet),
}

fn import(source: &KeySource) -> Result<Keys, Outcome> {
    match source {
        KeySource::Jwk(jwk) => VerificationKey::from_jwk(jwk)
            .map(|k| Keys::One(Box::new(k)))
            .map_err(|e| refused("jwk_refused", e)),
        KeySource::Jwks(document) => KeySet::from_jwks_json(document.as_bytes())
            .map(Keys::Set)
            .map_err(|e| refused("keyset_refused", e)),
    }
}

fn token(
    policy: &IssuerPolicy,
    keys: &Result<Keys, Outcome>,
    raw: &str,
    opaque_payload: bool,
) -> Outcome {
    let probe = if opaque_payload {
        match stand_in(raw) {
            Ok(probe) => probe,
            Err(r) => return refused("token_refused", r),
        }
    } else {
        None
    };
    let token =
        match UnverifiedToken::parse(probe.as_deref().unwrap_or(raw), DEFAULT_MAX_TOKEN_BYTES) {
            Ok(token) => token,
            Err(r) => return refused("token_refused", r),
        };
    let key = match keys {
        Err(outcome) => return outcome.clone(),
        Ok(Keys::One(key)) => key,
        Ok(Keys::Set(set)) => match select_key(&token, set) {
            Ok(key) => key,
            Err(r) => return refused("key_unknown", r),
        },
    };
    let job = match token.signature_job(policy, key) {
        Ok(job) => job,
        Err(r) => return refused("alg_mismatch", r),
    };
    match (&probe, signing_input(raw)) {
        (Some(_), Some(signing_input)) => check(&SignatureJob {
            alg: job.alg,
            key: job.key,
            signing_input,
            signature: job.signature,
        }),
        _ => check(&job),
    }
}
