// The Worker's module around wasm-bindgen's bindings (./index.js): the fetch handler and one class
// per Durable Object class wrangler.toml binds. `cargo xtask build-edge` writes this file next to
// the bindings, appends one export line per such class, and bundles it with them (and the crate's
// JS snippets) into build/index.js; edge-worker/entry.mjs re-exports them.
//
// A Rust panic aborts the wasm instance: its memory may be half-written, so nothing may run on it
// again. Before every call into Rust (the fetch handler, a Durable Object's construction or method),
// `instanceId()` replaces an aborted instance with a fresh one, and a Durable Object whose Rust
// object lives in an older instance gets a new one (its storage is the runtime's and survives; only
// what the object kept in memory is rebuilt, as on a cold start).
import * as wasm from "./index.js";

// The `worker` crate's record of instantiations: `instanceId` grows by one each time an instance
// starts, whoever rebuilt it; its panic hook sets `criticalError`.
const initState = wasm.__worker_init_state();
// A trap (panic = abort, or any other) seen by a call below.
let trapped = false;

function noteTrap(e) {
  if (e instanceof WebAssembly.RuntimeError) trapped = true;
  return e;
}

// A trap can also surface outside any call below: in a future polled from a promise callback.
if (typeof addEventListener === "function") {
  addEventListener("error", (event) => noteTrap(event.error));
  addEventListener("unhandledrejection", (event) => noteTrap(event.reason));
}

/// The id of a usable instance, after replacing an aborted one.
function instanceId() {
  if (trapped || initState.criticalError) {
    console.error("edge.reinstantiate: the wasm instance aborted; starting a fresh one");
    trapped = false;
    initState.criticalError = false;
    wasm.__wbg_reset_state();
  }
  // Itself a call into the bindings: it also applies a re-initialisation that wasm-bindgen's abort
  // handler scheduled after a trap it saw first.
  return wasm.__worker_init_state().instanceId;
}

/// Runs `call`, noting a trap in it, synchronous or in the promise it returns.
function guarded(call) {
  let result;
  try {
    result = call();
  } catch (e) {
    throw noteTrap(e);
  }
  if (result instanceof Promise) {
    return result.then(undefined, (e) => {
      throw noteTrap(e);
    });
  }
  return result;
}

export default {
  fetch(request, env, ctx) {
    // A trap seen here replaces the instance now; otherwise `wasm.fetch`, itself a call into the
    // bindings, applies a re-initialisation wasm-bindgen scheduled (no `instanceId()` call per request).
    if (trapped || initState.criticalError) instanceId();
    return guarded(() => wasm.fetch(request, env, ctx));
  },
};

const rust = Symbol("rust object");

/// A Durable Object class in front of the Rust one: the runtime keeps an object alive across
/// requests, so the Rust object inside is rebuilt (same constructor arguments) whenever the instance
/// it lives in has been replaced.
function durableObject(Rust) {
  class DurableObject {
    constructor(...args) {
      this[rust] = { args, object: null, instance: -1 };
      current(this);
    }
  }
  function current(wrapper) {
    const inner = wrapper[rust];
    const id = instanceId();
    if (inner.object === null || inner.instance !== id) {
      inner.object = guarded(() => new Rust(...inner.args));
      inner.instance = id;
    }
    return inner.object;
  }
  for (const name of Object.getOwnPropertyNames(Rust.prototype)) {
    const method = Object.getOwnPropertyDescriptor(Rust.prototype, name).value;
    if (name === "constructor" || name === "free" || name.startsWith("__") || typeof method !== "function") {
      continue;
    }
    DurableObject.prototype[name] = function (...args) {
      const object = current(this);
      return guarded(() => method.apply(object, args));
    };
  }
  Object.defineProperty(DurableObject, "name", { value: Rust.name });
  return DurableObject;
}
