//! The edge Worker: every request to the customer's API passes through [`gate`].
//!
//! It owns the per-request pipeline and the runtime adapters (JWKS fetching and caching, WebCrypto,
//! KV, the tenant and rate-limit Durable Objects, forwarding). Every rule it applies lives in
//! `auth-core`; this crate must not grow decisions of its own. What it keeps between requests is in [`isolate`]; every answer
//! it gives in place of the upstream's is an [`error::EdgeError`].
//!
//! Routes: `/__auth/*` is the edge's own administrative surface (the origin's pushes: revoked
//! sessions, user and tenant not-befores, sessions opened or refreshed, revoked signing keys; and its
//! query of the sessions a tenant's object holds);
//! everything else goes through the gate.
//!
//! Features: `conformance` adds the test-only endpoints of `cargo xtask conformance`;
//! `bench-policy` compiles `bench/routes.toml` in place of the route policy (the benchmark's limits
//! bundle).

mod admin;
mod config;
#[cfg(feature = "conformance")]
mod conformance;
mod error;
mod forward;
mod gate;
mod incoming;
mod isolate;
mod jwks;
mod key_revocation;
mod kv;
mod ratelimit;
mod revocation;
mod token_cache;
mod webcrypto;

// Durable Object classes must be exported by this bundle for their `wrangler.toml` bindings to resolve.
pub use durable_objects::{RateLimiter, TenantSessions};

use error::EdgeError;
use incoming::Incoming;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{event, Context, Env};

#[event(start)]
fn start() {
    console_error_panic_hook_lite();
}

/// The Worker's fetch handler: the plain `async` [`handle`], driven by `wasm_bindgen_futures` as an
/// exported `async fn` is. It answers a promise of a `Response` (the upstream's fetch promise,
/// adopted as it is, when the request is forwarded).
///
/// Written with `#[wasm_bindgen]` rather than `#[event(fetch)]`: that glue converts the request and
/// response to `worker` types on every request. Here the request stays the runtime's (see
/// `incoming`).
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> JsValue {
    let answer = handle(Incoming::new(req), env, Context::new(ctx));
    wasm_bindgen_futures::future_to_promise(async { Ok(answer.await) }).into()
}

/// Never fails: every fault is an [`EdgeError`], logged and answered like any refusal.
async fn handle(req: Incoming, env: Env, ctx: Context) -> JsValue {
    let edge = match isolate::with(|i| i.edge(&env)) {
        Ok(edge) => edge,
        Err(reason) => return EdgeError::Misconfigured(reason).respond(None, None),
    };
    #[cfg(feature = "conformance")]
    if req.path().starts_with("/__conformance/") {
        return conformance::handle(req.into_worker(), &edge).await;
    }
    if req.path().starts_with(admin::PREFIX) {
        return match admin::handle(req.into_worker(), &edge, now_unix()).await {
            Ok(answer) => web_sys::Response::from(answer).into(),
            Err(e) => e.respond(None, None),
        };
    }
    gate::handle(req, &edge, &ctx).await
}

/// Seconds since the Unix epoch. Inside a Worker the clock advances only across I/O, which is
/// precise enough for token lifetimes measured in minutes.
pub(crate) fn now_unix() -> i64 {
    // `Date.now()`: no Date object per call, unlike `worker::Date::now()`.
    (js_sys::Date::now() / 1000.0) as i64
}

/// Panics abort the isolate's request with an opaque 500; log the message first so it is not lost.
fn console_error_panic_hook_lite() {
    std::panic::set_hook(Box::new(|info| worker::console_error!("edge.panic {info}")));
}
