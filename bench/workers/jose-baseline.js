// The baseline: the same job as the edge Worker written the usual way, with `jose` (WebCrypto).
// It reads the same AUTH_ISSUERS var, fetches the same JWKS over the network (createRemoteJWKSet,
// cached for the hour the JWKS allows), checks signature, algorithm, `typ`, issuer, audience, exp
// and nbf with the same leeway, requires `sub`, reads the same three revocation levels from KV
// (the session's deny entry, the user's and the tenant's not-before, in one bulk read), and
// forwards like ours. It trusts one issuer (the first), which is all the benchmark configures.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { forward, trimmedUpstream } from "./forward.js";

let config;

function configure(env) {
  const [policy] = JSON.parse(env.AUTH_ISSUERS).issuers;
  return {
    issuer: policy.issuer,
    keys: createRemoteJWKSet(new URL(policy.jwks_uri), { cacheMaxAge: 3_600_000 }),
    options: {
      issuer: policy.issuer,
      audience: policy.audiences,
      algorithms: policy.algorithms,
      typ: policy.token_type,
      clockTolerance: policy.leeway_secs,
      requiredClaims: ["exp", "sub"],
    },
    upstream: trimmedUpstream(env),
  };
}

function refuse(status, error, message) {
  return Response.json({ error, message }, { status });
}

function bearer(request) {
  const header = request.headers.get("authorization");
  if (!header) return null;
  const space = header.indexOf(" ");
  if (space < 0 || header.slice(0, space).toLowerCase() !== "bearer") return null;
  return header.slice(space + 1).trim() || null;
}

/** As `auth_core::sessions::Standing::refuses`: a deny entry, or issued before a not-before. */
function revoked([deny, userNotBefore, tenantNotBefore], iat) {
  if (deny !== null) return true;
  if (userNotBefore === null && tenantNotBefore === null) return false;
  const notBefore = Math.max(Number(userNotBefore ?? -Infinity), Number(tenantNotBefore ?? -Infinity));
  return !(typeof iat === "number" && iat >= notBefore);
}

export default {
  async fetch(request, env) {
    config ??= configure(env);
    const { pathname } = new URL(request.url);
    if (pathname.startsWith("/public/")) return forward(request, config.upstream, null);
    if (!pathname.startsWith("/api/")) return refuse(403, "route_denied", "no policy allows this route");
    const token = bearer(request);
    if (!token) return refuse(401, "token_missing", "a bearer token is required");
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(token, config.keys, config.options));
    } catch {
      return refuse(401, "token_invalid", "the token was refused");
    }
    if (typeof claims.sid === "string") {
      const tenant = typeof claims.tid === "string" ? claims.tid : claims.iss;
      let standing;
      try {
        // The edge's three revocation levels in one bulk read, keys as auth_core::sessions lays
        // them out (the tenant's length in bytes, which `.length` is for the benchmark's ASCII
        // tenant): the session's deny entry, the user's and the tenant's not-before.
        const keys = [
          `deny:${tenant.length}:${tenant}:${claims.sid}`,
          `nbf:user:${tenant.length}:${tenant}:${claims.sub}`,
          `nbf:tenant:${tenant}`,
        ];
        const found = await env.REVOCATIONS.get(keys);
        standing = keys.map((key) => found.get(key) ?? null);
      } catch (e) {
        console.error(`revocation.check_failed error=${e}`);
        return refuse(503, "revocation_unavailable", "revocation status could not be checked");
      }
      if (revoked(standing, claims.iat)) {
        return refuse(401, "token_revoked", "the session was revoked");
      }
    }
    const identity = [
      ["x-auth-subject", claims.sub],
      ["x-auth-issuer", claims.iss],
    ];
    if (typeof claims.tid === "string") identity.push(["x-auth-tenant", claims.tid]);
    if (typeof claims.sid === "string") identity.push(["x-auth-session", claims.sid]);
    return forward(request, config.upstream, identity);
  },
};
