//! Forwarding an allowed request to the upstream with the verified identity.
//!
//! Every client-sent `x-auth-*` header is dropped before ours are added, and when
//! `UPSTREAM_SIGNING_SECRET` is set the identity is signed (`auth_core::identity`), so an upstream
//! reached some other way can tell a forged request from one that passed the edge. The bearer token
//! itself is not forwarded: the upstream gets the verified identity instead, and no copy of the token
//! lands in its logs.

use crate::config::EdgeConfig;
use crate::respond;
use auth_core::policy::Cors;
use auth_core::{identity, VerifiedClaims};
use worker::{Fetch, Headers, Request, RequestInit, Response, Result};

/// Hop-by-hop and per-connection headers that must not be relayed (RFC 9110 §7.6.1).
const NOT_FORWARDED: [&str; 10] = [
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
];

pub async fn send(
    req: Request,
    config: &EdgeConfig,
    claims: Option<&VerifiedClaims>,
    cors: Option<(&Cors, String)>,
) -> Result<Response> {
    let url = req.url()?;
    let path_and_query = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if !identity::is_reserved(&name) && !NOT_FORWARDED.contains(&name.as_str()) {
            headers.append(&name, &value)?;
        }
    }
    if let Some(host) = req.headers().get("host")? {
        headers.set("x-forwarded-host", &host)?;
    }
    headers.set("x-forwarded-proto", url.scheme())?;
    let identity = claims.map(identity::headers_for).unwrap_or_default();
    for (name, value) in &identity {
        headers.set(name, value)?;
    }
    if let Some(secret) = &config.upstream_secret {
        let now = crate::now_unix();
        let method = req.method().to_string();
        headers.set(identity::TIMESTAMP, &now.to_string())?;
        headers.set(
            identity::SIGNATURE,
            &identity::sign_forwarded(secret, &identity, &method, &path_and_query, now),
        )?;
    }
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    if let Some(body) = req.inner().body() {
        init.with_body(Some(body.into()));
    }
    let upstream = Request::new_with_init(&format!("{}{path_and_query}", config.upstream), &init)?;
    match Fetch::Request(upstream).send().await {
        Ok(response) => {
            let Some((cors, origin)) = cors else {
                return Ok(response);
            };
            // A fetched response's headers are immutable: copy them into a new set.
            let headers = Headers::new();
            for (name, value) in response.headers().entries() {
                headers.append(&name, &value)?;
            }
            for (name, value) in cors.response_headers(&origin) {
                headers.set(name, &value)?;
            }
            Ok(Response::from_body(response.body().clone())?
                .with_status(response.status_code())
                .with_headers(headers))
        }
        Err(e) => {
            worker::console_error!("upstream.unavailable error={e}");
            respond::error(
                502,
                "upstream_unavailable",
                "the upstream could not be reached",
            )
        }
    }
}
