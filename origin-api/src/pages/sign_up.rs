//! `/t/{tenant}/sign-up`: passkey first (script), a password as the alternative (plain form post).

use super::entry::{self, EntryPage, PasskeyFinish, PasswordForm};
use super::views;
use crate::client_ip::ClientIp;
use crate::extract::{ApiJson, ApiPath};
use crate::routes::passkeys::{self, FinishRegistration, StartSignUp};
use crate::routes::users;
use crate::state::AppState;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use secrecy::SecretString;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

const PAGE: EntryPage = EntryPage {
    page: "sign-up",
    title: "Create your account",
    view: views::sign_up,
};

/// `GET /t/{tenant}/sign-up[?return_to=/t/{tenant}/...]`.
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
    PAGE.render(
        &state,
        &tenant,
        &headers,
        &return_to,
        "",
        StatusCode::OK,
        None,
    )
}

/// `POST /t/{tenant}/sign-up` (form): create the account with a password and sign it in.
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
            // No password is a too-short one: the same answer as the API's.
            let password = password.unwrap_or_else(|| SecretString::from(String::new()));
            let (user_id, _) = users::register(&st, &tenant, client, &email, password).await?;
            Ok(user_id)
        },
    )
    .await
}

/// `POST /t/{tenant}/sign-up/passkey/start` (script, CSRF header) `{"email"}`: the options for
/// `navigator.credentials.create`.
pub async fn start_passkey(
    State(state): State<AppState>,
    client: ClientIp,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<StartSignUp>,
) -> Response {
    let start = passkeys::start_sign_up(State(state.clone()), client, ApiPath(slug), ApiJson(body));
    entry::start_passkey(&state, &headers, start).await
}

/// `POST /t/{tenant}/sign-up/passkey` (script, CSRF header): create the account with its passkey,
/// open the page session, answer `{"redirect": ...}`.
pub async fn with_passkey(
    State(state): State<AppState>,
    client: ClientIp,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasskeyFinish<RegisterPublicKeyCredential>>,
) -> Response {
    let (st, hs) = (state.clone(), headers.clone());
    entry::finish_passkey(
        &state,
        &slug,
        &headers,
        body,
        move |tenant, ceremony_id, credential| async move {
            let finish = FinishRegistration {
                ceremony_id,
                credential,
                name: None,
            };
            passkeys::complete_sign_up(&st, &tenant, client, &hs, finish).await
        },
    )
    .await
}
