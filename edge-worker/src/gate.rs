//! The per-request pipeline: route policy, bearer token, signature, claims, route requirements,
//! revocation, forward.
//!
//! Every refusal is decided by `auth-core` and answered by `respond`; a client's token never causes a
//! 5xx. Faults on our side (no keys, revocation store down) fail closed with a 503.

use crate::config::EdgeConfig;
use crate::revocation;
use crate::{forward, jwks, respond, token_cache, webcrypto};
use auth_core::policy::{Access, Cors, Denial, RequestFacts, Revocation, RouteDecision};
use auth_core::sessions::{revocation_check, RevocationCheck};
use auth_core::verify::{select_issuer, select_key};
use auth_core::{Rejection, UnverifiedToken, VerifiedClaims};
use std::rc::Rc;
use worker::{Context, Env, Method, Request, Response, Result};

pub async fn handle(
    req: Request,
    env: &Env,
    ctx: &Context,
    config: &EdgeConfig,
) -> Result<Response> {
    let url = req.url()?;
    let host = req.headers().get("host")?.unwrap_or_default();
    let origin = req.headers().get("origin")?;
    if req.method() == Method::Options {
        if let (Some(origin), Some(asked)) =
            (&origin, req.headers().get("access-control-request-method")?)
        {
            return preflight(&req, config, &host, url.path(), origin, &asked);
        }
    }
    let method = req.method().to_string();
    let route = match config.policy.route(RequestFacts {
        method: &method,
        host: &host,
        path: url.path(),
    }) {
        RouteDecision::Matched(m) => m,
        RouteDecision::NoRoute => return respond::denial(&Denial::NoRoute, None),
        RouteDecision::AmbiguousPath => {
            return respond::error(
                400,
                "path_ambiguous",
                "encoded separators and dot segments are refused",
            )
        }
    };
    let cors = origin
        .as_deref()
        .and_then(|o| allowed_cors(route.route.cors.as_ref(), o));
    if route.route.access == Access::Public {
        return forward::send(req, config, None, cors).await;
    }
    let claims = match authenticate(&req, env, ctx, config).await {
        Ok(c) => c,
        Err(r) => {
            worker::console_log!(
                "edge.refused policy.route={} reason={}",
                route.route.name,
                r.code()
            );
            return respond::rejection(&r, cors);
        }
    };
    if let Err(denial) = route.authorize(&claims) {
        worker::console_log!(
            "edge.denied policy.route={} reason={}",
            route.route.name,
            denial.code()
        );
        return respond::denial(&denial, cors);
    }
    match check_revocation(env, &claims, route.route.revocation).await {
        Ok(None) => forward::send(req, config, Some(&claims), cors).await,
        Ok(Some(r)) => respond::rejection(&r, cors),
        Err(e) => {
            worker::console_error!(
                "revocation.check_failed policy.route={} error={e}",
                route.route.name
            );
            respond::error(
                503,
                "revocation_unavailable",
                "revocation status could not be checked",
            )
        }
    }
}

/// The CORS rules of a route and the request's origin, when that origin is allowed.
fn allowed_cors<'c>(cors: Option<&'c Cors>, origin: &str) -> Option<(&'c Cors, String)> {
    cors.filter(|c| c.allows_origin(origin))
        .map(|c| (c, origin.to_owned()))
}

/// Answers a CORS preflight from the policy of the route the real request would take. No token is
/// needed (browsers send none on preflights).
fn preflight(
    req: &Request,
    config: &EdgeConfig,
    host: &str,
    path: &str,
    origin: &str,
    asked: &str,
) -> Result<Response> {
    let route = match config.policy.route(RequestFacts {
        method: asked,
        host,
        path,
    }) {
        RouteDecision::Matched(m) => m,
        _ => {
            return respond::error(
                403,
                "cors_denied",
                "no route allows this cross-origin request",
            )
        }
    };
    let Some(cors) = &route.route.cors else {
        return respond::error(
            403,
            "cors_denied",
            "this route does not allow cross-origin requests",
        );
    };
    let asked_headers = req
        .headers()
        .get("access-control-request-headers")?
        .unwrap_or_default();
    match cors.preflight(origin, asked, &asked_headers) {
        Ok(headers) => {
            let response = Response::empty()?.with_status(204);
            for (name, value) in headers {
                response.headers().set(name, &value)?;
            }
            Ok(response)
        }
        Err(reason) => respond::error(403, "cors_denied", reason),
    }
}

/// Verifies the bearer token: from the verified-token cache when the same token was verified
/// recently by a key still current, else with the signature checked through WebCrypto.
async fn authenticate(
    req: &Request,
    env: &Env,
    ctx: &Context,
    config: &EdgeConfig,
) -> std::result::Result<Rc<VerifiedClaims>, Rejection> {
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .ok_or(Rejection::Missing)?;
    let raw = bearer(&header)?;
    if raw.len() > config.max_token_bytes {
        return Err(Rejection::TooLarge);
    }
    let cache_key = (config.token_cache_entries > 0).then(|| token_cache::key_of(raw));
    if let Some(key) = &cache_key {
        // A hit skips parsing and the signature check; the verifying key must still be current.
        if let Some((claims, kid)) = token_cache::get(key, crate::now_unix()) {
            if let Some(policy) = config.expectations.issuer(claims.issuer()) {
                if jwks::current(policy, env, ctx).await?.find(&kid).is_some() {
                    return Ok(claims);
                }
            }
            token_cache::remove(key);
        }
    }
    let token = UnverifiedToken::parse(raw, config.max_token_bytes)?;
    let policy = select_issuer(&token, &config.expectations)?;
    let mut keys = jwks::current(policy, env, ctx).await?;
    if let (Err(Rejection::KeyUnknown), Some(kid)) = (select_key(&token, &keys), token.kid()) {
        keys = jwks::with_kid(policy, env, kid).await?;
    }
    let key = select_key(&token, &keys)?;
    let kid = key.kid().unwrap_or_default().to_owned();
    let job = token.signature_job(policy, key)?;
    let valid = webcrypto::check_signature(&job).await.map_err(|e| {
        worker::console_error!("webcrypto.failed error={e:?}");
        Rejection::SignatureInvalid
    })?;
    let proof = job.conclude(valid)?;
    let claims = Rc::new(token.finish(proof, policy, crate::now_unix())?);
    if let Some(key) = cache_key {
        token_cache::put(key, claims.clone(), &kid, config.token_cache_entries);
    }
    Ok(claims)
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750 §2.1).
fn bearer(header: &str) -> std::result::Result<&str, Rejection> {
    let (scheme, token) = header
        .split_once(' ')
        .ok_or(Rejection::Malformed("authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::Malformed("authorization scheme is not Bearer"));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Rejection::Missing);
    }
    Ok(token)
}

/// `Ok(Some(_))` when the token must be refused; `Err` when a store could not answer.
async fn check_revocation(
    env: &Env,
    claims: &VerifiedClaims,
    mode: Revocation,
) -> Result<Option<Rejection>> {
    let (session, ask_ledger) = match revocation_check(mode, claims) {
        Err(r) => return Ok(Some(r)),
        Ok(RevocationCheck::Nothing) => return Ok(None),
        Ok(RevocationCheck::DenyList(s)) => (s, false),
        Ok(RevocationCheck::DenyListAndLedger(s)) => (s, true),
    };
    if revocation::denied_in_kv(env, &session).await? {
        return Ok(Some(Rejection::Revoked));
    }
    if ask_ledger && revocation::revoked_in_object(env, &session).await? {
        return Ok(Some(Rejection::Revoked));
    }
    Ok(None)
}
