// A Workers KV namespace for plain workerd, which has no store of its own: a `kvNamespace` binding
// turns `get`/`put`/`delete` into HTTP requests to this service (`GET /<key>?urlencoded=true`,
// 404 for a missing key; a bulk `get([...])` is `POST /bulk/get` with `{"keys": [...]}`, answered
// with an object of key to value or null). Values live in memory for the life of the process. SEED (JSON object) is
// loaded first; the harness seeds one deny entry so its smoke check can prove the lookup is real.

const store = new Map();
let seeded = false;

function keyOf(url) {
  const raw = url.pathname.slice(1);
  return url.searchParams.get("urlencoded") === "true" ? decodeURIComponent(raw) : raw;
}

export default {
  async fetch(request, env) {
    if (!seeded) {
      for (const [key, value] of Object.entries(JSON.parse(env.SEED ?? "{}"))) {
        store.set(key, { value, expiresAt: Infinity });
      }
      seeded = true;
    }
    const url = new URL(request.url);
    if (request.method === "POST" && url.pathname.endsWith("/bulk/get")) {
      const { keys } = await request.json();
      const values = {};
      for (const key of keys) {
        const entry = store.get(key);
        values[key] =
          entry === undefined || entry.expiresAt <= Date.now() / 1000
            ? null
            : typeof entry.value === "string"
              ? entry.value
              : new TextDecoder().decode(entry.value);
      }
      return Response.json(values);
    }
    const key = keyOf(url);
    switch (request.method) {
      case "GET": {
        const entry = store.get(key);
        if (entry === undefined || entry.expiresAt <= Date.now() / 1000) {
          return new Response("Not Found", { status: 404 });
        }
        return new Response(entry.value);
      }
      case "PUT": {
        const ttl = Number(url.searchParams.get("expiration_ttl"));
        const at = Number(url.searchParams.get("expiration"));
        const expiresAt = ttl > 0 ? Date.now() / 1000 + ttl : at > 0 ? at : Infinity;
        store.set(key, { value: await request.arrayBuffer(), expiresAt });
        return new Response(null, { status: 200 });
      }
      case "DELETE":
        store.delete(key);
        return new Response(null, { status: 200 });
      default:
        return new Response("Method Not Allowed", { status: 405 });
    }
  },
};
