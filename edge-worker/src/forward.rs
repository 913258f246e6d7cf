//! Forwarding an allowed request to the upstream with the verified identity.
//!
//! Every client-sent `x-auth-*` header is dropped before ours are added, and when
//! `UPSTREAM_SIGNING_SECRET` is set the identity is signed (`auth_core::identity`), so an upstream
//! reached some other way can tell a forged request from one that passed the edge. The bearer token
//! itself is not forwarded: the upstream gets the verified identity instead, and no copy of the token
//! lands in its logs.
//!
//! This is the hot path. What is dropped and what is set is decided here; applying it to the
//! runtime's objects is one call into `js/forward.js`, because doing it from Rust costs a crossing
//! and a string copy per header touched. The client's headers are copied by the runtime, the
//! upstream's response goes back as it came (plus the route's CORS and rate-limit headers, set in
//! JS), and redirects are handed to the client, not followed, as a proxy must.

use crate::error::{AllowedCors, EdgeError};
use crate::incoming::Incoming;
use crate::isolate::{AdapterCall, Edge};
use auth_core::identity;
use js_sys::Promise;
use wasm_bindgen::prelude::{wasm_bindgen, Closure};
use wasm_bindgen::{JsCast, JsValue};

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

/// Sends the request on, answering the upstream's fetch promise as it is: the runtime hands the
/// upstream's response straight to the client, with the route's CORS and rate-limit headers set on
/// it when there are any (in `js/forward.js`, without a crossing back into Rust).
pub fn send(
    edge: &Edge,
    req: &Incoming,
    identity_headers: &[(&str, String)],
    cors: Option<&AllowedCors<'_>>,
    limit_headers: &[(&'static str, String)],
) -> Result<JsValue, EdgeError> {
    let internal = |e: JsValue| EdgeError::Internal(format!("forwarding: {e:?}"));
    edge.count(AdapterCall::Upstream);
    let mut answer = HeaderLines::default();
    for (name, value) in limit_headers {
        answer.push(name, value).map_err(internal)?;
    }
    if let Some(cors) = cors {
        for (name, value) in cors.cors.response_headers(cors.origin) {
            answer.push(name, &value).map_err(internal)?;
        }
    }
    let response = upstream_fetch(edge, req, identity_headers, &answer).map_err(internal)?;
    Ok(response.into())
}

/// A promise of the upstream's response, or of a 502 when it cannot be reached.
fn upstream_fetch(
    edge: &Edge,
    req: &Incoming,
    identity_headers: &[(&str, String)],
    answer: &HeaderLines,
) -> Result<Promise, JsValue> {
    let config = &edge.config;
    let mut set = HeaderLines::default();
    if let Some(host) = req.host() {
        set.push("x-forwarded-host", host)?;
    }
    set.push("x-forwarded-proto", req.scheme())?;
    for (name, value) in identity_headers {
        set.push(name, value)?;
    }
    if let Some(secret) = &config.upstream_secret {
        let now = req.now();
        set.push(identity::TIMESTAMP, &now.to_string())?;
        set.push(
            identity::SIGNATURE,
            &identity::sign_forwarded(
                secret,
                identity_headers,
                req.method(),
                req.path_and_query(),
                now,
            ),
        )?;
    }
    let url = [config.upstream.as_str(), req.path_and_query()].concat();
    edge.forwarder.js.forward(&req.raw, &url, &set.0, &answer.0)
}

/// Headers to set, as `makeForwarder` takes them: names and values alternating, one per line.
#[derive(Default)]
struct HeaderLines(String);

impl HeaderLines {
    /// Refuses a value with a line break or NUL: no header may hold one, and here it would shift
    /// every pair after it.
    fn push(&mut self, name: &str, value: &str) -> Result<(), JsValue> {
        if value.bytes().any(|b| matches!(b, b'\n' | b'\r' | 0)) {
            return Err(JsValue::from_str(
                "a forwarded header value holds a line break",
            ));
        }
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.0.push_str(name);
        self.0.push('\n');
        self.0.push_str(value);
        Ok(())
    }
}

#[wasm_bindgen(module = "/js/forward.js")]
extern "C" {
    type JsForwarder;
    #[wasm_bindgen(js_name = makeForwarder)]
    fn make_forwarder(
        not_forwarded: &js_sys::Array,
        reserved_prefix: &str,
        on_failure: &js_sys::Function,
    ) -> JsForwarder;
    #[wasm_bindgen(method, catch)]
    fn forward(
        this: &JsForwarder,
        request: &web_sys::Request,
        url: &str,
        set: &str,
        answer: &str,
    ) -> Result<Promise, JsValue>;
}

/// The isolate's forwarder (`isolate::Edge::forwarder`): made once, with what Rust decides is
/// never relayed and the handler that turns a failed upstream fetch into our 502 (a closure per
/// request would cost a JS function and its bookkeeping every time).
pub struct Forwarder {
    js: JsForwarder,
    _upstream_failed: Closure<dyn FnMut(JsValue) -> JsValue>,
}

impl Forwarder {
    pub fn new() -> Forwarder {
        let names: js_sys::Array = NOT_FORWARDED.iter().map(|n| JsValue::from_str(n)).collect();
        let upstream_failed = Closure::new(|e: JsValue| {
            EdgeError::UpstreamUnavailable(format!("{e:?}")).respond(None, None)
        });
        let js = make_forwarder(
            &names,
            identity::IDENTITY_HEADER_PREFIX,
            upstream_failed.as_ref().unchecked_ref(),
        );
        Forwarder {
            js,
            _upstream_failed: upstream_failed,
        }
    }
}
