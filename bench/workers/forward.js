// Forwarding as the edge Worker does it (edge-worker/js/forward.js, driven by src/forward.rs), so
// that the baseline and the pass-through pay for the same forward as ours: drop the client's
// Authorization, hop-by-hop and x-auth-* headers, add x-forwarded-host/-proto and the verified
// identity, fetch the upstream over the network. The identity is not signed: the benchmark sets no
// UPSTREAM_SIGNING_SECRET.

const NOT_FORWARDED = new Set([
  "authorization",
  "host",
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** `identity`: `[name, value]` pairs to add, or null. */
export async function forward(request, upstream, identity) {
  const url = new URL(request.url);
  // Copied by the runtime in one call; only the headers to drop are touched.
  const headers = new Headers(request.headers);
  for (const name of [...headers.keys()]) {
    if (name.startsWith("x-auth-") || NOT_FORWARDED.has(name)) headers.delete(name);
  }
  const host = request.headers.get("host");
  if (host) headers.set("x-forwarded-host", host);
  headers.set("x-forwarded-proto", url.protocol.slice(0, -1));
  if (identity) {
    for (const [name, value] of identity) headers.set(name, value);
  }
  // Redirects go back to the client, as a proxy's must.
  const init = { method: request.method, headers, redirect: "manual" };
  if (request.body) init.body = request.body;
  try {
    return await fetch(upstream + url.pathname + url.search, init);
  } catch (e) {
    console.error(`upstream.unavailable error=${e}`);
    return Response.json(
      { error: "upstream_unavailable", message: "the upstream could not be reached" },
      { status: 502 },
    );
  }
}

export function trimmedUpstream(env) {
  return String(env.UPSTREAM_URL).replace(/\/+$/, "");
}
