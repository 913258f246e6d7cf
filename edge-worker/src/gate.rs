//! The per-request pipeline: route policy, bearer token, signature, claims, revocation, forward.
//!
//! Every refusal is decided by `auth-core` and answered by `respond`; a client's token never causes a
//! 5xx. Faults on our side (no keys, revocation store down) fail closed with a 503.

use crate::config::EdgeConfig;
use crate::revocation::{self, SessionRef};
use crate::{forward, jwks, respond, webcrypto};
use auth_core::policy::{Access, Revocation, RouteDecision};
use auth_core::verify::{select_issuer, select_key};
use auth_core::{Rejection, UnverifiedToken, VerifiedClaims};
use worker::{Env, Request, Response, Result};

pub async fn handle(req: Request, env: &Env, config: &EdgeConfig, now: i64) -> Result<Response> {
    let url = req.url()?;
    let method = req.method().to_string();
    let (route, access, revocation_mode) = match config.policy.decide(&method, url.path()) {
        RouteDecision::Matched {
            route,
            access,
            revocation,
        } => (route.to_owned(), access, revocation),
        RouteDecision::NoRoute => {
            return respond::error(403, "route_denied", "no policy allows this route")
        }
        RouteDecision::AmbiguousPath => {
            return respond::error(
                400,
                "path_ambiguous",
                "encoded separators and dot segments are refused",
            )
        }
    };
    if access == Access::Public {
        return forward::send(req, config, None).await;
    }
    let claims = match authenticate(&req, config, now).await {
        Ok(c) => c,
        Err(r) => {
            worker::console_log!("edge.refused policy.route={route} reason={}", r.code());
            return respond::rejection(&r);
        }
    };
    match check_revocation(env, &claims, revocation_mode).await {
        Ok(None) => forward::send(req, config, Some(&claims)).await,
        Ok(Some(r)) => respond::rejection(&r),
        Err(e) => {
            worker::console_error!("revocation.check_failed policy.route={route} error={e}");
            respond::error(
                503,
                "revocation_unavailable",
                "revocation status could not be checked",
            )
        }
    }
}

/// Verifies the bearer token, with the signature checked through WebCrypto.
async fn authenticate(
    req: &Request,
    config: &EdgeConfig,
    now: i64,
) -> std::result::Result<VerifiedClaims, Rejection> {
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .ok_or(Rejection::Missing)?;
    let raw = bearer(&header)?;
    let token = UnverifiedToken::parse(raw, config.max_token_bytes)?;
    let policy = select_issuer(&token, &config.expectations)?;
    let mut keys = jwks::current(policy, now).await?;
    if matches!(select_key(&token, &keys), Err(Rejection::KeyUnknown)) {
        keys = jwks::refresh_for_unknown_kid(policy, now).await?;
    }
    let key = select_key(&token, &keys)?;
    let job = token.signature_job(policy, key)?;
    let valid = webcrypto::check_signature(&job).await.map_err(|e| {
        worker::console_error!("webcrypto.failed error={e:?}");
        Rejection::SignatureInvalid
    })?;
    let proof = job.conclude(valid)?;
    token.finish(proof, policy, now)
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

/// `Ok(Some(_))` when the session is revoked; `Err` when the store could not answer.
async fn check_revocation(
    env: &Env,
    claims: &VerifiedClaims,
    mode: Revocation,
) -> Result<Option<Rejection>> {
    let Some(session) = SessionRef::of(claims) else {
        // A token without a session cannot be revoked before it expires; strict routes refuse it.
        return Ok(match mode {
            Revocation::Strict => Some(Rejection::ClaimsInvalid(
                "strict revocation needs a sid claim",
            )),
            Revocation::Eventual => None,
        });
    };
    if revocation::denied_in_kv(env, &session).await? {
        return Ok(Some(Rejection::Revoked));
    }
    if mode == Revocation::Strict && revocation::revoked_in_object(env, &session).await? {
        return Ok(Some(Rejection::Revoked));
    }
    Ok(None)
}
