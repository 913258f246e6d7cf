//! Promise plumbing for the hot path.

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(extends = Promise)]
    type Chainable;
    #[wasm_bindgen(method, js_name = then)]
    fn then_with(this: &Chainable, fulfilled: &Function, rejected: &Function) -> Promise;

    #[wasm_bindgen(extends = Function)]
    type Bindable;
    #[wasm_bindgen(method, js_name = bind)]
    fn bind_with(this: &Bindable, this_arg: &JsValue, first: u32) -> Function;
}

/// `promise.then(fulfilled, rejected)`, the handlers' results becoming the new promise's value
/// (js-sys's `then2` takes handlers returning nothing). Pass handlers made once per isolate: a
/// closure made per request costs a JS function and its bookkeeping every time.
pub fn then(promise: &Promise, fulfilled: &Function, rejected: &Function) -> Promise {
    promise
        .unchecked_ref::<Chainable>()
        .then_with(fulfilled, rejected)
}

/// `f.bind(null, first)`: a per-request handler made from a per-isolate one, natively.
pub fn bind(f: &Function, first: u32) -> Function {
    f.unchecked_ref::<Bindable>()
        .bind_with(&JsValue::NULL, first)
}
