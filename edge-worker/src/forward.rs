//! Forwarding an allowed request to the upstream with the verified identity.
//!
//! Every client-sent `x-auth-*` header is dropped before ours are added, and when
//! `UPSTREAM_SIGNING_SECRET` is set the identity is signed (`auth_core::identity`), so an upstream
//! reached some other way can tell a forged request from one that passed the edge. The bearer token
//! itself is not forwarded: the upstream gets the verified identity instead, and no copy of the token
//! lands in its logs.
//!
//! This is the hot path, so it works on the runtime's own objects: the client's headers are copied
//! by the runtime in one call and only the few to drop are touched from here, the upstream's response
//! goes back as it came unless CORS headers must be added, and redirects are handed to the client,
//! not followed, as a proxy must.

use crate::config::EdgeConfig;
use crate::incoming::Incoming;
use crate::respond::{self, IntoJs as _};
use auth_core::policy::Cors;
use auth_core::{identity, VerifiedClaims};
use js_sys::Promise;
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, RequestRedirect, Response, ResponseInit, WorkerGlobalScope};

/// Hop-by-hop and per-connection headers that must not be relayed (RFC 9110 §7.6.1).
const NOT_FORWARDED: [&str; 10] = [
    "authorization",
    "host",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Sends the request on. Answers the upstream's fetch promise itself, not awaited here, when no CORS
/// headers must be added: the runtime then hands the upstream's response straight to the client.
pub async fn send(
    req: &Incoming,
    config: &EdgeConfig,
    claims: Option<&VerifiedClaims>,
    cors: Option<(&Cors, String)>,
) -> Result<JsValue, JsValue> {
    let response = upstream_fetch(req, config, claims)?;
    match cors {
        None => Ok(response.into()),
        Some((cors, origin)) => {
            // A `JsFuture`: the upstream may take as long as it likes (`eager::settled` is for
            // short waits).
            let response: Response = JsFuture::from(response).await?.unchecked_into();
            Ok(with_cors(response, cors, &origin)?.into())
        }
    }
}

/// A promise of the upstream's response, or of a 502 when it cannot be reached.
fn upstream_fetch(
    req: &Incoming,
    config: &EdgeConfig,
    claims: Option<&VerifiedClaims>,
) -> Result<Promise, JsValue> {
    let headers = forwarded_headers(req)?;
    let identity = claims.map(identity::headers_for).unwrap_or_default();
    for (name, value) in &identity {
        headers.set(name, value)?;
    }
    if let Some(secret) = &config.upstream_secret {
        let now = crate::now_unix();
        headers.set(identity::TIMESTAMP, &now.to_string())?;
        headers.set(
            identity::SIGNATURE,
            &identity::sign_forwarded(secret, &identity, req.method(), req.path_and_query(), now),
        )?;
    }
    let init = RequestInit::new();
    init.set_method(req.method());
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    if let Some(body) = req.raw.body() {
        init.set_body(&body);
    }
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetched = global.fetch_with_str_and_init(
        &format!("{}{}", config.upstream, req.path_and_query()),
        &init,
    );
    Ok(UPSTREAM_FAILED
        .with(|on_failure| crate::promise::recover(&fetched, on_failure.as_ref().unchecked_ref())))
}

thread_local! {
    /// Turns a failed upstream fetch into our 502. Made once per isolate: a closure per request
    /// would cost a JS function and its bookkeeping every time.
    static UPSTREAM_FAILED: Closure<dyn FnMut(JsValue) -> JsValue> = Closure::new(|e: JsValue| {
        worker::console_error!("upstream.unavailable error={}", worker::Error::from(e));
        let answer = respond::error(
            502,
            "upstream_unavailable",
            "the upstream could not be reached",
        );
        answer.map_or(JsValue::UNDEFINED, |r| r.into_js())
    });
}

/// The client's headers, less the hop-by-hop ones, its credentials and any `x-auth-*` it sent, plus
/// `x-forwarded-host` and `-proto`.
fn forwarded_headers(req: &Incoming) -> Result<Headers, JsValue> {
    let headers = Headers::new_with_headers(&req.headers)?;
    let names = js_sys::Array::from(&headers.keys());
    for name in names.iter().filter_map(|n| n.as_string()) {
        if identity::is_reserved(&name) || NOT_FORWARDED.contains(&name.as_str()) {
            headers.delete(&name)?;
        }
    }
    if let Some(host) = req.host() {
        headers.set("x-forwarded-host", host)?;
    }
    headers.set("x-forwarded-proto", req.scheme())?;
    Ok(headers)
}

/// The upstream's response with the route's CORS headers added (a fetched response's headers are
/// immutable, so the response is rebuilt around the same body).
fn with_cors(response: Response, cors: &Cors, origin: &str) -> Result<Response, JsValue> {
    let headers = Headers::new_with_headers(&response.headers())?;
    for (name, value) in cors.response_headers(origin) {
        headers.set(name, &value)?;
    }
    let init = ResponseInit::new();
    init.set_status(response.status());
    init.set_status_text(&response.status_text());
    init.set_headers(&headers);
    Response::new_with_opt_readable_stream_and_init(response.body().as_ref(), &init)
}
