// The no-auth floor: forwards every request exactly as the edge Worker would, with no token check
// and no identity. Overhead figures are measured against this. Bound to a KV namespace (REVOCATIONS),
// it first looks up one deny entry, as every verifier does: the floor under any verifier that
// checks revocation.
import { forward, trimmedUpstream } from "./forward.js";

export default {
  async fetch(request, env) {
    if (env.REVOCATIONS && (await env.REVOCATIONS.get("deny:bench:floor")) !== null) {
      return Response.json({ error: "token_revoked" }, { status: 401 });
    }
    return forward(request, trimmedUpstream(env), null);
  },
};
