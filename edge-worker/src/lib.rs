//! The edge Worker: every request to the customer's API passes through [`gate`].
//!
//! It owns the per-request pipeline and the runtime adapters (JWKS fetching and caching, WebCrypto,
//! KV, the tenant Durable Object, forwarding). Every rule it applies lives in `auth-core`; this crate
//! must not grow decisions of its own.
//!
//! Routes: `/__auth/*` is the edge's own administrative surface (the origin's revocation pushes);
//! everything else goes through the gate.

mod admin;
mod config;
#[cfg(feature = "conformance")]
mod conformance;
mod eager;
mod forward;
mod gate;
mod incoming;
mod jwks;
mod promise;
mod respond;
mod revocation;
mod token_cache;
mod webcrypto;

// Durable Object classes must be exported by this bundle for their `wrangler.toml` bindings to resolve.
pub use durable_objects::TenantSessions;

use incoming::Incoming;
use respond::IntoJs;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::{event, Context, Env};

#[event(start)]
fn start() {
    console_error_panic_hook_lite();
}

/// The Worker's fetch handler: answers a `Response`, or a promise of one.
///
/// Written by hand rather than with `#[event(fetch)]`: that glue converts the request and response
/// to `worker` types on every request and always goes through a promise, which together cost more
/// than the rest of a cache hit. Here the request stays the runtime's (see `incoming`) and the
/// handler runs eagerly (see `eager`): a request that needs no I/O of its own answers the
/// upstream's fetch promise, or its refusal, without waiting on anything of its own.
#[wasm_bindgen]
pub fn fetch(req: web_sys::Request, env: Env, ctx: worker::worker_sys::Context) -> JsValue {
    eager::run(handle(Incoming::new(req), env, Context::new(ctx)))
}

/// Never fails: a fault on our side is logged and answered 500 with a code, like any other refusal.
async fn handle(req: Incoming, env: Env, ctx: Context) -> JsValue {
    match route(req, env, ctx).await {
        Ok(value) => value,
        Err(e) => {
            worker::console_error!("edge.internal_error error={}", worker::Error::from(e));
            respond::error(500, "internal_error", "the edge failed to answer")
                .map_or(JsValue::UNDEFINED, IntoJs::into_js)
        }
    }
}

async fn route(req: Incoming, env: Env, ctx: Context) -> Result<JsValue, JsValue> {
    #[cfg(feature = "conformance")]
    if req.path().starts_with("/__conformance/") {
        return Ok(conformance::handle(req.into_worker()).await?.into_js());
    }
    let config = match config::for_isolate(&env) {
        Ok(c) => c,
        Err(reason) => {
            worker::console_error!("edge.config_invalid reason={reason}");
            let refusal = respond::error(503, "edge_misconfigured", "the edge is misconfigured")?;
            return Ok(refusal.into_js());
        }
    };
    if req.path().starts_with(admin::PREFIX) {
        let answer = admin::handle(req.into_worker(), &env, &config, now_unix()).await?;
        return Ok(answer.into_js());
    }
    gate::handle(req, &env, &ctx, &config).await
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
