//! Refusal responses: one JSON envelope, stable codes, RFC 6750 challenges.

use auth_core::Rejection;
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

/// The answer to a refused token.
pub fn rejection(r: &Rejection) -> Result<Response> {
    let response = error(r.status(), r.code(), &r.to_string())?;
    let headers = response.headers().clone();
    match r.bearer_error() {
        Some(e) => headers.set(
            "www-authenticate",
            &format!("Bearer error=\"{e}\", error_description=\"{}\"", r.code()),
        )?,
        None if r.status() == 401 => headers.set("www-authenticate", "Bearer")?,
        None => {}
    }
    if matches!(r, Rejection::KeysUnavailable) {
        headers.set("retry-after", KEYS_RETRY_AFTER_SECS)?;
    }
    Ok(response.with_headers(headers))
}
