//! The per-request pipeline: route policy, rate limits keyed on the client, bearer token, signature,
//! claims, route requirements, revocation, rate limits keyed on the identity, forward.
//!
//! Every refusal is decided by `auth-core` and answered through [`EdgeError`]; a client's token never
//! causes a 5xx. Faults on our side (no keys, revocation store down) fail closed with a 503.
//!
//! Order matters for cost: nothing the token says is looked up in storage before its signature is
//! verified. Until then a request costs only parsing, the issuer's key set (under the JWKS
//! lifecycle's own rules, `auth_core::key_cache`) and WebCrypto. Rate limits keyed on the client
//! address or headers are checked before all of that (a flood is refused before it costs a
//! signature check); those keyed on the identity after it (a forged token spends nobody's quota).

use crate::error::{AllowedCors, EdgeError};
use crate::incoming::Incoming;
use crate::isolate::Edge;
use crate::token_cache::TokenCache;
use crate::{forward, jwks, key_revocation, ratelimit, revocation};
use auth_core::policy::{
    Access, Denial, KeyFacts, RequestFacts, Revocation, Route, RouteDecision, Stage,
};
use auth_core::ratelimit::Tally;
use auth_core::sessions::{revocation_check, RevocationCheck};
use auth_core::verify::select_key;
use auth_core::{bearer, identity, Rejection, UnverifiedToken, VerifiedClaims};
use std::rc::Rc;
use wasm_bindgen::JsValue;
use worker::Context;

pub async fn handle(req: Incoming, edge: &Rc<Edge>, ctx: &Context) -> JsValue {
    let host = req.host().unwrap_or_default();
    if req.method() == "OPTIONS" {
        if let (Some(origin), Some(asked)) =
            (req.origin(), req.header("access-control-request-method"))
        {
            return preflight(&req, edge, host, origin, &asked)
                .unwrap_or_else(|e| e.respond(None, None));
        }
    }
    let route = match edge.config.policy.route(RequestFacts {
        method: req.method(),
        host,
        path: req.path(),
    }) {
        RouteDecision::Matched(m) => m,
        RouteDecision::NoRoute => return EdgeError::Denied(Denial::NoRoute).respond(None, None),
        RouteDecision::AmbiguousPath => return EdgeError::PathAmbiguous.respond(None, None),
    };
    let cors = AllowedCors::of(route.route.cors.as_ref(), req.origin());
    let name = route.route.name.as_str();
    let answer = async {
        let mut limits = Tally::default();
        LimitedRequest::new(&req, None)
            .check(
                edge,
                ctx,
                route.route,
                Stage::BeforeAuthentication,
                &mut limits,
            )
            .await?;
        if route.route.access == Access::Public {
            return forward::send(edge, &req, &[], cors.as_ref(), &limits.headers());
        }
        let claims = authenticate(&req, edge, ctx).await?;
        route.authorize(&claims)?;
        let identity = identity::headers_for(&claims)?;
        check_revocation(edge, &claims, route.route.revocation, req.now()).await?;
        LimitedRequest::new(&req, Some(&claims))
            .check(
                edge,
                ctx,
                route.route,
                Stage::AfterAuthentication,
                &mut limits,
            )
            .await?;
        forward::send(edge, &req, &identity, cors.as_ref(), &limits.headers())
    };
    answer
        .await
        .unwrap_or_else(|e| e.respond(Some(name), cors.as_ref()))
}

/// What a request's rate-limit keys are made of. Headers (the client address among them) are read
/// only when a limit's key needs them (each read crosses into the runtime).
struct LimitedRequest<'r> {
    req: &'r Incoming,
    claims: Option<&'r VerifiedClaims>,
}

impl<'r> LimitedRequest<'r> {
    fn new(req: &'r Incoming, claims: Option<&'r VerifiedClaims>) -> Self {
        LimitedRequest { req, claims }
    }

    /// The route's limits of `stage` (`ratelimit::check`); nothing at all for a route without any.
    async fn check(
        &self,
        edge: &Rc<Edge>,
        ctx: &Context,
        route: &Route,
        stage: Stage,
        tally: &mut Tally,
    ) -> Result<(), EdgeError> {
        if route.rate_limits.is_empty() {
            return Ok(());
        }
        let header = |name: &str| self.req.header(name);
        let facts = KeyFacts {
            header: &header,
            claims: self.claims,
        };
        ratelimit::check(edge, ctx, route, stage, &facts, tally).await
    }
}

/// Answers a CORS preflight from the policy of the route the real request would take. No token is
/// needed (browsers send none on preflights).
fn preflight(
    req: &Incoming,
    edge: &Edge,
    host: &str,
    origin: &str,
    asked: &str,
) -> Result<JsValue, EdgeError> {
    let route = match edge.config.policy.route(RequestFacts {
        method: asked,
        host,
        path: req.path(),
    }) {
        RouteDecision::Matched(m) => m,
        _ => {
            return Err(EdgeError::CorsDenied(
                "no route allows this cross-origin request",
            ))
        }
    };
    let Some(cors) = &route.route.cors else {
        return Err(EdgeError::CorsDenied(
            "this route does not allow cross-origin requests",
        ));
    };
    let asked_headers = req
        .header("access-control-request-headers")
        .unwrap_or_default();
    let headers = cors
        .preflight(origin, asked, &asked_headers)
        .map_err(EdgeError::CorsDenied)?;
    let internal = |e: JsValue| EdgeError::Internal(format!("preflight: {e:?}"));
    let response_headers = web_sys::Headers::new().map_err(internal)?;
    for (name, value) in headers {
        response_headers.set(name, &value).map_err(internal)?;
    }
    let init = web_sys::ResponseInit::new();
    init.set_status(204);
    init.set_headers(&response_headers);
    Ok(web_sys::Response::new_with_opt_str_and_init(None, &init)
        .map_err(internal)?
        .into())
}

/// Verifies the bearer token: from the verified-token cache when the same token was verified
/// recently by a key still current, else with the signature checked through WebCrypto.
async fn authenticate(
    req: &Incoming,
    edge: &Rc<Edge>,
    ctx: &Context,
) -> Result<Rc<VerifiedClaims>, Rejection> {
    let config = &edge.config;
    let raw = bearer::token(req.authorization())?;
    if raw.len() > config.max_token_bytes {
        return Err(Rejection::TooLarge);
    }
    let cache_key = edge
        .tokens
        .borrow()
        .enabled()
        .then(|| TokenCache::key_of(raw));
    if let Some(key) = &cache_key {
        // A hit skips parsing and the signature check; the verifying key must still be current.
        let hit = edge.tokens.borrow_mut().get(key, req.now());
        if let Some((claims, kid)) = hit {
            if let Ok(policy) = jwks::resolve(edge, claims.issuer(), req.now()) {
                if jwks::current(edge, &policy, ctx)
                    .await?
                    .find(&kid)
                    .is_some()
                    && !key_revocation::revoked(edge, &policy.issuer, &kid, req.now()).await?
                {
                    return Ok(claims);
                }
            }
            edge.tokens.borrow_mut().remove(key);
        }
    }
    let token = UnverifiedToken::parse(raw, config.max_token_bytes)?;
    let iss = token
        .issuer()
        .ok_or(Rejection::ClaimsInvalid("iss is missing"))?;
    let policy = jwks::resolve(edge, iss, req.now())?;
    let mut keys = jwks::current(edge, &policy, ctx).await?;
    if let (Err(Rejection::KeyUnknown), Some(kid)) = (select_key(&token, &keys), token.kid()) {
        keys = jwks::with_kid(edge, &policy, kid).await?;
    }
    let key = select_key(&token, &keys)?;
    let kid = key.kid().unwrap_or_default().to_owned();
    let job = token.signature_job(&policy, key)?;
    let webcrypto_failed = |e: JsValue| {
        worker::console_error!("webcrypto.failed error={}", worker::Error::from(e));
        Rejection::SignatureInvalid
    };
    let valid = edge.crypto.verify(&job).await.map_err(webcrypto_failed)?;
    let proof = job.conclude(valid)?;
    let claims = Rc::new(token.finish(proof, &policy, req.now())?);
    if key_revocation::revoked(edge, &policy.issuer, &kid, req.now()).await? {
        return Err(Rejection::KeyRevoked);
    }
    if let Some(key) = cache_key {
        edge.tokens.borrow_mut().put(key, claims.clone(), &kid);
    }
    Ok(claims)
}

/// `Err(Token(Revoked))` when the verified token is revoked at any level (its session, its user's
/// not-before, its tenant's); `Err` with a 503 when a store could not answer.
async fn check_revocation(
    edge: &Edge,
    claims: &VerifiedClaims,
    mode: Revocation,
    now: i64,
) -> Result<(), EdgeError> {
    let unavailable = |e: worker::Error| EdgeError::RevocationUnavailable(e.to_string());
    let denied = match revocation_check(mode, claims)? {
        RevocationCheck::Ledger(subject) => revocation::refused_by_object(edge, &subject)
            .await
            .map_err(unavailable)?,
        RevocationCheck::DenyList(subject) => revocation::refused_by_kv(edge, &subject, now)
            .await
            .map_err(unavailable)?,
    };
    if denied {
        return Err(Rejection::Revoked.into());
    }
    Ok(())
}
