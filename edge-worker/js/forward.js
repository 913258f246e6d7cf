// The runtime half of edge-worker/src/forward.rs. Rust decides what is forwarded; this applies it
// to the runtime's objects in one call across the wasm boundary, where doing it from Rust costs a
// crossing and a string copy per header touched.

/**
 * A forwarder made once per isolate. `notForwarded`: lower-case header names never relayed;
 * `reservedPrefix`: client-sent headers with it are dropped; `onFailure`: turns a failed fetch into
 * the answer.
 */
export function makeForwarder(notForwarded, reservedPrefix, onFailure) {
  const dropped = new Set(notForwarded);
  return {
    /**
     * Fetches `url` with `request`'s method, body and headers, less the dropped ones, plus `set`:
     * header names and values alternating, one per line (header values hold no line breaks).
     * Redirects are handed to the client, not followed. `answer` (same format) is set on the
     * response when not empty (CORS and rate-limit fields): a fetched response's headers are
     * immutable, so it is rebuilt around the same body.
     */
    forward(request, url, set, answer) {
      const headers = new Headers(request.headers);
      for (const name of [...headers.keys()]) {
        if (name.startsWith(reservedPrefix) || dropped.has(name)) headers.delete(name);
      }
      if (set.length > 0) {
        const lines = set.split("\n");
        for (let i = 0; i + 1 < lines.length; i += 2) headers.set(lines[i], lines[i + 1]);
      }
      const init = { method: request.method, headers, redirect: "manual" };
      const body = request.body;
      if (body !== null) init.body = body;
      const answered = fetch(url, init).catch(onFailure);
      if (answer.length === 0) return answered;
      const lines = answer.split("\n");
      return answered.then((response) => {
        const headers = new Headers(response.headers);
        for (let i = 0; i + 1 < lines.length; i += 2) headers.set(lines[i], lines[i + 1]);
        const { status, statusText } = response;
        return new Response(response.body, { status, statusText, headers });
      });
    },
  };
}
