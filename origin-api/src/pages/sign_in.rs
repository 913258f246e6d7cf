//! `/t/{tenant}/sign-in`: the page, its password form post, and its passkey calls.

use super::entry::{self, EntryPage, PasskeyFinish, PasswordForm};
use super::views;
use crate::client_ip::ClientIp;
use crate::extract::{ApiJson, ApiPath};
use crate::hosted_session;
use crate::routes::passkeys::{self, FinishAuthentication, StartAuthentication};
use crate::routes::sessions;
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use webauthn_rs::prelude::PublicKeyCredential;

const PAGE: EntryPage = EntryPage {
    page: "sign-in",
    title: "Sign in",
    view: views::sign_in,
};

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
        Ok(Some(_)) => super::see_other(&super::after_sign_in(&tenant, Some(&return_to)), &[]),
        Ok(None) => PAGE.render(
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

/// `POST /t/{tenant}/sign-in` (form): check the password, open the page session, go on.
pub async fn with_password(
    State(state): State<AppState>,
    client: ClientIp,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Response {
    let st = state.clone();
    PAGE.with_password(
        &state,
        &slug,
        &headers,
        form,
        move |tenant, email, password| async move {
            let password = password.ok_or(crate::error::ApiError::InvalidCredentials)?;
            sessions::check_password(&st, &tenant, client, &email, password).await
        },
    )
    .await
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
    let start =
        passkeys::start_authentication(State(state.clone()), client, ApiPath(slug), ApiJson(body));
    entry::start_passkey(&state, &headers, start).await
}

/// `POST /t/{tenant}/sign-in/passkey` (script, CSRF header): verify the passkey, open the page
/// session, answer `{"redirect": ...}`.
pub async fn with_passkey(
    State(state): State<AppState>,
    client: ClientIp,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasskeyFinish<PublicKeyCredential>>,
) -> Response {
    let st = state.clone();
    entry::finish_passkey(
        &state,
        &slug,
        &headers,
        body,
        move |tenant, ceremony_id, credential| async move {
            let finish = FinishAuthentication {
                ceremony_id,
                credential,
            };
            passkeys::complete_authentication(&st, &tenant, client, finish).await
        },
    )
    .await
}
