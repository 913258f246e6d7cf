// The Worker's entry module (wrangler.toml `main`): the handler workerd calls for every request,
// and the Durable Object classes wrangler.toml binds.
//
// worker-build's bundle (build/index.js) exports the fetch handler on a class that workerd would
// construct for every request, behind Proxies that check on every call whether the wasm instance
// must be rebuilt after a panic. The glue inside the bundle rebuilds it anyway, on the first call
// after a trap (wasm-bindgen's reset-state function, scheduled by the `worker` crate's abort
// handler; `cargo xtask conformance` checks that a panic fails only its own request), so the handler
// is called here from a plain object: no instance and no Proxy per request.
import Entrypoint from "./build/index.js";

const handleFetch = Entrypoint.prototype.fetch;

export default {
  fetch(request, env, ctx) {
    return handleFetch.call({ env, ctx }, request);
  },
};

export { RateLimiter, TenantSessions } from "./build/index.js";
