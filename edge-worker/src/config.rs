//! Edge configuration, read once per isolate from `wrangler.toml` vars and secrets.
//!
//! - `AUTH_ISSUERS`: the trusted issuers (`auth_core::Expectations`), as a TOML table in
//!   `wrangler.toml` or a JSON string (`--var`).
//! - `UPSTREAM_URL`: where allowed requests go.
//! - `EDGE_PUSH_SECRET`: the shared secret authenticating the origin's revocation pushes
//!   (a secret in production; a var locally).

use auth_core::policy::Policy;
use auth_core::Expectations;
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::Env;

/// The route policy compiled into the bundle (validated by `auth-core`'s tests and at first use).
const POLICY_TOML: &str = include_str!("../../policies/routes.toml");

#[derive(Debug)]
pub struct EdgeConfig {
    pub expectations: Expectations,
    pub policy: Policy,
    pub upstream: String,
    pub push_secret: Option<Vec<u8>>,
    pub max_token_bytes: usize,
}

thread_local! {
    static CONFIG: std::cell::OnceCell<Result<Rc<EdgeConfig>, String>> = const { std::cell::OnceCell::new() };
}

/// The isolate's configuration, parsed on first use. A broken configuration stays broken for the
/// isolate's life: every request answers 503 rather than running half-configured.
pub fn for_isolate(env: &Env) -> Result<Rc<EdgeConfig>, String> {
    CONFIG.with(|cell| cell.get_or_init(|| parse(env).map(Rc::new)).clone())
}

fn parse(env: &Env) -> Result<EdgeConfig, String> {
    let issuers = read_json(env, "AUTH_ISSUERS")?;
    let expectations: Expectations =
        serde_json::from_str(&issuers).map_err(|e| format!("AUTH_ISSUERS: {e}"))?;
    expectations
        .validate()
        .map_err(|e| format!("AUTH_ISSUERS: {e}"))?;
    let upstream = env
        .var("UPSTREAM_URL")
        .map_err(|_| "UPSTREAM_URL is not set".to_owned())?
        .to_string()
        .trim_end_matches('/')
        .to_owned();
    if !(upstream.starts_with("http://") || upstream.starts_with("https://")) {
        return Err("UPSTREAM_URL must be an http(s) URL".into());
    }
    let push_secret = match env
        .secret("EDGE_PUSH_SECRET")
        .or_else(|_| env.var("EDGE_PUSH_SECRET"))
    {
        Ok(s) => {
            let s = s.to_string();
            if s.len() < auth_core::notice::MIN_SECRET_LEN {
                return Err("EDGE_PUSH_SECRET is shorter than 32 characters".into());
            }
            Some(s.into_bytes())
        }
        Err(_) => None,
    };
    let policy =
        Policy::from_toml(POLICY_TOML).map_err(|e| format!("policies/routes.toml: {e}"))?;
    Ok(EdgeConfig {
        expectations,
        policy,
        upstream,
        push_secret,
        max_token_bytes: auth_core::token::DEFAULT_MAX_TOKEN_BYTES,
    })
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
        .ok_or_else(|| format!("{name} is not JSON-serialisable"))
}
