//! What a refused token says about itself, read without trusting it, and how far the core's
//! pipeline got with it.
//!
//! None of this decides anything: the decision is `verify_native`'s. This is shown beside a refusal,
//! labelled UNVERIFIED, so that a person can see where their token and their expectations part ways.

use crate::trust::Trust;
use auth_core::encoding::b64url_decode;
use auth_core::token::{UnverifiedToken, DEFAULT_MAX_TOKEN_BYTES};
use auth_core::verify::{check_signature_native, select_issuer, select_key};
use serde::Serialize;
use serde_json::{Map, Value};

/// Header members and claims of a token, decoded but not verified. Values are kept as the JSON the
/// token carried, so a wrongly typed claim shows as it is, and printing them as JSON escapes any
/// control characters a hostile token might carry. The signature is never decoded or kept.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Unverified {
    /// False when the header could not be decoded as a JSON object.
    pub header_decoded: bool,
    /// False when the claims could not be decoded as a JSON object.
    pub claims_decoded: bool,
    pub alg: Option<Value>,
    pub kid: Option<Value>,
    pub typ: Option<Value>,
    pub iss: Option<Value>,
    pub aud: Option<Value>,
    pub exp: Option<Value>,
    pub nbf: Option<Value>,
    pub iat: Option<Value>,
}

impl Unverified {
    pub(crate) fn decode(raw: &str) -> Self {
        // The same cap the core applies before decoding anything.
        if raw.len() > DEFAULT_MAX_TOKEN_BYTES {
            return Unverified::default();
        }
        // Only the first two parts are ever decoded: the signature stays out of this type.
        let mut parts = raw.split('.');
        let header = parts.next().and_then(decode_object);
        let claims = parts.next().and_then(decode_object);
        let get = |obj: &Option<Map<String, Value>>, name: &str| {
            obj.as_ref().and_then(|o| o.get(name)).cloned()
        };
        Unverified {
            header_decoded: header.is_some(),
            claims_decoded: claims.is_some(),
            alg: get(&header, "alg"),
            kid: get(&header, "kid"),
            typ: get(&header, "typ"),
            iss: get(&claims, "iss"),
            aud: get(&claims, "aud"),
            exp: get(&claims, "exp"),
            nbf: get(&claims, "nbf"),
            iat: get(&claims, "iat"),
        }
    }
}

fn decode_object(part: &str) -> Option<Map<String, Value>> {
    serde_json::from_slice(&b64url_decode(part)?).ok()
}

/// One step of the core's verification pipeline, as far as a token got.
#[derive(Debug, Serialize)]
pub(crate) struct Step {
    pub step: &'static str,
    pub passed: bool,
    /// The rejection code when the step refused the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// What the step found when it passed (the key chosen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Runs the core's steps one by one — the order `verify_native` keeps — and records each outcome up
/// to the first refusal. Passing the signature step and failing a later one tells the user the token
/// is authentic and only its claims are off; failing earlier says the keys or header are the problem.
pub(crate) fn trace(raw: &str, trust: &Trust) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut record = |step: &'static str, outcome: Result<Option<String>, &'static str>| {
        let passed = outcome.is_ok();
        steps.push(match outcome {
            Ok(detail) => Step {
                step,
                passed,
                code: None,
                detail,
            },
            Err(code) => Step {
                step,
                passed,
                code: Some(code),
                detail: None,
            },
        });
        passed
    };
    let token = match UnverifiedToken::parse(raw, DEFAULT_MAX_TOKEN_BYTES) {
        Ok(t) => t,
        Err(r) => {
            record("parse", Err(r.code()));
            return steps;
        }
    };
    record("parse", Ok(None));
    let policy = match select_issuer(&token, &trust.expectations) {
        Ok(p) => p,
        Err(r) => {
            record("issuer", Err(r.code()));
            return steps;
        }
    };
    record("issuer", Ok(None));
    let key = match select_key(&token, &trust.keys) {
        Ok(k) => k,
        Err(r) => {
            record("key", Err(r.code()));
            return steps;
        }
    };
    record(
        "key",
        Ok(Some(format!(
            "{} ({})",
            key.kid().unwrap_or("?"),
            key.algorithm().name()
        ))),
    );
    let job = match token.signature_job(&policy, key) {
        Ok(j) => j,
        Err(r) => {
            record("header", Err(r.code()));
            return steps;
        }
    };
    record("header", Ok(None));
    let valid = check_signature_native(&job);
    let proof = match job.conclude(valid) {
        Ok(p) => p,
        Err(r) => {
            record("signature", Err(r.code()));
            return steps;
        }
    };
    record("signature", Ok(None));
    let claims = token.finish(proof, &policy, trust.now);
    record("claims", claims.map(|_| None).map_err(|r| r.code()));
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::encoding::b64url_encode;

    fn part(v: &Value) -> String {
        b64url_encode(v.to_string().as_bytes())
    }

    #[test]
    fn header_and_claims_are_read_as_sent_and_the_signature_is_not_read() {
        let raw = format!(
            "{}.{}.c2lnbmF0dXJl",
            part(&serde_json::json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"})),
            part(&serde_json::json!({"iss": "i", "aud": ["a", "b"], "exp": "soon"})),
        );
        let u = Unverified::decode(&raw);
        assert!(u.header_decoded && u.claims_decoded);
        assert_eq!(u.kid, Some(Value::from("k1")));
        assert_eq!(u.aud, Some(serde_json::json!(["a", "b"])));
        assert_eq!(u.exp, Some(Value::from("soon")));
        assert!(!serde_json::to_string(&u).unwrap().contains("c2lnbmF0dXJl"));
    }

    #[test]
    fn garbage_decodes_to_nothing_without_failing() {
        let u = Unverified::decode("not a token");
        assert!(!u.header_decoded && !u.claims_decoded);
        assert!(u.alg.is_none());
        let too_long = "a".repeat(DEFAULT_MAX_TOKEN_BYTES + 1);
        assert!(!Unverified::decode(&too_long).header_decoded);
    }
}
