//! A tenant's hosted pages: sign-up (passkey first, password as the alternative), sign-in (password,
//! passkey, and passkey autofill in the e-mail field) and the account page (sessions, passkeys).
//!
//! Plain HTML from [`views`] and one small script with no build step (`assets/pages.js`). Every
//! response carries a strict Content-Security-Policy (nothing inline, nothing from elsewhere, never
//! framed); every state-changing request passes [`csrf`]; who is signed in is the
//! [`crate::hosted_session`] cookie. Password sign-in, sign-up and every account action are plain
//! form posts that work without JavaScript; passkeys need the script (WebAuthn is a script API).
//!
//! Errors are shown in words a person can act on, in an `role="alert"` element whose `data-code`
//! keeps the API's stable code.

pub mod account;
pub mod csrf;
pub mod entry;
pub mod return_to;
pub mod sign_in;
pub mod sign_up;
pub mod views;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tenants::Tenant;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::Markup;
use views::{Frame, Shown};

/// What the pages may load and who may frame them: only our own script and style, never inline,
/// never framed, no plugins, no `<base>` games.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const SCRIPT: &str = include_str!("assets/pages.js");
const STYLE: &str = include_str!("assets/pages.css");

/// The pages' routes, with their security headers.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/pages/pages.js", get(script))
        .route("/pages/pages.css", get(style))
        .route(
            "/t/{tenant}/sign-in",
            get(sign_in::show).post(sign_in::with_password),
        )
        .route(
            "/t/{tenant}/sign-in/passkey/start",
            post(sign_in::start_passkey),
        )
        .route("/t/{tenant}/sign-in/passkey", post(sign_in::with_passkey))
        .route(
            "/t/{tenant}/sign-up",
            get(sign_up::show).post(sign_up::with_password),
        )
        .route(
            "/t/{tenant}/sign-up/passkey/start",
            post(sign_up::start_passkey),
        )
        .route("/t/{tenant}/sign-up/passkey", post(sign_up::with_passkey))
        .route("/t/{tenant}/account", get(account::show))
        .route("/t/{tenant}/sign-out", post(account::sign_out))
        .route(
            "/t/{tenant}/account/sign-out-everywhere",
            post(account::sign_out_everywhere),
        )
        .route(
            "/t/{tenant}/account/sessions/{session_id}/sign-out",
            post(account::sign_out_session),
        )
        .route(
            "/t/{tenant}/account/passkeys/{passkey_id}/rename",
            post(account::rename_passkey),
        )
        .route(
            "/t/{tenant}/account/passkeys/{passkey_id}/delete",
            post(account::delete_passkey),
        )
        .route(
            "/t/{tenant}/account/passkeys/start",
            post(account::start_passkey),
        )
        .route(
            "/t/{tenant}/account/passkeys/finish",
            post(account::finish_passkey),
        )
        .layer(axum::middleware::from_fn(security_headers))
}

/// Every page response: the CSP, never framed or sniffed, never cached, no referrer leaked.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Compiled in, so it changes only with a new build; a short cache keeps deploys visible.
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// What a person is told for an API error; the stable code is kept beside it.
pub fn shown(error: &ApiError) -> Shown {
    let message = match error {
        ApiError::InvalidCredentials => {
            "That e-mail and password do not match an account. Check them and try again.".to_owned()
        }
        ApiError::TooManyAttempts(t) => format!(
            "Too many failed attempts. Wait {} seconds, then try again.",
            t.retry_after_secs
        ),
        ApiError::EmailTaken => {
            "An account with this e-mail already exists. Sign in instead.".to_owned()
        }
        ApiError::EmailInvalid => "Enter an e-mail address such as ada@example.com.".to_owned(),
        ApiError::ServerBusy => "We are busy right now. Try again in a moment.".to_owned(),
        ApiError::CsrfInvalid => {
            "This form expired or did not come from this site. Reload the page and try again."
                .to_owned()
        }
        ApiError::PasskeysNotConfigured => "Passkeys are not available here.".to_owned(),
        ApiError::PasskeyUnknown => {
            "This passkey is not registered here. Use another passkey or your password.".to_owned()
        }
        ApiError::CeremonyInvalid | ApiError::CeremonyExpired => {
            "The passkey request expired. Try again.".to_owned()
        }
        ApiError::LastSignInMethod => {
            "This passkey is your only way to sign in. Tick the box to delete it anyway.".to_owned()
        }
        ApiError::UserDisabled => {
            "This account is disabled. Ask the site's administrator to enable it.".to_owned()
        }
        ApiError::TenantNotFound | ApiError::NotFound => "This page does not exist.".to_owned(),
        ApiError::Internal(_) => "Something went wrong on our side. Try again.".to_owned(),
        other => sentence(&other.to_string()),
    };
    Shown {
        code: error.code(),
        message,
    }
}

/// "the passkey ... required" as "The passkey ... required."
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// An HTML page with its status and the cookies to set.
pub fn page(status: StatusCode, cookies: &[Option<HeaderValue>], markup: Markup) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response();
    for cookie in cookies.iter().flatten() {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    response
}

/// `303 See Other` to `to`, setting `cookies`: the answer to every successful form post.
pub fn see_other(to: &str, cookies: &[HeaderValue]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    for cookie in cookies {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cookie.clone());
    }
    response
}

/// A script call's error: the API's status and code, with the person's message.
pub fn json_error(error: ApiError) -> Response {
    let shown = shown(&error);
    let mut response = error.into_response();
    let status = response.status();
    let body = serde_json::json!({ "error": { "code": shown.code, "message": shown.message } });
    *response.body_mut() = axum::body::Body::from(body.to_string());
    response.headers_mut().remove(header::CONTENT_LENGTH);
    debug_assert_eq!(response.status(), status);
    response
}

/// A page answering an error where no form can be shown again (unknown tenant, refused CSRF on
/// the account page): the message, the code, and a link back.
pub fn problem(error: ApiError, tenant: Option<&Tenant>, back: &str) -> Response {
    let shown = shown(&error);
    let base = tenant.map(|t| format!("/t/{}", t.slug)).unwrap_or_default();
    let frame = Frame {
        page: "problem",
        title: "Something is not right",
        tenant_name: tenant.map_or("", |t| t.name.as_str()),
        base: &base,
        csrf: "",
        return_to: "",
        error: Some(&shown),
    };
    let mut response = page(error.status(), &[], views::problem(&frame, back));
    if let ApiError::Internal(cause) = error {
        // Logged once by the error middleware, as for the API.
        response
            .extensions_mut()
            .insert(crate::error::InternalCause(std::sync::Arc::new(cause)));
    }
    response
}

/// A throttled attempt's `Retry-After`, kept on the page that reports it.
pub fn retry_after(error: &ApiError) -> Option<HeaderValue> {
    match error {
        ApiError::TooManyAttempts(t) => Some(HeaderValue::from(t.retry_after_secs)),
        _ => None,
    }
}

/// The tenant a page path names, or the 404 page.
pub async fn tenant(state: &AppState, slug: &str) -> Result<Tenant, Response> {
    crate::tenants::find(state.db(), slug)
        .await
        .map_err(|e| problem(e, None, "/"))
}

/// The query's `return_to`, kept only when it is one of the tenant's own page paths.
pub fn return_to_of(tenant: &Tenant, query: Option<&str>) -> String {
    query
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "return_to")
                .map(|(_, v)| v.into_owned())
        })
        .and_then(|raw| return_to::validate(&tenant.slug, &raw))
        .unwrap_or_default()
}

/// Where to go once signed in: the validated `return_to`, else the account page.
pub fn after_sign_in(tenant: &Tenant, return_to: Option<&str>) -> String {
    return_to
        .and_then(|raw| return_to::validate(&tenant.slug, raw))
        .unwrap_or_else(|| format!("/t/{}/account", tenant.slug))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_sentences_and_keep_their_code() {
        let shown = shown(&ApiError::PasskeyInvalid(
            "the passkey's signature did not verify",
        ));
        assert_eq!(shown.code, "passkey_invalid");
        assert_eq!(shown.message, "The passkey's signature did not verify.");
        assert_eq!(
            super::shown(&ApiError::InvalidCredentials).code,
            "invalid_credentials"
        );
    }
}
