//! Durable Objects shipped inside the edge Worker's bundle, and the typed clients the Worker calls
//! them through.
//!
//! Each object is a thin shell: storage and the runtime's request plumbing here, the rules in
//! `auth-core`. Its protocol (the commands it takes, what it answers) is one set of types beside it,
//! encoded by its client and decoded by the object, so the two sides cannot drift apart. The Worker
//! crate re-exports every class so the bundle exports it (see `wrangler.toml`).

mod rate_limiter;
mod tenant_sessions;

use serde::de::DeserializeOwned;
use worker::wasm_bindgen_futures::JsFuture;
use worker::{Response, ResponseBody, Result};

pub use rate_limiter::client::RateLimiterClient;
pub use rate_limiter::RateLimiter;

pub use tenant_sessions::client::TenantSessionsClient;
pub use tenant_sessions::protocol::{Command, ListedSession, SessionList, SessionStatus};
pub use tenant_sessions::TenantSessions;

/// An object's JSON answer, its body read by the runtime in one call (`new Response(body).text()`).
/// `worker::Response::json` reads a fetched body chunk by chunk through a stream reader, with a
/// crossing and a future per step: in a profile of the benchmark's limits bundle (2026-12-01) that
/// read was 6.7 % of the Worker's busy time, for bodies of a few dozen bytes.
async fn json_answer<T: DeserializeOwned>(response: &Response) -> Result<T> {
    let text = match response.body() {
        ResponseBody::Stream(stream) => {
            let whole = worker::web_sys::Response::new_with_opt_readable_stream(Some(stream))?;
            JsFuture::from(whole.text()?)
                .await?
                .as_string()
                .unwrap_or_default()
        }
        ResponseBody::Body(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        ResponseBody::Empty => String::new(),
    };
    Ok(serde_json::from_str(&text)?)
}
