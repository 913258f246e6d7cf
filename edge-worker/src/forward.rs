//! Forwarding an allowed request to the upstream with the verified identity.
//!
//! Every client-sent `x-auth-*` header is dropped before ours are added, so the upstream can trust
//! them as far as it trusts the path through the edge. The bearer token itself is not forwarded: the
//! upstream gets the verified identity instead, and no copy of the token lands in its logs.

use crate::config::EdgeConfig;
use crate::respond;
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
) -> Result<Response> {
    let url = req.url()?;
    let target = match url.query() {
        Some(q) => format!("{}{}?{q}", config.upstream, url.path()),
        None => format!("{}{}", config.upstream, url.path()),
    };
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if !identity::is_reserved(&name) && !NOT_FORWARDED.contains(&name.as_str()) {
            headers.append(&name, &value)?;
        }
    }
    if let Some(host) = url.host_str() {
        headers.set("x-forwarded-host", host)?;
    }
    headers.set("x-forwarded-proto", url.scheme())?;
    if let Some(claims) = claims {
        for (name, value) in identity::headers_for(claims) {
            headers.set(name, &value)?;
        }
    }
    let mut init = RequestInit::new();
    init.with_method(req.method()).with_headers(headers);
    if let Some(body) = req.inner().body() {
        init.with_body(Some(body.into()));
    }
    let upstream = Request::new_with_init(&target, &init)?;
    match Fetch::Request(upstream).send().await {
        Ok(response) => Ok(response),
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
