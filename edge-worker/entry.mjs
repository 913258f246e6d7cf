// The Worker's entry module (wrangler.toml `main`): the handler workerd calls for every request, and
// the Durable Object classes wrangler.toml binds.
//
// The bundle (build/index.js, built by `cargo xtask build-edge`: xtask/src/edge.rs) holds
// wasm-bindgen's bindings and the module around them (xtask/src/edge/shim.js): a plain fetch handler
// and one class per Rust Durable Object class, each of which starts a fresh wasm instance after a
// Rust panic (`cargo xtask conformance` checks it, on the fetch handler and on a Durable Object).
export { default } from "./build/index.js";

// Every class bound in wrangler.toml (tests/system/bundle.rs checks it).
export { RateLimiter, TenantSessions } from "./build/index.js";
