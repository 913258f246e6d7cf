//! Refusal responses: one JSON envelope, stable codes, RFC 6750 challenges, and CORS headers for an
//! allowed origin so that a browser page can read why it was refused.

use auth_core::policy::{Cors, Denial};
use auth_core::Rejection;
use wasm_bindgen::JsValue;
use worker::{Headers, Response, Result};

/// Seconds a client should wait before retrying when no key can be had.
const KEYS_RETRY_AFTER_SECS: &str = "30";

/// `{"error": {"code", "message"}}` with the given status.
pub fn error(status: u16, code: &str, message: &str) -> Result<Response> {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::from_json(&body)?
        .with_status(status)
        .with_headers(headers))
}

fn with_cors(response: Response, cors: Option<(&Cors, String)>) -> Result<Response> {
    if let Some((cors, origin)) = cors {
        for (name, value) in cors.response_headers(&origin) {
            response.headers().set(name, &value)?;
        }
    }
    Ok(response)
}

/// The answer to a refused token: 401 with a `WWW-Authenticate` challenge, or 503 with `Retry-After`.
pub fn rejection(r: &Rejection, cors: Option<(&Cors, String)>) -> Result<Response> {
    let response = error(r.status(), r.code(), &r.to_string())?;
    match r.bearer_error() {
        Some(e) => response.headers().set(
            "www-authenticate",
            &format!("Bearer error=\"{e}\", error_description=\"{}\"", r.code()),
        )?,
        None if r.status() == 401 => response.headers().set("www-authenticate", "Bearer")?,
        None => {}
    }
    if matches!(r, Rejection::KeysUnavailable) {
        response
            .headers()
            .set("retry-after", KEYS_RETRY_AFTER_SECS)?;
    }
    with_cors(response, cors)
}

/// The answer to a policy denial: 403, with the RFC 6750 `insufficient_scope` challenge when scopes
/// are what is missing.
pub fn denial(d: &Denial, cors: Option<(&Cors, String)>) -> Result<Response> {
    let response = error(403, d.code(), &d.message())?;
    if let Denial::InsufficientScope(scope) = d {
        response.headers().set(
            "www-authenticate",
            &format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
        )?;
    }
    with_cors(response, cors)
}

/// A `worker::Response` as the runtime's own object, for the hand-written fetch handler.
pub trait IntoJs {
    fn into_js(self) -> JsValue;
}

impl IntoJs for Response {
    fn into_js(self) -> JsValue {
        web_sys::Response::from(self).into()
    }
}
