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
mod forward;
mod gate;
mod jwks;
mod respond;
mod revocation;
mod token_cache;
mod webcrypto;

// Durable Object classes must be exported by this bundle for their `wrangler.toml` bindings to resolve.
pub use durable_objects::TenantSessions;

use worker::{event, Context, Env, Request, Response, Result};

#[event(start)]
fn start() {
    console_error_panic_hook_lite();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    #[cfg(feature = "conformance")]
    if req.path().starts_with("/__conformance/") {
        return conformance::handle(req).await;
    }
    let now = now_unix();
    let config = match config::for_isolate(&env) {
        Ok(c) => c,
        Err(reason) => {
            worker::console_error!("edge.config_invalid reason={reason}");
            return respond::error(503, "edge_misconfigured", "the edge is misconfigured");
        }
    };
    if req.path().starts_with(admin::PREFIX) {
        return admin::handle(req, &env, &config, now).await;
    }
    gate::handle(req, &env, &ctx, &config).await
}

/// Seconds since the Unix epoch. Inside a Worker the clock advances only across I/O, which is
/// precise enough for token lifetimes measured in minutes.
pub(crate) fn now_unix() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}

/// Panics abort the isolate's request with an opaque 500; log the message first so it is not lost.
fn console_error_panic_hook_lite() {
    std::panic::set_hook(Box::new(|info| worker::console_error!("edge.panic {info}")));
}
