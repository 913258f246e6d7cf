//! What the two pages a person gets in by, sign-in and sign-up, share: the page with its e-mail
//! form, the password form post, and the script's passkey calls, which wrap the API's ceremonies in
//! a CSRF check and end in the page session instead of tokens.

use super::views::Frame;
use super::{csrf, json_error, page, see_other, shown};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::hosted_session;
use crate::state::AppState;
use crate::tenants::Tenant;
use axum::extract::rejection::FormRejection;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::Markup;
use secrecy::SecretString;
use serde::Deserialize;
use std::future::Future;
use uuid::Uuid;

/// Sign-in or sign-up: what tells the two pages apart.
#[derive(Debug)]
pub struct EntryPage {
    /// `sign-in` or `sign-up`: which behaviour the script attaches.
    pub page: &'static str,
    pub title: &'static str,
    /// The page's form, given its frame and the e-mail to fill in.
    pub view: fn(&Frame<'_>, &str) -> Markup,
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    password: Option<SecretString>,
    return_to: Option<String>,
}

/// A script call finishing a ceremony: the API's finish, and where to go once signed in.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyFinish<C> {
    ceremony_id: String,
    credential: C,
    return_to: Option<String>,
}

impl EntryPage {
    /// The page, with `error` shown when a form post was refused.
    #[allow(clippy::too_many_arguments)]
    pub fn render(
        &self,
        state: &AppState,
        tenant: &Tenant,
        headers: &HeaderMap,
        return_to: &str,
        email: &str,
        status: StatusCode,
        error: Option<ApiError>,
    ) -> Response {
        let token = csrf::for_page(state, headers);
        let base = format!("/t/{}", tenant.slug);
        let error = error.as_ref().map(shown);
        let frame = Frame {
            page: self.page,
            title: self.title,
            tenant_name: &tenant.name,
            base: &base,
            csrf: &token.token,
            return_to,
            error: error.as_ref(),
        };
        page(status, &[token.set_cookie], (self.view)(&frame, email))
    }

    /// The password form post: CSRF, then `check` proves (or creates) the account of the form's
    /// e-mail and password (`None` when the form has none); then the page session opens and the
    /// browser goes on. A refusal shows the page again, a throttled one with its `Retry-After`.
    pub async fn with_password<F, Fut>(
        &self,
        state: &AppState,
        slug: &str,
        headers: &HeaderMap,
        form: Result<Form<PasswordForm>, FormRejection>,
        check: F,
    ) -> Response
    where
        F: FnOnce(Tenant, String, Option<SecretString>) -> Fut,
        Fut: Future<Output = Result<Uuid, ApiError>>,
    {
        let tenant = match super::tenant(state, slug).await {
            Ok(t) => t,
            Err(page) => return page,
        };
        let Ok(Form(form)) = form else {
            let e = ApiError::InvalidBody("the form is malformed".to_owned());
            return self.render(state, &tenant, headers, "", "", e.status(), Some(e));
        };
        let return_to = form
            .return_to
            .as_deref()
            .and_then(|r| super::return_to::validate(&tenant.slug, r))
            .unwrap_or_default();
        let outcome = async {
            csrf::verify(state, headers, &form.csrf)?;
            let user_id = check(tenant.clone(), form.email.clone(), form.password).await?;
            let (_, cookie) = hosted_session::sign_in(state, &tenant, user_id, headers).await?;
            Ok::<_, ApiError>(cookie)
        }
        .await;
        match outcome {
            Ok(cookie) => see_other(&super::after_sign_in(&tenant, Some(&return_to)), &[cookie]),
            Err(e) => {
                let retry_after = super::retry_after(&e);
                let mut response = self.render(
                    state,
                    &tenant,
                    headers,
                    &return_to,
                    &form.email,
                    e.status(),
                    Some(e),
                );
                if let Some(value) = retry_after {
                    // As the API's 429: `Retry-After`, and held like every refused attempt.
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                    response
                        .extensions_mut()
                        .insert(crate::throttle::tarpit::Refused);
                }
                response
            }
        }
    }
}

/// A script call starting a ceremony: the CSRF header, then the API's start (not run without it).
pub async fn start_passkey(
    state: &AppState,
    headers: &HeaderMap,
    start: impl Future<Output = Result<Response, ApiError>>,
) -> Response {
    if let Err(e) = csrf::verify_header(state, headers) {
        return json_error(e);
    }
    start.await.unwrap_or_else(json_error)
}

/// A script call finishing a ceremony: the CSRF header, then `complete` proves (or creates) the
/// account from the ceremony id and credential; the page session opens and the answer is
/// `{"redirect": ...}`, where the script goes next.
pub async fn finish_passkey<C, F, Fut>(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    body: PasskeyFinish<C>,
    complete: F,
) -> Response
where
    F: FnOnce(Tenant, String, C) -> Fut,
    Fut: Future<Output = Result<Uuid, ApiError>>,
{
    let outcome = async {
        csrf::verify_header(state, headers)?;
        let tenant = crate::tenants::find(state.db(), slug).await?;
        let user_id = complete(tenant.clone(), body.ceremony_id, body.credential).await?;
        let (_, cookie) = hosted_session::sign_in(state, &tenant, user_id, headers).await?;
        let to = super::after_sign_in(&tenant, body.return_to.as_deref());
        let mut response = ApiJson(serde_json::json!({ "redirect": to })).into_response();
        response.headers_mut().append(header::SET_COOKIE, cookie);
        Ok::<_, ApiError>(response)
    }
    .await;
    outcome.unwrap_or_else(json_error)
}
