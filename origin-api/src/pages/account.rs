//! `/t/{tenant}/account`: the signed-in user's sessions (sign out one, sign out everywhere) and
//! passkeys (rename, delete, add), and signing out. Every action is a form post answered by a redirect
//! back to the page, except adding a passkey (WebAuthn needs the script).

use super::views::{self, Account, Frame};
use super::{csrf, json_error, page, see_other, shown};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::hosted_session::{self, PageSession};
use crate::revocation::{self, Target};
use crate::routes::passkeys::{self, FinishRegistration};
use crate::routes::{my_passkeys, my_sessions};
use crate::state::AppState;
use crate::tenants::Tenant;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

fn account_path(tenant: &Tenant) -> String {
    format!("/t/{}/account", tenant.slug)
}

/// The sign-in page, coming back here afterwards.
fn to_sign_in(tenant: &Tenant) -> Response {
    let back: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", &account_path(tenant))
        .finish();
    see_other(&format!("/t/{}/sign-in?{back}", tenant.slug), &[])
}

/// The tenant and its signed-in user, or the response to give instead (404 page, or to sign-in).
async fn signed_in(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
) -> Result<(Tenant, PageSession), Response> {
    let tenant = super::tenant(state, slug).await?;
    match hosted_session::resolve(state, &tenant, headers).await {
        Ok(Some(session)) => Ok((tenant, session)),
        Ok(None) => Err(to_sign_in(&tenant)),
        Err(e) => Err(super::problem(e, Some(&tenant), "/")),
    }
}

async fn render(
    state: &AppState,
    tenant: &Tenant,
    session: &PageSession,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<ApiError>,
) -> Result<Response, ApiError> {
    let (email, has_password): (String, bool) = sqlx::query_as(
        "SELECT email, password_hash IS NOT NULL FROM users WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.id)
    .bind(session.user_id)
    .fetch_optional(state.db())
    .await?
    .ok_or(ApiError::UserNotFound)?;
    let sessions =
        my_sessions::list_of(state.db(), tenant.id, session.user_id, session.session_id).await?;
    let passkeys = my_passkeys::list_of(state.db(), tenant.id, session.user_id).await?;
    let token = csrf::for_page(state, headers);
    let base = format!("/t/{}", tenant.slug);
    let error = error.as_ref().map(shown);
    let frame = Frame {
        page: "account",
        title: "Your account",
        tenant_name: &tenant.name,
        base: &base,
        csrf: &token.token,
        return_to: "",
        error: error.as_ref(),
    };
    let account = Account {
        email: &email,
        has_password,
        sessions: &sessions,
        passkeys: &passkeys,
    };
    Ok(page(
        status,
        &[token.set_cookie],
        views::account(&frame, &account),
    ))
}

/// `GET /t/{tenant}/account`.
pub async fn show(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
) -> Response {
    let (tenant, session) = match signed_in(&state, &slug, &headers).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    render(&state, &tenant, &session, &headers, StatusCode::OK, None)
        .await
        .unwrap_or_else(|e| super::problem(e, Some(&tenant), "/"))
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

#[derive(Debug, Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm_last: Option<String>,
}

/// Runs a form's action for the signed-in user: CSRF first, then `action`; success goes back to the
/// account page (or where `action` says), a refusal shows the page again with the error.
async fn act<F, Fut>(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
    presented_csrf: Result<String, FormRejection>,
    action: F,
) -> Response
where
    F: FnOnce(Tenant, PageSession) -> Fut,
    Fut: std::future::Future<Output = Result<Option<Response>, ApiError>>,
{
    let (tenant, session) = match signed_in(state, slug, headers).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let outcome = match presented_csrf {
        Err(_) => Err(ApiError::InvalidBody("the form is malformed".to_owned())),
        Ok(presented) => match csrf::verify(state, headers, &presented) {
            Err(e) => Err(e),
            Ok(()) => action(tenant.clone(), session.clone()).await,
        },
    };
    match outcome {
        Ok(Some(response)) => response,
        Ok(None) => see_other(&account_path(&tenant), &[]),
        Err(e) => {
            // The session may be gone (signed out meanwhile): then to sign-in.
            match hosted_session::resolve(state, &tenant, headers).await {
                Ok(Some(session)) => render(state, &tenant, &session, headers, e.status(), Some(e))
                    .await
                    .unwrap_or_else(|e| super::problem(e, Some(&tenant), "/")),
                _ => to_sign_in(&tenant),
            }
        }
    }
}

/// Revokes sessions of the user in one transaction, then tells the edge (the outbox retries).
async fn revoke(state: &AppState, tenant: &Tenant, target: Target) -> Result<usize, ApiError> {
    let mut tx = state.db().begin().await?;
    let revoked =
        revocation::revoke_in_tx(&mut tx, state, tenant.id, target, OffsetDateTime::now_utc())
            .await?;
    if let Target::One {
        user_id,
        session_id,
    } = target
    {
        crate::audit::record(
            &mut tx,
            crate::audit::Event::new(
                tenant.id,
                crate::audit::Actor::User(user_id),
                crate::audit::EventType::SessionRevoked,
            )
            .session(session_id),
        )
        .await?;
    }
    tx.commit().await?;
    let count = revoked.count;
    revocation::push_committed(state, revoked).await?;
    Ok(count)
}

/// `POST /t/{tenant}/sign-out` (form): end this browser's session, here and at the edge.
pub async fn sign_out(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf);
    let st = state.clone();
    act(&state, &slug, &headers, csrf, move |tenant, session| async move {
        let target = Target::One {
            user_id: session.user_id,
            session_id: session.session_id,
        };
        revoke(&st, &tenant, target).await?;
        tracing::info!(tenant.id = %tenant.id, session.id = %session.session_id, "signed out on the hosted pages");
        let clear = hosted_session::clear(&st, &tenant);
        Ok(Some(see_other(
            &format!("/t/{}/sign-in", tenant.slug),
            &[clear],
        )))
    })
    .await
}

/// `POST /t/{tenant}/account/sign-out-everywhere` (form): every session of the user, this one
/// included, and the user's not-before (as `DELETE /v1/sessions`).
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf);
    let st = state.clone();
    act(&state, &slug, &headers, csrf, move |tenant, session| async move {
        let mut tx = st.db().begin().await?;
        let (_, revoked) = my_sessions::sign_out_everywhere_in_tx(
            &mut tx,
            &st,
            tenant.id,
            session.user_id,
            OffsetDateTime::now_utc(),
        )
        .await?
        .ok_or(ApiError::UserNotFound)?;
        crate::audit::record(&mut tx, crate::audit::Event::new(tenant.id, crate::audit::Actor::User(session.user_id), crate::audit::EventType::SignOutEverywhere).detail("revoked", revoked.count)).await?;
        tx.commit().await?;
        tracing::info!(tenant.id = %tenant.id, user.id = %session.user_id, sessions.revoked = revoked.count, "signed out everywhere on the hosted pages");
        revocation::push_committed(&st, revoked).await?;
        let clear = hosted_session::clear(&st, &tenant);
        Ok(Some(see_other(
            &format!("/t/{}/sign-in", tenant.slug),
            &[clear],
        )))
    })
    .await
}

/// `POST /t/{tenant}/account/sessions/{id}/sign-out` (form): end another session of the user's.
pub async fn sign_out_session(
    State(state): State<AppState>,
    ApiPath((slug, raw_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.map(|Form(f)| f.csrf);
    let st = state.clone();
    act(
        &state,
        &slug,
        &headers,
        csrf,
        move |tenant, session| async move {
            let session_id = Uuid::parse_str(&raw_id).map_err(|_| ApiError::SessionNotFound)?;
            let target = Target::One {
                user_id: session.user_id,
                session_id,
            };
            if revoke(&st, &tenant, target).await? == 0 {
                return Err(ApiError::SessionNotFound);
            }
            Ok(None)
        },
    )
    .await
}

/// `POST /t/{tenant}/account/passkeys/{id}/rename` (form `name`).
pub async fn rename_passkey(
    State(state): State<AppState>,
    ApiPath((slug, raw_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    form: Result<Form<RenameForm>, FormRejection>,
) -> Response {
    let (csrf, name) = match form {
        Ok(Form(f)) => (Ok(f.csrf), f.name),
        Err(e) => (Err(e), String::new()),
    };
    let st = state.clone();
    act(
        &state,
        &slug,
        &headers,
        csrf,
        move |tenant, session| async move {
            my_passkeys::rename_of(st.db(), tenant.id, session.user_id, &raw_id, &name).await?;
            Ok(None)
        },
    )
    .await
}

/// `POST /t/{tenant}/account/passkeys/{id}/delete` (form; `confirm_last` to delete the last way to
/// sign in).
pub async fn delete_passkey(
    State(state): State<AppState>,
    ApiPath((slug, raw_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
    form: Result<Form<DeleteForm>, FormRejection>,
) -> Response {
    let (csrf, confirm_last) = match form {
        Ok(Form(f)) => (Ok(f.csrf), f.confirm_last.as_deref() == Some("true")),
        Err(e) => (Err(e), false),
    };
    let st = state.clone();
    act(
        &state,
        &slug,
        &headers,
        csrf,
        move |tenant, session| async move {
            my_passkeys::delete_of(st.db(), tenant.id, session.user_id, &raw_id, confirm_last)
                .await?;
            Ok(None)
        },
    )
    .await
}

/// The signed-in user of a script call, checked for CSRF; 401 `session_revoked` when there is none.
async fn script_caller(
    state: &AppState,
    slug: &str,
    headers: &HeaderMap,
) -> Result<(Tenant, PageSession), ApiError> {
    csrf::verify_header(state, headers)?;
    let tenant = crate::tenants::find(state.db(), slug).await?;
    let session = hosted_session::resolve(state, &tenant, headers)
        .await?
        .ok_or(ApiError::SessionRevoked)?;
    Ok((tenant, session))
}

/// `POST /t/{tenant}/account/passkeys/start` (script, CSRF header): options to add a passkey.
pub async fn start_passkey(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
) -> Response {
    let outcome = async {
        let (tenant, session) = script_caller(&state, &slug, &headers).await?;
        passkeys::begin_registration(&state, &tenant, session.user_id).await
    }
    .await;
    outcome.unwrap_or_else(json_error)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeyFinish {
    ceremony_id: String,
    credential: RegisterPublicKeyCredential,
}

/// `POST /t/{tenant}/account/passkeys/finish` (script, CSRF header): store the new passkey.
pub async fn finish_passkey(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasskeyFinish>,
) -> Response {
    let outcome = async {
        let (tenant, session) = script_caller(&state, &slug, &headers).await?;
        let finish = FinishRegistration {
            ceremony_id: body.ceremony_id,
            credential: body.credential,
            name: None,
        };
        let view =
            passkeys::complete_registration(&state, &tenant, session.user_id, &headers, finish)
                .await?;
        Ok::<_, ApiError>((StatusCode::CREATED, ApiJson(view)).into_response())
    }
    .await;
    outcome.unwrap_or_else(json_error)
}
