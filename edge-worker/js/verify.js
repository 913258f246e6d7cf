// The runtime half of edge-worker/src/webcrypto.rs: one signature check started in one crossing of
// the wasm boundary, where doing it from Rust costs a crossing for each copied array, the call, and
// the array and `Promise.all` that join it with the read made alongside.

/**
 * Starts `subtle.verify` over `signingInput` with `signature` (both views into the wasm memory,
 * copied here: WebCrypto reads a view into a large buffer far more slowly than an array of its own).
 * With `alongside` (a promise that never rejects), answers the promise of `[verdict, its value]`.
 */
export function startVerify(subtle, algorithm, key, signature, signingInput, alongside) {
  const verdict = subtle.verify(algorithm, key, signature.slice(), signingInput.slice());
  return alongside === undefined ? verdict : Promise.all([verdict, alongside]);
}
