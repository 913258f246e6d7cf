//! Waiting on a runtime promise from the request path.

use js_sys::Promise;
use wasm_bindgen::JsValue;

/// The outcome of a promise that settles quickly (a signature check, a KV read, a Durable Object
/// call): a plain `JsFuture`, driven by `wasm_bindgen_futures` like every other await; with the
/// custom executor built in (`eager-executor`, a benchmark device), chained by it instead.
pub async fn settled(promise: Promise) -> Result<JsValue, JsValue> {
    #[cfg(feature = "eager-executor")]
    return crate::eager::settled(promise).await;
    #[cfg(not(feature = "eager-executor"))]
    wasm_bindgen_futures::JsFuture::from(promise).await
}
