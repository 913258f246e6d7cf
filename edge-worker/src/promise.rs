//! Promise plumbing for the hot path.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsCast;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(extends = Promise)]
    type Catchable;
    #[wasm_bindgen(method, js_name = catch)]
    fn catch_with(this: &Catchable, handler: &Function) -> Promise;
}

/// `promise.catch(handler)`, where what the handler returns becomes the promise's value (js-sys's
/// `catch` takes a handler returning nothing). Pass a handler made once per isolate: a closure made
/// per request costs a JS function and its bookkeeping every time.
pub fn recover(promise: &Promise, handler: &Function) -> Promise {
    promise.unchecked_ref::<Catchable>().catch_with(handler)
}
