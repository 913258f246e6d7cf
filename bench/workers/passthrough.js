// The no-auth floor: forwards every request exactly as the edge Worker would, with no token check
// and no identity. Overhead figures are measured against this. Bound to a KV namespace (REVOCATIONS),
// it first reads three keys in one bulk read, as every verifier reads a session's three revocation
// levels: the floor under any verifier that checks revocation.
import { forward, trimmedUpstream } from "./forward.js";

export default {
  async fetch(request, env) {
    const floor = ["deny:bench:floor", "nbf:user:bench:floor", "nbf:tenant:floor"];
    if (env.REVOCATIONS && (await env.REVOCATIONS.get(floor)).get(floor[0]) !== null) {
      return Response.json({ error: "token_revoked" }, { status: 401 });
    }
    return forward(request, trimmedUpstream(env), null);
  },
};
