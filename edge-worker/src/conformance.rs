//! Conformance endpoints: the edge's own verification steps, driven by outside test vectors.
//!
//! Compiled only with the `conformance` cargo feature; the production bundle never contains them.
//! `cargo xtask conformance` builds a separate bundle with the feature, runs it under `wrangler dev`
//! and feeds every vector through these endpoints and through the native mirror of the same steps
//! (`conformance/src/native.rs`); any difference between the two is a finding.
//!
//! - `POST /__conformance/signature`: `{jwk, alg, signing_input, signature}` (signature in base64url),
//!   or an array of them: core JWK import, WebCrypto import, the algorithm agreement that
//!   `signature_job` enforces, WebCrypto verify.
//! - `POST /__conformance/token`: `{jwk | jwks, tokens, opaque_payload}`: per token, the token parser,
//!   the key (one JWK, or a JWKS document through the key-set policy, WebCrypto import and `kid`
//!   selection, as `jwks.rs` and `gate.rs` do), `signature_job` and WebCrypto verify.
//! - `POST /__conformance/jwks`: a JWKS document (object or text), or an array of them: the key-set
//!   policy and WebCrypto import.
//! - `GET /__conformance/health`.
//! - `GET /__conformance/adapter-calls`: how many calls each adapter made since the isolate started
//!   ([`AdapterCalls`]), for the request-path checks.
//! - `POST /__conformance/limiter-down` with `true` or `false`: every call to a rate limit's object
//!   fails while it is `true`, so that the harness can check what a limiter that cannot answer
//!   leads to (the limit's `on_error`, never a 5xx).
//! - `POST /__conformance/panic`: panics, so that the harness can check that the next request is
//!   answered by a fresh wasm instance (the bundle's module around the bindings, `xtask/src/edge/shim.js`).
//!
//! A verdict is `{stage, valid, detail}`: `stage` is how far the input got (`token_refused`,
//! `jwk_refused`, `keyset_refused`, `import_failed`, `key_unknown`, `alg_mismatch`, `verify_error`,
//! `verified`, or `bad_request` for a malformed harness request); only `verified` with `valid: true`
//! is an accepted signature.

use crate::error::EdgeError;
use crate::isolate::{AdapterCall, Edge};
use crate::webcrypto::WebCrypto;
use auth_core::encoding::b64url_decode;
use auth_core::keys::{KeySet, VerificationKey};
use auth_core::token::{UnverifiedToken, DEFAULT_MAX_TOKEN_BYTES};
use auth_core::vectors::{signing_input, stand_in};
use auth_core::verify::select_key;
use auth_core::{Algorithm, IssuerPolicy, Rejection, SignatureJob};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::cell::Cell;
use wasm_bindgen::JsValue;
use worker::{Method, Request, Response, Result};

/// Answers a conformance request; a failure is a 500 `internal_error` with its cause in the log.
pub async fn handle(req: Request, edge: &Edge) -> JsValue {
    match endpoint(req, edge).await {
        Ok(answer) => web_sys::Response::from(answer).into(),
        Err(e) => EdgeError::Internal(format!("conformance: {e}")).respond(None, None),
    }
}

async fn endpoint(mut req: Request, edge: &Edge) -> Result<Response> {
    let crypto = &edge.crypto;
    let path = req.path();
    match (req.method(), path.as_str()) {
        (Method::Get, "/__conformance/health") => Response::ok("ok"),
        (Method::Get, "/__conformance/adapter-calls") => {
            Response::from_json(&edge.calls.snapshot())
        }
        (Method::Post, "/__conformance/limiter-down") => {
            let down: bool = req.json().await?;
            edge.calls.limiter_down.set(down);
            Response::from_json(&down)
        }
        (Method::Post, "/__conformance/panic") => {
            panic!("a panic the conformance harness asked for")
        }
        (Method::Post, "/__conformance/signature") => {
            let body: Value = req.json().await?;
            let mut out = Vec::new();
            for case in one_or_many(body) {
                out.push(match serde_json::from_value::<SignatureCase>(case) {
                    Ok(case) => signature(crypto, &case).await,
                    Err(e) => Verdict::bad_request(e.to_string()),
                });
            }
            Response::from_json(&out)
        }
        (Method::Post, "/__conformance/token") => {
            let batch: TokenBatch = req.json().await?;
            Response::from_json(&tokens(crypto, &batch).await)
        }
        (Method::Post, "/__conformance/jwks") => {
            let body: Value = req.json().await?;
            let mut out = Vec::new();
            for document in one_or_many(body) {
                out.push(match key_set(crypto, &document).await {
                    Ok(set) => json!({"accepted": true, "keys": set.keys().len(), "error": null}),
                    Err(v) => json!({"accepted": false, "keys": 0, "error": v.detail}),
                });
            }
            Response::from_json(&out)
        }
        _ => Response::error("no such conformance endpoint", 404),
    }
}

/// How far an input got, and the signature's validity if it got to the check.
#[derive(Debug, Clone, Serialize)]
struct Verdict {
    stage: &'static str,
    valid: bool,
    detail: String,
}

impl Verdict {
    fn refused(stage: &'static str, detail: impl ToString) -> Verdict {
        Verdict {
            stage,
            valid: false,
            detail: detail.to_string(),
        }
    }

    fn bad_request(detail: impl ToString) -> Verdict {
        Verdict::refused("bad_request", detail)
    }
}

#[derive(Debug, Deserialize)]
struct SignatureCase {
    jwk: Value,
    /// The algorithm a token would name (`alg`), checked against the key's as `signature_job` does.
    alg: String,
    signing_input: String,
    /// base64url, unpadded.
    signature: String,
}

#[derive(Debug, Deserialize)]
struct TokenBatch {
    jwk: Option<Value>,
    /// A JWKS document, as an object or as its text (the text reaches the strict parser as sent).
    jwks: Option<Value>,
    tokens: Vec<String>,
    /// The vectors' payloads are bytes such as `foo`, not JWT claims (see [`stand_in`]).
    #[serde(default)]
    opaque_payload: bool,
}

/// The conformance issuer: every algorithm we verify, no `typ` requirement. Built from JSON so that
/// the defaults are the ones a configuration gets.
fn policy() -> Option<IssuerPolicy> {
    serde_json::from_value(json!({
        "issuer": "https://conformance.invalid",
        "jwks_uri": "https://conformance.invalid/jwks.json",
        "audiences": ["conformance"],
        "algorithms": ["ES256", "EdDSA", "RS256", "PS256"],
    }))
    .ok()
}

fn one_or_many(body: Value) -> Vec<Value> {
    match body {
        Value::Array(items) => items,
        other => vec![other],
    }
}

async fn signature(crypto: &WebCrypto, case: &SignatureCase) -> Verdict {
    let Some(policy) = policy() else {
        return Verdict::bad_request("conformance policy does not parse");
    };
    let key = match VerificationKey::from_jwk(&case.jwk) {
        Ok(key) => key,
        Err(e) => return Verdict::refused("jwk_refused", e),
    };
    if let Err(e) = crypto.import(key.material(), key.algorithm()).await {
        return Verdict::refused("import_failed", js_text(&e));
    }
    let Some(signature) = b64url_decode(&case.signature) else {
        return Verdict::bad_request("signature is not base64url");
    };
    // What `UnverifiedToken::signature_job` checks: the named algorithm is the key's and allowed.
    let alg = match Algorithm::from_header(&case.alg) {
        Some(alg) if alg == key.algorithm() && policy.algorithms.contains(&alg) => alg,
        _ => return Verdict::refused("alg_mismatch", Rejection::AlgorithmNotAllowed),
    };
    let job = SignatureJob {
        alg,
        key: &key,
        signing_input: &case.signing_input,
        signature,
    };
    check(crypto, &job).await
}

/// The key a batch of tokens is checked against.
enum Keys {
    One(Box<VerificationKey>),
    Set(KeySet),
    Refused(Verdict),
}

async fn tokens(crypto: &WebCrypto, batch: &TokenBatch) -> Vec<Verdict> {
    let Some(policy) = policy() else {
        return vec![Verdict::bad_request("conformance policy does not parse"); batch.tokens.len()];
    };
    let keys = match (&batch.jwk, &batch.jwks) {
        (Some(jwk), None) => match VerificationKey::from_jwk(jwk) {
            Ok(key) => match crypto.import(key.material(), key.algorithm()).await {
                Ok(()) => Keys::One(Box::new(key)),
                Err(e) => Keys::Refused(Verdict::refused("import_failed", js_text(&e))),
            },
            Err(e) => Keys::Refused(Verdict::refused("jwk_refused", e)),
        },
        (None, Some(document)) => match key_set(crypto, document).await {
            Ok(set) => Keys::Set(set),
            Err(verdict) => Keys::Refused(verdict),
        },
        _ => Keys::Refused(Verdict::bad_request("send exactly one of jwk and jwks")),
    };
    let mut out = Vec::with_capacity(batch.tokens.len());
    for raw in &batch.tokens {
        out.push(token(crypto, raw, batch.opaque_payload, &keys, &policy).await);
    }
    out
}

async fn token(
    crypto: &WebCrypto,
    raw: &str,
    opaque_payload: bool,
    keys: &Keys,
    policy: &IssuerPolicy,
) -> Verdict {
    let probe = if opaque_payload {
        match stand_in(raw) {
            Ok(probe) => probe,
            Err(r) => return Verdict::refused("token_refused", r),
        }
    } else {
        None
    };
    let token =
        match UnverifiedToken::parse(probe.as_deref().unwrap_or(raw), DEFAULT_MAX_TOKEN_BYTES) {
            Ok(token) => token,
            Err(r) => return Verdict::refused("token_refused", r),
        };
    let key = match keys {
        Keys::Refused(verdict) => return verdict.clone(),
        Keys::One(key) => key,
        Keys::Set(set) => match select_key(&token, set) {
            Ok(key) => key,
            Err(r) => return Verdict::refused("key_unknown", r),
        },
    };
    let job = match token.signature_job(policy, key) {
        Ok(job) => job,
        Err(r) => return Verdict::refused("alg_mismatch", r),
    };
    match (&probe, signing_input(raw)) {
        (Some(_), Some(signing_input)) => {
            check(
                crypto,
                &SignatureJob {
                    alg: job.alg,
                    key: job.key,
                    signing_input,
                    signature: job.signature,
                },
            )
            .await
        }
        _ => check(crypto, &job).await,
    }
}

/// A JWKS document through the key-set policy, then WebCrypto import: keys the runtime refuses are
/// dropped, as `jwks.rs` does, and a set left empty is refused.
async fn key_set(crypto: &WebCrypto, document: &Value) -> std::result::Result<KeySet, Verdict> {
    let text = match document {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let set = KeySet::from_jwks_json(text.as_bytes())
        .map_err(|e| Verdict::refused("keyset_refused", e))?;
    let mut usable = Vec::with_capacity(set.keys().len());
    let mut refused = Vec::new();
    for key in set.keys() {
        match crypto.import(key.material(), key.algorithm()).await {
            Ok(()) => usable.push(key.clone()),
            Err(e) => refused.push(js_text(&e)),
        }
    }
    KeySet::new(usable).map_err(|e| {
        Verdict::refused(
            "import_failed",
            format!("{e} (webcrypto refused: {})", refused.join("; ")),
        )
    })
}

async fn check(crypto: &WebCrypto, job: &SignatureJob<'_, '_>) -> Verdict {
    match crypto.verify(job).await {
        Ok(valid) => Verdict {
            stage: "verified",
            valid,
            detail: String::new(),
        },
        Err(e) => Verdict::refused("verify_error", js_text(&e)),
    }
}

fn js_text(value: &JsValue) -> String {
    value
        .as_string()
        .or_else(|| {
            js_sys::Reflect::get(value, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{value:?}"))
}

/// How many calls each adapter made since the isolate started (`GET /__conformance/adapter-calls`),
/// so that the conformance run can check what a request made the edge pay for: a token whose
/// signature was not verified must cost no deny-entry read, no Durable Object call and no fetch
/// beyond the JWKS lifecycle's own rules.
#[derive(Debug, Default)]
pub struct AdapterCalls {
    deny_entry_reads: Cell<u64>,
    key_revocation_reads: Cell<u64>,
    deny_entry_writes: Cell<u64>,
    persisted_keys: Cell<u64>,
    tenant_object: Cell<u64>,
    rate_limiter: Cell<u64>,
    jwks_fetches: Cell<u64>,
    upstream: Cell<u64>,
    /// Set by `/__conformance/limiter-down`: the rate limits' objects are unreachable.
    pub limiter_down: Cell<bool>,
}

impl AdapterCalls {
    pub fn add(&self, call: AdapterCall) {
        let counter = match call {
            AdapterCall::DenyEntryRead => &self.deny_entry_reads,
            AdapterCall::KeyRevocationRead => &self.key_revocation_reads,
            AdapterCall::DenyEntryWrite => &self.deny_entry_writes,
            AdapterCall::PersistedKeys => &self.persisted_keys,
            AdapterCall::TenantObject => &self.tenant_object,
            AdapterCall::RateLimiter => &self.rate_limiter,
            AdapterCall::JwksFetch => &self.jwks_fetches,
            AdapterCall::Upstream => &self.upstream,
        };
        counter.set(counter.get() + 1);
    }

    fn snapshot(&self) -> Value {
        json!({
            "deny_entry_reads": self.deny_entry_reads.get(),
            "key_revocation_reads": self.key_revocation_reads.get(),
            "deny_entry_writes": self.deny_entry_writes.get(),
            "persisted_keys": self.persisted_keys.get(),
            "tenant_object": self.tenant_object.get(),
            "rate_limiter": self.rate_limiter.get(),
            "jwks_fetches": self.jwks_fetches.get(),
            "upstream": self.upstream.get(),
        })
    }
}
