// The runtime half of edge-worker/src/webcrypto.rs: one signature check started in one crossing of
// the wasm boundary, where doing it from Rust costs a crossing for each copied array and the call.

/**
 * Starts `subtle.verify` over `signingInput` with `signature` (both views into the wasm memory,
 * copied here: WebCrypto reads a view into a large buffer far more slowly than an array of its own).
 */
export function startVerify(subtle, algorithm, key, signature, signingInput) {
  return subtle.verify(algorithm, key, signature.slice(), signingInput.slice());
}
