//! `/t/{tenant}/sign-in`: the page, its password form post, and its passkey calls.

use super::views::{self, Frame};
use super::{csrf, json_error, page, see_other, shown};
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::hosted_session;
use crate::routes::passkeys::{self, FinishAuthentication, StartAuthentication};
use crate::routes::sessions;
use crate::state::AppState;
use crate::tenants::Tenant;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use secrecy::SecretString;
use serde::Deserialize;
use webauthn_rs::prelude::PublicKeyCredential;

/// The sign-in page, with `error` shown when a form post was refused.
fn render(
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
        page: "sign-in",
        title: "Sign in",
        tenant_name: &tenant.name,
        base: &base,
        csrf: &token.token,
        return_to,
        error: error.as_ref(),
    };
    page(status, &[token.set_cookie], views::sign_in(&frame, email))
}

/// `GET /t/{tenant}/sign-in[?return_to=/t/{tenant}/...]`. Someone already signed in goes straight on.
pub async fn show(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let tenant = match super::tenant(&state, &slug).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let return_to = super::return_to_of(&tenant, query.as_deref());
    match hosted_session::resolve(&state, &tenant, &headers).await {
        Ok(Some(_)) => see_other(&super::after_sign_in(&tenant, Some(&return_to)), &[]),
        Ok(None) => render(
            &state,
            &tenant,
            &headers,
            &return_to,
            "",
            StatusCode::OK,
            None,
        ),
        Err(e) => super::problem(e, Some(&tenant), &format!("/t/{slug}/sign-in")),
    }
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

/// `POST /t/{tenant}/sign-in` (form): check the password, open the page session, go on.
pub async fn with_password(
    State(state): State<AppState>,
    client: ClientIp,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let tenant = match super::tenant(&state, &slug).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let Ok(Form(form)) = form else {
        let e = ApiError::InvalidBody("the form is malformed".to_owned());
        return render(&state, &tenant, &headers, "", "", e.status(), Some(e));
    };
    let return_to = form
        .return_to
        .as_deref()
        .and_then(|r| super::return_to::validate(&tenant.slug, r))
        .unwrap_or_default();
    let outcome = async {
        csrf::verify(&state, &headers, &form.csrf)?;
        let password = form.password.ok_or(ApiError::InvalidCredentials)?;
        let user_id =
            sessions::check_password(&state, &tenant, client, &form.email, password).await?;
        let (_, cookie) = hosted_session::sign_in(&state, &tenant, user_id, &headers).await?;
        Ok::<_, ApiError>(cookie)
    }
    .await;
    match outcome {
        Ok(cookie) => see_other(&super::after_sign_in(&tenant, Some(&return_to)), &[cookie]),
        Err(e) => {
            let retry_after = super::retry_after(&e);
            let mut response = render(
                &state,
                &tenant,
                &headers,
                &return_to,
                &form.email,
                e.status(),
                Some(e),
            );
            if let Some(value) = retry_after {
                // As the API's 429: `Retry-After`, and held like every refused attempt.
                response.headers_mut().insert("retry-after", value);
                response
                    .extensions_mut()
                    .insert(crate::throttle::tarpit::Refused);
            }
            response
        }
    }
}

/// `POST /t/{tenant}/sign-in/passkey/start` (script, CSRF header): the options for
/// `navigator.credentials.get`; without an e-mail, the discoverable flow autofill uses.
pub async fn start_passkey(
    State(state): State<AppState>,
    client: ClientIp,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StartAuthentication>,
) -> Response {
    if let Err(e) = csrf::verify_header(&state, &headers) {
        return json_error(e);
    }
    passkeys::start_authentication(State(state), client, ApiPath(slug), ApiJson(body))
        .await
        .unwrap_or_else(json_error)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyFinish {
    ceremony_id: String,
    credential: PublicKeyCredential,
    return_to: Option<String>,
}

/// `POST /t/{tenant}/sign-in/passkey` (script, CSRF header): verify the passkey, open the page
/// session, answer `{"redirect": ...}`.
pub async fn with_passkey(
    State(state): State<AppState>,
    client: ClientIp,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasskeyFinish>,
) -> Response {
    let outcome = async {
        csrf::verify_header(&state, &headers)?;
        let tenant = crate::tenants::find(state.db(), &slug).await?;
        let finish = FinishAuthentication {
            ceremony_id: body.ceremony_id,
            credential: body.credential,
        };
        let user_id = passkeys::complete_authentication(&state, &tenant, client, finish).await?;
        let (_, cookie) = hosted_session::sign_in(&state, &tenant, user_id, &headers).await?;
        Ok::<_, ApiError>(redirect_json(
            &super::after_sign_in(&tenant, body.return_to.as_deref()),
            cookie,
        ))
    }
    .await;
    outcome.unwrap_or_else(json_error)
}

/// `{"redirect": to}` with the new session's cookie: the script then goes there.
pub(crate) fn redirect_json(to: &str, cookie: axum::http::HeaderValue) -> Response {
    let mut response = ApiJson(serde_json::json!({ "redirect": to })).into_response();
    response
        .headers_mut()
        .append(axum::http::header::SET_COOKIE, cookie);
    response
}
