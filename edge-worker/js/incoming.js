// The runtime half of edge-worker/src/incoming.rs: what the hot path reads from a request, in one
// crossing of the wasm boundary (each crossing copies its strings, and each header name would be
// copied too), as UTF-8 bytes (one native copy into the wasm memory; a string is copied there one
// character at a time).

const encoder = new TextEncoder();

/**
 * `method`, `url`, then the `host`, `origin` and `authorization` headers, one per line. A header
 * present is prefixed with `:` (its value may be empty); an absent one is an empty line. Neither a
 * serialized URL nor a header value can hold a line break.
 */
export function readRequest(request) {
  const headers = request.headers;
  return encoder.encode(`${request.method}\n${request.url}\n${field(headers.get("host"))}\n${field(
    headers.get("origin"),
  )}\n${field(headers.get("authorization"))}`);
}

function field(value) {
  return value === null ? "" : `:${value}`;
}
