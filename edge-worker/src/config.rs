//! Edge configuration, read once per isolate (`isolate::Edge`) from `wrangler.toml` vars and
//! secrets.
//!
//! - `AUTH_ISSUERS`: the trusted issuers (`auth_core::Expectations`), as a TOML table in
//!   `wrangler.toml` or a JSON string.
//! - `UPSTREAM_URL`: where allowed requests go.
//! - `EDGE_PUSH_SECRET` (secret): authenticates the origin's revocation pushes.
//! - `UPSTREAM_SIGNING_SECRET` (secret, optional): signs the forwarded identity for the upstream.
//! - `TOKEN_CACHE_ENTRIES` (optional, default 1024): size of the verified-token cache; 0 disables it.
//! - `REVOCATION_CACHE_SECONDS` (optional, default 5, at most 60): how long an isolate reuses a KV
//!   revocation answer for a session on `eventual` routes; 0 asks KV on every request.
//!
//! The route policy is compiled from `policies/routes.toml` by `build.rs` and embedded.

use auth_core::policy::Policy;
use auth_core::Expectations;
use wasm_bindgen::JsValue;
use worker::Env;

const COMPILED_POLICY: &str = include_str!(concat!(env!("OUT_DIR"), "/policy.json"));
const DEFAULT_TOKEN_CACHE_ENTRIES: usize = 1024;
/// Upper bound on the verified-token cache: an entry is well under a kilobyte, and isolates have
/// 128 MB.
const MAX_TOKEN_CACHE_ENTRIES: usize = 65_536;
/// A few seconds on top of the minute KV itself may take to spread a revocation.
const DEFAULT_REVOCATION_CACHE_SECS: i64 = 5;
/// No longer than KV's own edge caching of an answer.
const MAX_REVOCATION_CACHE_SECS: i64 = 60;

#[derive(Debug)]
pub struct EdgeConfig {
    pub expectations: Expectations,
    pub policy: Policy,
    pub upstream: String,
    pub push_secret: Option<Vec<u8>>,
    pub upstream_secret: Option<Vec<u8>>,
    pub max_token_bytes: usize,
    pub token_cache_entries: usize,
    pub revocation_cache_secs: i64,
}

/// The configuration `env` describes, or why it is unusable.
pub fn parse(env: &Env) -> Result<EdgeConfig, String> {
    let issuers = read_json(env, "AUTH_ISSUERS")?;
    let expectations: Expectations =
        serde_json::from_str(&issuers).map_err(|e| format!("AUTH_ISSUERS: {e}"))?;
    expectations
        .validate()
        .map_err(|e| format!("AUTH_ISSUERS: {e}"))?;
    let upstream = text(env, "UPSTREAM_URL")
        .ok_or("UPSTREAM_URL is not set")?
        .trim_end_matches('/')
        .to_owned();
    if !(upstream.starts_with("http://") || upstream.starts_with("https://")) {
        return Err("UPSTREAM_URL must be an http(s) URL".into());
    }
    let token_cache_entries = match text(env, "TOKEN_CACHE_ENTRIES") {
        None => DEFAULT_TOKEN_CACHE_ENTRIES,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_TOKEN_CACHE_ENTRIES)
            .ok_or(format!(
                "TOKEN_CACHE_ENTRIES must be a number from 0 to {MAX_TOKEN_CACHE_ENTRIES}"
            ))?,
    };
    let revocation_cache_secs = match text(env, "REVOCATION_CACHE_SECONDS") {
        None => DEFAULT_REVOCATION_CACHE_SECS,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=MAX_REVOCATION_CACHE_SECS).contains(n))
            .ok_or(format!(
                "REVOCATION_CACHE_SECONDS must be a number from 0 to {MAX_REVOCATION_CACHE_SECS}"
            ))?,
    };
    let policy: Policy =
        serde_json::from_str(COMPILED_POLICY).map_err(|e| format!("compiled policy: {e}"))?;
    Ok(EdgeConfig {
        expectations,
        policy,
        upstream,
        push_secret: secret(env, "EDGE_PUSH_SECRET")?,
        upstream_secret: secret(env, "UPSTREAM_SIGNING_SECRET")?,
        max_token_bytes: auth_core::token::DEFAULT_MAX_TOKEN_BYTES,
        token_cache_entries,
        revocation_cache_secs,
    })
}

fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .filter(|v| !v.is_empty())
}

/// A secret (or, locally, a var) of at least 32 characters; `None` when unset.
fn secret(env: &Env, name: &str) -> Result<Option<Vec<u8>>, String> {
    match env.secret(name).or_else(|_| env.var(name)) {
        Ok(s) => {
            let s = s.to_string();
            if s.len() < auth_core::notice::MIN_SECRET_LEN {
                return Err(format!(
                    "{name} is shorter than {} characters",
                    auth_core::notice::MIN_SECRET_LEN
                ));
            }
            Ok(Some(s.into_bytes()))
        }
        Err(_) => Ok(None),
    }
}

/// A var given either as a JSON string or as a structured `wrangler.toml` value.
fn read_json(env: &Env, name: &str) -> Result<String, String> {
    let value: JsValue = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(name))
        .map_err(|_| format!("{name} is not readable"))?;
    if value.is_undefined() || value.is_null() {
        return Err(format!("{name} is not set"));
    }
    if let Some(text) = value.as_string() {
        return Ok(text);
    }
    js_sys::JSON::stringify(&value)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| format!("{name} is not JSON"))
}
