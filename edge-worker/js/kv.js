// The runtime half of the revocation prefetch in edge-worker/src/revocation.rs: the read and its
// fallback in one crossing of the wasm boundary.

/** `kv.get(key)`, resolving to `undefined` instead of rejecting when the read fails. */
export function readOrUndefined(kv, key) {
  return kv.get(key).catch(failed);
}

function failed() {
  return undefined;
}
