//! `GET /t/{tenant}/authorize`: the authorization endpoint (OAuth 2.1 §4.1.1, OpenID Connect Core
//! §3.1.2).
//!
//! Until the client and its redirect URI are known to be registered, an error is a page shown to
//! the user: redirecting to an unverified URI would make this endpoint an open redirector (RFC 6749
//! §4.1.2.1). After that, errors go back to the client as `error=` on its redirect URI, with `state`.
//! With no hosted sign-in the browser is sent to the sign-in page, which comes back here.

use crate::domain::{CodeChallenge, PkceError};
use crate::error::ApiError;
use crate::extract::ApiPath;
use crate::hosted_session;
use crate::oauth::clients::{self, Client};
use crate::oauth::codes::{self, NewCode};
use crate::oauth::scope::{Scope, ScopeError};
use crate::openapi::{tags, TenantPath};
use crate::state::AppState;
use crate::tenants::{self, Tenant};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use std::collections::HashMap;
use time::OffsetDateTime;
use url::Url;
use utoipa::IntoParams;

/// Longest `state` and `nonce` accepted: they are echoed and stored.
const MAX_STATE_BYTES: usize = 1024;
const MAX_NONCE_BYTES: usize = 256;

/// The query of an authorization request. RFC 6749 §3.1: no parameter may appear twice.
struct Params {
    values: HashMap<String, String>,
    repeated: Option<String>,
}

impl Params {
    fn parse(query: &str) -> Self {
        let mut values = HashMap::new();
        let mut repeated = None;
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if values.contains_key(name.as_ref()) {
                repeated.get_or_insert_with(|| name.clone().into_owned());
            }
            values.insert(name.into_owned(), value.into_owned());
        }
        Params { values, repeated }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn is_repeated(&self, name: &str) -> bool {
        self.repeated.as_deref() == Some(name)
    }
}

/// An error shown to the user: the request names no client or redirect URI we may send them to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageError {
    TenantNotFound,
    ClientMissing,
    ClientUnknown,
    RedirectUriMissing,
    RedirectUriUnregistered,
}

impl PageError {
    /// Stable, for machines (and support): also shown on the page.
    pub fn code(self) -> &'static str {
        match self {
            PageError::TenantNotFound => "tenant_not_found",
            PageError::ClientMissing => "client_id_missing",
            PageError::ClientUnknown => "client_unknown",
            PageError::RedirectUriMissing => "redirect_uri_missing",
            PageError::RedirectUriUnregistered => "redirect_uri_unregistered",
        }
    }

    fn message(self) -> &'static str {
        match self {
            PageError::TenantNotFound => "This sign-in link names a service that does not exist here.",
            PageError::ClientMissing | PageError::ClientUnknown => {
                "This sign-in link comes from an application that is not registered here."
            }
            PageError::RedirectUriMissing | PageError::RedirectUriUnregistered => {
                "This sign-in link would send you back to an address the application has not registered, so it was stopped."
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match self {
            PageError::TenantNotFound => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        // Only our own fixed strings go into the page: nothing from the request.
        let html = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign-in stopped</title></head>\n\
             <body><main><h1>Sign-in stopped</h1><p>{}</p><p>Go back to the application and try again. \
             If it keeps happening, tell its makers this code: <code>{}</code></p></main></body></html>\n",
            self.message(),
            self.code()
        );
        let mut response = (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response();
        no_store(&mut response);
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'"),
        );
        response
    }
}

fn no_store(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// `302 Found` to `location` (an authorization response is a plain redirect, RFC 6749 §4.1.2).
fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Err(_) => {
            return ApiError::Internal(anyhow::anyhow!("a redirect location is not a header value"))
                .into_response()
        }
    }
    no_store(&mut response);
    response
}

/// The client's redirect URI with `params` (and `state`, `iss`) added to its query.
fn back_to_client(
    redirect_uri: &str,
    state: Option<&str>,
    issuer: &str,
    params: &[(&str, &str)],
) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return ApiError::Internal(anyhow::anyhow!("a registered redirect uri does not parse"))
            .into_response();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        // RFC 9207: the client can tell which issuer answered (mix-up defence).
        query.append_pair("iss", issuer);
    }
    redirect(url.as_str())
}

/// An error for the client: RFC 6749 §4.1.2.1's `error` and a description.
struct ClientError {
    code: &'static str,
    description: Cow<'static, str>,
}

impl ClientError {
    fn new(code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        ClientError {
            code,
            description: description.into(),
        }
    }
}

impl From<PkceError> for ClientError {
    fn from(e: PkceError) -> Self {
        ClientError::new("invalid_request", e.to_string())
    }
}

impl From<ScopeError> for ClientError {
    fn from(e: ScopeError) -> Self {
        ClientError::new("invalid_scope", e.to_string())
    }
}

/// The registered client and redirect URI a request names, or the page to show instead.
async fn registered(
    state: &AppState,
    tenant: &Tenant,
    params: &Params,
) -> Result<(Client, String), Response> {
    let client_id = match params.get("client_id") {
        Some(_) if params.is_repeated("client_id") => {
            return Err(PageError::ClientUnknown.into_response())
        }
        Some(id) => id,
        None => return Err(PageError::ClientMissing.into_response()),
    };
    let client = match clients::find(state.db(), tenant.id, client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(PageError::ClientUnknown.into_response()),
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    // OpenID Connect requires `redirect_uri`, so there is no "the only registered one" default.
    let redirect_uri = match params.get("redirect_uri") {
        Some(_) if params.is_repeated("redirect_uri") => {
            return Err(PageError::RedirectUriUnregistered.into_response())
        }
        Some(uri) if client.allows(uri) => uri.to_owned(),
        Some(_) => return Err(PageError::RedirectUriUnregistered.into_response()),
        None => return Err(PageError::RedirectUriMissing.into_response()),
    };
    Ok((client, redirect_uri))
}

/// What a well-formed request asks for, once the client is known.
struct Request {
    challenge: CodeChallenge,
    scope: Scope,
    nonce: Option<String>,
    /// `prompt=none`: never show a page; answer `login_required` instead.
    prompt_none: bool,
    /// `prompt=login`: the user must sign in again, whatever session they have.
    prompt_login: bool,
    /// `max_age`: the sign-in must be at most this many seconds old.
    max_age_secs: Option<i64>,
}

fn validate(params: &Params) -> Result<Request, ClientError> {
    if let Some(name) = &params.repeated {
        return Err(ClientError::new(
            "invalid_request",
            format!("parameter {name} appears more than once"),
        ));
    }
    if params.get("request").is_some() {
        return Err(ClientError::new(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(ClientError::new(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match params.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(ClientError::new(
                "unsupported_response_type",
                "response_type must be code",
            ))
        }
        None => {
            return Err(ClientError::new(
                "invalid_request",
                "response_type is required",
            ))
        }
    }
    if params.get("response_mode").is_some_and(|m| m != "query") {
        return Err(ClientError::new(
            "invalid_request",
            "response_mode must be query",
        ));
    }
    let challenge = CodeChallenge::parse(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    )?;
    let scope = Scope::parse(params.get("scope"))?;
    let nonce = params.get("nonce");
    if nonce.is_some_and(|n| n.len() > MAX_NONCE_BYTES) {
        return Err(ClientError::new(
            "invalid_request",
            "nonce must be at most 256 bytes",
        ));
    }
    // OpenID Connect Core §3.1.2.1. `consent` and `select_account` need nothing here: clients are
    // registered by the tenant's admin (no consent screen) and a browser has one account per tenant.
    let prompt: Vec<&str> = params
        .get("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    if prompt
        .iter()
        .any(|p| !matches!(*p, "none" | "login" | "consent" | "select_account"))
    {
        return Err(ClientError::new(
            "invalid_request",
            "prompt must be none, login, consent or select_account",
        ));
    }
    let prompt_none = prompt.contains(&"none");
    if prompt_none && prompt.len() > 1 {
        return Err(ClientError::new(
            "invalid_request",
            "prompt=none cannot be combined with another value",
        ));
    }
    let max_age_secs = match params.get("max_age") {
        None => None,
        Some(raw) => Some(raw.parse::<u32>().map(i64::from).map_err(|_| {
            ClientError::new("invalid_request", "max_age must be a number of seconds")
        })?),
    };
    Ok(Request {
        challenge,
        scope,
        nonce: nonce.map(str::to_owned),
        prompt_none,
        prompt_login: prompt.contains(&"login"),
        max_age_secs,
    })
}

/// The request's query without `prompt` and `max_age`: what to come back to once the user has just
/// signed in (both are then met, and keeping them would refuse the fresh sign-in).
fn without_reauthentication(query: &str) -> String {
    let mut kept = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name != "prompt" && name != "max_age" {
            kept.append_pair(&name, &value);
        }
    }
    kept.finish()
}

/// The hosted sign-in page, asked to come back to this very request once the user has signed in.
fn to_sign_in(state: &AppState, tenant: &Tenant, query: &str) -> Response {
    let return_to = format!("/t/{}/authorize?{query}", tenant.slug);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", &return_to)
        .finish();
    redirect(&format!(
        "{}/sign-in?{query}",
        state.pages_base(&tenant.slug)
    ))
}

/// The query of an authorization request (read by [`Params`]: every parameter once at most).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents what `Params` reads.
pub struct AuthorizeQuery {
    /// `code`.
    #[param(pattern = "^code$")]
    response_type: String,
    /// A client registered with the tenant.
    #[param(min_length = 1)]
    client_id: String,
    /// Exactly one of the client's registered redirect URIs.
    #[param(min_length = 1)]
    redirect_uri: String,
    /// PKCE (RFC 7636): base64url of the verifier's SHA-256, 43 characters.
    #[param(pattern = "^[A-Za-z0-9_-]{43}$")]
    code_challenge: String,
    /// `S256` (`plain` is refused).
    #[param(pattern = "^S256$")]
    code_challenge_method: String,
    /// Space-separated, from `openid` and `email`.
    scope: Option<String>,
    /// Echoed to the redirect URI; at most 1024 bytes.
    state: Option<String>,
    /// Put in the ID token; at most 256 bytes.
    nonce: Option<String>,
    /// `none`, or any of `login`, `consent`, `select_account`.
    prompt: Option<String>,
    /// Seconds since the user's sign-in beyond which a fresh one is required.
    max_age: Option<u32>,
    /// `query` (the only mode).
    response_mode: Option<String>,
}

/// The authorization endpoint (OAuth 2.1 §4.1.1, OpenID Connect Core §3.1.2): a browser navigation.
///
/// Until the client and its redirect URI are known to be registered, an error is an HTML page shown
/// to the user (a redirect to an unverified URI would make this an open redirector); after that,
/// errors go back to the client's redirect URI as `error=` with `state` and `iss`. Without a hosted
/// sign-in the browser is sent to the sign-in page, which comes back here.
#[utoipa::path(
    get,
    path = "/t/{tenant}/authorize",
    operation_id = "authorize",
    tag = tags::OAUTH,
    params(TenantPath, AuthorizeQuery),
    responses(
        (status = 302, description = "To the client's redirect URI with `code` (or `error`), `state` and `iss`; or to the hosted sign-in page", headers(("Location" = String, description = "where to go"))),
        (status = 400, description = "An HTML page: `client_id_missing`, `client_unknown`, `redirect_uri_missing`, `redirect_uri_unregistered`", content_type = "text/html", body = String),
        (status = 404, description = "An HTML page: `tenant_not_found`", content_type = "text/html", body = String),
    ),
)]
pub async fn authorize(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let tenant = match tenants::find(state.db(), &slug).await {
        Ok(tenant) => tenant,
        Err(ApiError::TenantNotFound) => return PageError::TenantNotFound.into_response(),
        Err(e) => return e.into_response(),
    };
    let query = query.unwrap_or_default();
    let params = Params::parse(&query);
    let (client, redirect_uri) = match registered(&state, &tenant, &params).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let issuer = state.issuer(&tenant.slug);
    // An oversized `state` is not echoed: it is refused like any other malformed parameter.
    let client_state = params.get("state").filter(|s| s.len() <= MAX_STATE_BYTES);
    let refuse = |e: ClientError| {
        back_to_client(
            &redirect_uri,
            client_state,
            &issuer,
            &[
                ("error", e.code),
                ("error_description", e.description.as_ref()),
            ],
        )
    };
    if params.get("state").is_some() && client_state.is_none() {
        return refuse(ClientError::new(
            "invalid_request",
            "state must be at most 1024 bytes",
        ));
    }
    let request = match validate(&params) {
        Ok(request) => request,
        Err(e) => return refuse(e),
    };

    let session = match hosted_session::resolve(&state, &tenant, &headers).await {
        Ok(session) => session,
        Err(e) => return e.into_response(),
    };
    let Some(session) = session else {
        if request.prompt_none {
            return refuse(ClientError::new(
                "login_required",
                "the user is not signed in",
            ));
        }
        // The sign-in that follows is fresh: `prompt=login` and `max_age` are met by it.
        return to_sign_in(&state, &tenant, &without_reauthentication(&query));
    };
    let now = OffsetDateTime::now_utc();
    let auth_time = match codes::signed_in_at(state.db(), session.session_id).await {
        Ok(Some(at)) => at,
        // Signed out between the two reads: as if never signed in.
        Ok(None) => return to_sign_in(&state, &tenant, &query),
        Err(e) => return ApiError::from(e).into_response(),
    };
    // The hosted pages send a signed-in user straight back, so a sign-in cannot be forced again
    // here: a request that needs a fresh one while a session exists is told so (Core §3.1.2.1:
    // "if it cannot reauthenticate the End-User, it MUST return an error").
    let too_old = request
        .max_age_secs
        .is_some_and(|max| (now - auth_time).whole_seconds() > max);
    if request.prompt_login || too_old {
        return refuse(ClientError::new(
            "login_required",
            "a fresh sign-in is required: sign out on the hosted pages and try again",
        ));
    }
    let code = codes::issue(
        state.db(),
        &NewCode {
            tenant_id: tenant.id,
            client_id: &client.client_id,
            redirect_uri: &redirect_uri,
            challenge: &request.challenge,
            scope: &request.scope,
            nonce: request.nonce.as_deref(),
            user_id: session.user_id,
            page_session_id: session.session_id,
            auth_time,
            now,
        },
    )
    .await;
    let code = match code {
        Ok(code) => code,
        Err(e) => return ApiError::from(e).into_response(),
    };
    tracing::info!(tenant.id = %tenant.id, client.id = %client.client_id, user.id = %session.user_id, "authorization code issued");
    back_to_client(&redirect_uri, client_state, &issuer, &[("code", &code)])
}
