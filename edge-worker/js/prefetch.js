// The runtime half of edge-worker/src/prefetch.rs, a benchmark device (feature
// `unverified-prefetch`): the deny-entry read and the signature check started together, one crossing
// of the wasm boundary each.

/** `kv.get(key)`, resolving to `undefined` instead of rejecting when the read fails. */
export function readOrUndefined(kv, key) {
  return kv.get(key).catch(failed);
}

function failed() {
  return undefined;
}

/**
 * `subtle.verify` over copies of `signature` and `signingInput` (views into the wasm memory), joined
 * with `alongside` (a promise that never rejects): the promise of `[verdict, its value]`.
 */
export function startVerifyAlongside(subtle, algorithm, key, signature, signingInput, alongside) {
  const verdict = subtle.verify(algorithm, key, signature.slice(), signingInput.slice());
  return Promise.all([verdict, alongside]);
}
