//! The per-request pipeline: route policy, bearer token, signature, claims, route requirements,
//! revocation, forward.
//!
//! Every refusal is decided by `auth-core` and answered by `respond`; a client's token never causes a
//! 5xx. Faults on our side (no keys, revocation store down) fail closed with a 503.

use crate::config::EdgeConfig;
use crate::eager;
use crate::incoming::Incoming;
use crate::respond::IntoJs as _;
use crate::revocation;
use crate::{forward, jwks, respond, token_cache, webcrypto};
use auth_core::policy::{Access, Cors, Denial, RequestFacts, Revocation, RouteDecision};
use auth_core::sessions::{revocation_check, RevocationCheck};
use auth_core::verify::{select_issuer, select_key};
use auth_core::{identity, Rejection, UnverifiedToken, VerifiedClaims};
use js_sys::Array;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use worker::{Context, Env, Result};

pub async fn handle(
    req: Incoming,
    env: &Env,
    ctx: &Context,
    config: &EdgeConfig,
) -> std::result::Result<JsValue, JsValue> {
    let host = req.host().unwrap_or_default();
    let origin = req.origin();
    if req.method() == "OPTIONS" {
        if let (Some(origin), Some(asked)) = (origin, req.header("access-control-request-method")) {
            return Ok(preflight(&req, config, host, origin, &asked)?.into_js());
        }
    }
    let route = match config.policy.route(RequestFacts {
        method: req.method(),
        host,
        path: req.path(),
    }) {
        RouteDecision::Matched(m) => m,
        RouteDecision::NoRoute => return Ok(respond::denial(&Denial::NoRoute, None)?.into_js()),
        RouteDecision::AmbiguousPath => {
            return Ok(respond::error(
                400,
                "path_ambiguous",
                "encoded separators and dot segments are refused",
            )?
            .into_js())
        }
    };
    let cors = origin.and_then(|o| allowed_cors(route.route.cors.as_ref(), o));
    if route.route.access == Access::Public {
        return forward::send(&req, config, &[], cors).await;
    }
    let (claims, prefetched) = match authenticate(&req, env, ctx, config).await {
        Ok(c) => c,
        Err(r) => return refused(route.route.name.as_str(), &r, cors),
    };
    if let Err(denial) = route.authorize(&claims) {
        worker::console_log!(
            "edge.denied policy.route={} reason={}",
            route.route.name,
            denial.code()
        );
        return Ok(respond::denial(&denial, cors)?.into_js());
    }
    let identity = match identity::headers_for(&claims) {
        Ok(headers) => headers,
        Err(r) => return refused(route.route.name.as_str(), &r, cors),
    };
    match check_revocation(
        env,
        config,
        &claims,
        route.route.revocation,
        prefetched,
        req.now(),
    )
    .await
    {
        Ok(None) => forward::send(&req, config, &identity, cors).await,
        Ok(Some(r)) => Ok(respond::rejection(&r, cors)?.into_js()),
        Err(e) => {
            worker::console_error!(
                "revocation.check_failed policy.route={} error={e}",
                route.route.name
            );
            Ok(respond::error(
                503,
                "revocation_unavailable",
                "revocation status could not be checked",
            )?
            .into_js())
        }
    }
}

/// A refused token, logged with its route and reason code (never the token).
fn refused(
    route: &str,
    rejection: &Rejection,
    cors: Option<(&Cors, String)>,
) -> std::result::Result<JsValue, JsValue> {
    worker::console_log!(
        "edge.refused policy.route={route} reason={}",
        rejection.code()
    );
    Ok(respond::rejection(rejection, cors)?.into_js())
}

/// The CORS rules of a route and the request's origin, when that origin is allowed.
fn allowed_cors<'c>(cors: Option<&'c Cors>, origin: &str) -> Option<(&'c Cors, String)> {
    cors.filter(|c| c.allows_origin(origin))
        .map(|c| (c, origin.to_owned()))
}

/// Answers a CORS preflight from the policy of the route the real request would take. No token is
/// needed (browsers send none on preflights).
fn preflight(
    req: &Incoming,
    config: &EdgeConfig,
    host: &str,
    origin: &str,
    asked: &str,
) -> Result<worker::Response> {
    let route = match config.policy.route(RequestFacts {
        method: asked,
        host,
        path: req.path(),
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
        .header("access-control-request-headers")
        .unwrap_or_default();
    match cors.preflight(origin, asked, &asked_headers) {
        Ok(headers) => {
            let response = worker::Response::empty()?.with_status(204);
            for (name, value) in headers {
                response.headers().set(name, &value)?;
            }
            Ok(response)
        }
        Err(reason) => respond::error(403, "cors_denied", reason),
    }
}

/// Verifies the bearer token: from the verified-token cache when the same token was verified
/// recently by a key still current, else with the signature checked through WebCrypto. While
/// WebCrypto works, the session's KV deny entry is read (a [`revocation::Prefetch`]), so that the
/// request waits once for both.
async fn authenticate(
    req: &Incoming,
    env: &Env,
    ctx: &Context,
    config: &EdgeConfig,
) -> std::result::Result<(Rc<VerifiedClaims>, Option<revocation::Prefetched>), Rejection> {
    let raw = bearer(req.authorization().ok_or(Rejection::Missing)?)?;
    if raw.len() > config.max_token_bytes {
        return Err(Rejection::TooLarge);
    }
    let cache_key = (config.token_cache_entries > 0).then(|| token_cache::key_of(raw));
    if let Some(key) = &cache_key {
        // A hit skips parsing and the signature check; the verifying key must still be current.
        if let Some((claims, kid)) = token_cache::get(key, req.now()) {
            if let Some(policy) = config.expectations.issuer(claims.issuer()) {
                if jwks::current(policy, env, ctx).await?.find(&kid).is_some() {
                    return Ok((claims, None));
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
    let prefetch = token
        .session_hint()
        .and_then(|s| revocation::prefetch(env, &s, config.revocation_cache_secs, req.now()));
    let (valid, prefetched) = check_signature(&job, prefetch).await.map_err(|e| {
        worker::console_error!("webcrypto.failed error={}", worker::Error::from(e));
        Rejection::SignatureInvalid
    })?;
    let proof = job.conclude(valid)?;
    let claims = Rc::new(token.finish(proof, policy, req.now())?);
    if let Some(key) = cache_key {
        token_cache::put(key, claims.clone(), &kid, config.token_cache_entries);
    }
    Ok((claims, prefetched))
}

/// WebCrypto's verdict, and the prefetch's answer when there is one, awaited together.
async fn check_signature(
    job: &auth_core::SignatureJob<'_, '_>,
    prefetch: Option<revocation::Prefetch>,
) -> std::result::Result<(bool, Option<revocation::Prefetched>), JsValue> {
    let started = webcrypto::start_check(job, prefetch.as_ref().map(|p| &p.promise)).await?;
    let settled = eager::settled(started).await?;
    let Some(prefetch) = prefetch else {
        return Ok((settled.as_bool() == Some(true), None));
    };
    let both: Array = settled.unchecked_into();
    Ok((
        both.get(0).as_bool() == Some(true),
        Some(prefetch.answered(&both.get(1))),
    ))
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
    config: &EdgeConfig,
    claims: &VerifiedClaims,
    mode: Revocation,
    prefetched: Option<revocation::Prefetched>,
    now: i64,
) -> Result<Option<Rejection>> {
    let (session, ask_ledger) = match revocation_check(mode, claims) {
        Err(r) => return Ok(Some(r)),
        Ok(RevocationCheck::Nothing) => return Ok(None),
        Ok(RevocationCheck::DenyList(s)) => (s, false),
        Ok(RevocationCheck::DenyListAndLedger(s)) => (s, true),
    };
    if revocation::denied_in_kv(env, &session, config.revocation_cache_secs, prefetched, now)
        .await?
    {
        return Ok(Some(Rejection::Revoked));
    }
    if ask_ledger && revocation::revoked_in_object(env, &session).await? {
        return Ok(Some(Rejection::Revoked));
    }
    Ok(None)
}
