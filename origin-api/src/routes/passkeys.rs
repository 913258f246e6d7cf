//! Passkey ceremonies: add a passkey to a signed-in account, passkey-first sign-up, and sign-in by
//! e-mail or without a username (the discoverable flow behind autofill).
//!
//! Each ceremony is two calls: a start that answers the browser's options and an opaque
//! `ceremony_id`, and a finish that brings the browser's credential back with that id. Both sign-in
//! finishes open the same session, tokens and edge state as a password sign-in.
//!
//! Brute force: a start only checks the limits (it counts nothing); a finish reserves an attempt
//! per client address and account, and a credential that does not verify counts as a failure.

use crate::auth::Authenticated;
use crate::client_ip::ClientIp;
use crate::domain::Email;
use crate::error::{is_unique_violation, ApiError};
use crate::errors;
use crate::extract::{ApiJson, ApiPath};
use crate::openapi::{tags, Codes, TenantPath, BEARER, DISABLED, JSON_BODY, TENANT, THROTTLED};
use crate::passkeys::ceremonies::{self, Ceremony, Kind};
use crate::passkeys::credentials::{self, BackupFlags};
use crate::passkeys::schema::{
    AuthenticationCredential, CreationOptions, RegistrationCredential, RequestOptions,
};
use crate::passkeys::{self, why_refused};
use crate::routes::my_passkeys::PasskeyView;
use crate::routes::sessions::{self, TokenResponse};
use crate::state::AppState;
use crate::tenants::{self, Tenant};
use crate::throttle::{self, Key};
use crate::user_agent;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, DiscoverableKey, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, WebauthnError,
};
use webauthn_rs_proto::{
    AuthenticatorSelectionCriteria, ResidentKeyRequirement, UserVerificationPolicy,
};

/// A ceremony's start: what the browser passes to `navigator.credentials`, and the id to finish it.
#[derive(Debug, Serialize)]
pub struct Started<T> {
    ceremony_id: String,
    options: T,
}

/// The start of a registration or sign-up (`Cache-Control: no-store`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Documents `Started<CreationChallengeResponse>`.
pub struct RegistrationStarted {
    /// Opaque; single use, short-lived.
    ceremony_id: String,
    options: CreationOptions,
}

/// The start of a passkey sign-in (`Cache-Control: no-store`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Documents `Started<RequestChallengeResponse>`.
pub struct AuthenticationStarted {
    /// Opaque; single use, short-lived.
    ceremony_id: String,
    options: RequestOptions,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistration {
    pub(crate) ceremony_id: String,
    #[schema(value_type = RegistrationCredential)]
    pub(crate) credential: RegisterPublicKeyCredential,
    /// Defaults to the browser and system, e.g. "Chrome on Linux"; 1 to 64 printable characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub(crate) name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartSignUp {
    #[schema(format = Email, max_length = 254)]
    pub(crate) email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartAuthentication {
    /// Omitted: the username-less (discoverable) flow.
    pub(crate) email: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishAuthentication {
    pub(crate) ceremony_id: String,
    #[schema(value_type = AuthenticationCredential)]
    pub(crate) credential: PublicKeyCredential,
}

/// Every ceremony needs the tenant's passkey settings.
const CONFIGURED: Codes = &[(409, &["passkeys_not_configured"])];
/// What a finish refuses about its ceremony.
const CEREMONY: Codes = &[(400, &["ceremony_invalid", "ceremony_expired"])];

/// Asks for a discoverable credential (so it can sign in without a username, and autofill) with
/// user verification. webauthn-rs leaves resident keys "discouraged" by default.
fn request_passkey(mut options: CreationChallengeResponse) -> CreationChallengeResponse {
    let selection =
        options
            .public_key
            .authenticator_selection
            .get_or_insert(AuthenticatorSelectionCriteria {
                authenticator_attachment: None,
                resident_key: None,
                require_resident_key: false,
                user_verification: UserVerificationPolicy::Required,
            });
    selection.resident_key = Some(ResidentKeyRequirement::Required);
    selection.require_resident_key = true;
    selection.user_verification = UserVerificationPolicy::Required;
    options
}

fn default_name(headers: &HeaderMap) -> String {
    user_agent::describe(
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    )
}

fn refused_registration(e: WebauthnError) -> ApiError {
    match e {
        WebauthnError::CredentialExcludedFromRequest | WebauthnError::CredentialAlreadyExists => {
            ApiError::PasskeyExists
        }
        e => ApiError::PasskeyRejected(why_refused(&e)),
    }
}

fn refused_authentication(e: WebauthnError) -> ApiError {
    match e {
        WebauthnError::CredentialNotFound => ApiError::PasskeyUnknown,
        e => ApiError::PasskeyInvalid(why_refused(&e)),
    }
}

/// Verifies the credential of a taken registration or sign-up ceremony: the passkey to store, and
/// its flags (a response whose authenticator data cannot be read did not verify either).
fn verify_registration(
    tenant: &Tenant,
    taken: &ceremonies::Taken,
    credential: &RegisterPublicKeyCredential,
) -> Result<(Passkey, BackupFlags), ApiError> {
    let registration: PasskeyRegistration = taken.state()?;
    let passkey = passkeys::relying_party(tenant)?
        .finish_passkey_registration(credential, &registration)
        .map_err(refused_registration)?;
    let flags = credentials::registration_flags(credential).ok_or(ApiError::PasskeyRejected(
        "the passkey response is malformed or did not verify",
    ))?;
    Ok((passkey, flags))
}

/// The answer of a finished passkey sign-in or sign-up: a new session, as a password sign-in's.
async fn signed_in(
    state: &AppState,
    tenant: &Tenant,
    user_id: Uuid,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let grant = sessions::open_session(state, tenant, user_id, headers).await?;
    sessions::token_response_now(state, tenant, grant, StatusCode::CREATED).await
}

errors!(StartRegistrationErrors = [BEARER, CONFIGURED]);

/// Start adding a passkey to the caller's account.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/passkeys/registrations",
    operation_id = "start_passkey_registration",
    tag = tags::PASSKEYS,
    params(TenantPath),
    security(("access_token" = [])),
    responses((status = 200, description = "The ceremony", body = RegistrationStarted), StartRegistrationErrors),
)]
pub async fn start_registration(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    begin_registration(&state, &auth.tenant, auth.user_id).await
}

/// Starts adding a passkey to `user_id`'s account (the API's and the hosted account page's).
pub(crate) async fn begin_registration(
    state: &AppState,
    tenant: &Tenant,
    user_id: Uuid,
) -> Result<Response, ApiError> {
    let webauthn = passkeys::relying_party(tenant)?;
    let mut conn = state.db().acquire().await?;
    let (email,): (String,) =
        sqlx::query_as("SELECT email FROM users WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(ApiError::UserNotFound)?;
    let existing: Vec<_> = credentials::of_user(&mut conn, tenant.id, user_id)
        .await?
        .iter()
        .map(|p| p.cred_id().clone())
        .collect();
    drop(conn);
    let (options, registration) = webauthn
        .start_passkey_registration(user_id, &email, &email, Some(existing))
        .map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("starting a registration"))
        })?;
    let ceremony_id = ceremonies::store(
        state.db(),
        tenant.id,
        Kind::Registration,
        &Ceremony {
            user_id: Some(user_id),
            email: None,
            state: registration,
        },
    )
    .await?;
    Ok(started(ceremony_id, request_passkey(options)))
}

fn started<T: Serialize>(ceremony_id: String, options: T) -> Response {
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        ApiJson(Started {
            ceremony_id,
            options,
        }),
    )
        .into_response()
}

errors!(
    FinishRegistrationErrors = [
        BEARER,
        JSON_BODY,
        CONFIGURED,
        CEREMONY,
        &[
            (400, &["passkey_rejected"]),
            (409, &["passkey_exists"]),
            (422, &["passkey_name_invalid"]),
        ],
    ]
);

/// Finish adding a passkey: verify the browser's credential and store it.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/passkeys/registrations/finish",
    operation_id = "finish_passkey_registration",
    tag = tags::PASSKEYS,
    params(TenantPath),
    request_body = FinishRegistration,
    security(("access_token" = [])),
    responses((status = 201, description = "The new passkey", body = PasskeyView), FinishRegistrationErrors),
)]
pub async fn finish_registration(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    ApiJson(body): ApiJson<FinishRegistration>,
) -> Result<(StatusCode, ApiJson<PasskeyView>), ApiError> {
    let view = complete_registration(&state, &auth.tenant, auth.user_id, &headers, body).await?;
    Ok((StatusCode::CREATED, ApiJson(view)))
}

/// Verifies and stores a passkey added to `user_id`'s account.
pub(crate) async fn complete_registration(
    state: &AppState,
    tenant: &Tenant,
    user_id: Uuid,
    headers: &HeaderMap,
    body: FinishRegistration,
) -> Result<PasskeyView, ApiError> {
    let name = credentials::parse_name(&body.name.unwrap_or_else(|| default_name(headers)))?;
    let taken = ceremonies::take(
        state.db(),
        tenant.id,
        &[Kind::Registration],
        &body.ceremony_id,
    )
    .await?;
    // Another user's ceremony is no ceremony of this caller's.
    if taken.ceremony.user_id != Some(user_id) {
        return Err(ApiError::CeremonyInvalid);
    }
    let (passkey, flags) = verify_registration(tenant, &taken, &body.credential)?;
    let mut conn = state.db().acquire().await?;
    let id = credentials::insert(&mut conn, tenant.id, user_id, &name, &passkey, flags).await?;
    tracing::info!(tenant.id = %tenant.id, user.id = %user_id, passkey.id = %id, "passkey registered");
    crate::routes::my_passkeys::view_of(&mut conn, tenant.id, user_id, id).await
}

errors!(
    StartSignUpErrors = [
        JSON_BODY,
        TENANT,
        CONFIGURED,
        THROTTLED,
        &[(422, &["email_invalid"])],
    ]
);

/// Start creating an account with a passkey, no password.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/passkeys/sign-ups",
    operation_id = "start_passkey_sign_up",
    tag = tags::PASSKEYS,
    params(TenantPath),
    request_body = StartSignUp,
    responses((status = 200, description = "The ceremony", body = RegistrationStarted), StartSignUpErrors),
)]
pub async fn start_sign_up(
    State(state): State<AppState>,
    client: ClientIp,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<StartSignUp>,
) -> Result<Response, ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let webauthn = passkeys::relying_party(&tenant)?;
    let email = Email::parse(&body.email).map_err(|_| ApiError::EmailInvalid)?;
    throttle::check(
        state.db(),
        &tenant,
        vec![Key::ip(client), Key::account(email.as_str())],
    )
    .await?;
    // The account's id, fixed now: the authenticator stores it as the credential's user handle.
    let user_id = Uuid::new_v4();
    let (options, registration) = webauthn
        .start_passkey_registration(user_id, email.as_str(), email.as_str(), None)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("starting a sign-up")))?;
    let ceremony_id = ceremonies::store(
        state.db(),
        tenant.id,
        Kind::SignUp,
        &Ceremony {
            user_id: Some(user_id),
            email: Some(email.as_str().to_owned()),
            state: registration,
        },
    )
    .await?;
    Ok(started(ceremony_id, request_passkey(options)))
}

errors!(
    FinishSignUpErrors = [
        JSON_BODY,
        TENANT,
        CONFIGURED,
        CEREMONY,
        THROTTLED,
        &[
            (400, &["passkey_rejected"]),
            (409, &["passkey_exists", "email_taken"]),
            (422, &["passkey_name_invalid"]),
        ],
    ]
);

/// Finish a passkey sign-up: create the account and its passkey in one transaction (409
/// `email_taken` when the e-mail was taken meanwhile), then sign it in.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/passkeys/sign-ups/finish",
    operation_id = "finish_passkey_sign_up",
    tag = tags::PASSKEYS,
    params(TenantPath),
    request_body = FinishRegistration,
    responses((status = 201, description = "The account exists and is signed in", body = TokenResponse), FinishSignUpErrors),
)]
pub async fn finish_sign_up(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<FinishRegistration>,
) -> Result<Response, ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let user_id = complete_sign_up(&state, &tenant, client, &headers, body).await?;
    signed_in(&state, &tenant, user_id, &headers).await
}

/// Creates the account of a finished sign-up ceremony with its passkey; returns its id.
pub(crate) async fn complete_sign_up(
    state: &AppState,
    tenant: &Tenant,
    client: ClientIp,
    headers: &HeaderMap,
    body: FinishRegistration,
) -> Result<Uuid, ApiError> {
    let name = credentials::parse_name(&body.name.unwrap_or_else(|| default_name(headers)))?;
    let taken = ceremonies::take(state.db(), tenant.id, &[Kind::SignUp], &body.ceremony_id).await?;
    let (Some(user_id), Some(email)) = (taken.ceremony.user_id, taken.ceremony.email.clone())
    else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "a sign-up ceremony without its user"
        )));
    };
    let reservation = throttle::reserve(
        state.db(),
        tenant,
        vec![Key::ip(client), Key::account(&email)],
    )
    .await?;
    // Every `Err` from here on leaves the attempt counted.
    let (passkey, flags) = verify_registration(tenant, &taken, &body.credential)?;

    let mut tx = state.db().begin().await?;
    sqlx::query(
        "INSERT INTO users (id, tenant_id, email, password_hash) VALUES ($1, $2, $3, NULL)",
    )
    .bind(user_id)
    .bind(tenant.id)
    .bind(&email)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "users_tenant_email_ci") {
            ApiError::EmailTaken
        } else {
            e.into()
        }
    })?;
    let passkey_id =
        credentials::insert(&mut tx, tenant.id, user_id, &name, &passkey, flags).await?;
    crate::audit::record(
        &mut tx,
        crate::audit::Event::new(
            tenant.id,
            crate::audit::Actor::User(user_id),
            crate::audit::EventType::SignUp,
        )
        .detail("method", "passkey"),
    )
    .await?;
    tx.commit().await?;
    reservation.succeeded(state.db()).await?;
    tracing::info!(tenant.id = %tenant.id, user.id = %user_id, passkey.id = %passkey_id, "user created with a passkey");
    Ok(user_id)
}

errors!(StartAuthenticationErrors = [JSON_BODY, TENANT, CONFIGURED, THROTTLED]);

/// Start a passkey sign-in. With an e-mail, the account's passkeys are allowed; without one (or for
/// an e-mail with no passkey, so that the answer does not depend on it) any discoverable passkey of
/// the tenant is, which is what autofill uses.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/passkeys/authentications",
    operation_id = "start_passkey_sign_in",
    tag = tags::PASSKEYS,
    params(TenantPath),
    request_body = StartAuthentication,
    responses((status = 200, description = "The ceremony", body = AuthenticationStarted), StartAuthenticationErrors),
)]
pub async fn start_authentication(
    State(state): State<AppState>,
    client: ClientIp,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<StartAuthentication>,
) -> Result<Response, ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let webauthn = passkeys::relying_party(&tenant)?;
    let mut keys = vec![Key::ip(client)];
    if let Some(email) = &body.email {
        keys.push(Key::account(email));
    }
    throttle::check(state.db(), &tenant, keys).await?;

    let mut account = None;
    if let Some(email) = body.email.as_deref().and_then(|e| Email::parse(e).ok()) {
        let mut conn = state.db().acquire().await?;
        let user: Option<(Uuid,)> = sqlx::query_as(
            "SELECT id FROM users WHERE tenant_id = $1 AND lower(email) = lower($2)",
        )
        .bind(tenant.id)
        .bind(email.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((user_id,)) = user {
            let passkeys = credentials::of_user(&mut conn, tenant.id, user_id).await?;
            if !passkeys.is_empty() {
                account = Some((user_id, email, passkeys));
            }
        }
    }

    let internal =
        |e: WebauthnError| ApiError::Internal(anyhow::Error::new(e).context("starting a sign-in"));
    let (ceremony_id, mut options): (String, RequestChallengeResponse) = match account {
        Some((user_id, email, passkeys)) => {
            let (options, authentication) = webauthn
                .start_passkey_authentication(&passkeys)
                .map_err(internal)?;
            let ceremony = Ceremony {
                user_id: Some(user_id),
                email: Some(email.as_str().to_owned()),
                state: authentication,
            };
            (
                ceremonies::store(state.db(), tenant.id, Kind::Authentication, &ceremony).await?,
                options,
            )
        }
        None => {
            let (options, authentication) = webauthn
                .start_discoverable_authentication()
                .map_err(internal)?;
            let ceremony = Ceremony {
                user_id: None,
                email: None,
                state: authentication,
            };
            (
                ceremonies::store(state.db(), tenant.id, Kind::Discoverable, &ceremony).await?,
                options,
            )
        }
    };
    options.public_key.user_verification = UserVerificationPolicy::Required;
    Ok(started(ceremony_id, options))
}

errors!(
    FinishAuthenticationErrors = [
        DISABLED,
        JSON_BODY,
        TENANT,
        CONFIGURED,
        CEREMONY,
        THROTTLED,
        &[(401, &["passkey_invalid", "passkey_unknown"])],
    ]
);

/// Finish a passkey sign-in: verify the assertion, record the credential's new counter and backup
/// flags, and sign in.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/passkeys/authentications/finish",
    operation_id = "finish_passkey_sign_in",
    tag = tags::PASSKEYS,
    params(TenantPath),
    request_body = FinishAuthentication,
    responses((status = 201, description = "A new session", body = TokenResponse), FinishAuthenticationErrors),
)]
pub async fn finish_authentication(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<FinishAuthentication>,
) -> Result<Response, ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let user_id = complete_authentication(&state, &tenant, client, body).await?;
    signed_in(&state, &tenant, user_id, &headers).await
}

/// Verifies a passkey sign-in and records the credential's use; returns whose account it opens.
pub(crate) async fn complete_authentication(
    state: &AppState,
    tenant: &Tenant,
    client: ClientIp,
    body: FinishAuthentication,
) -> Result<Uuid, ApiError> {
    let taken = ceremonies::take(
        state.db(),
        tenant.id,
        &[Kind::Authentication, Kind::Discoverable],
        &body.ceremony_id,
    )
    .await?;
    let mut keys = vec![Key::ip(client)];
    if let Some(email) = &taken.ceremony.email {
        keys.push(Key::account(email));
    }
    let reservation = throttle::reserve(state.db(), tenant, keys).await?;
    // Every `Err` from here on leaves the attempt counted.
    let user_id = match verify_assertion(state, tenant, &taken, &body.credential).await {
        Ok(user_id) => user_id,
        Err(e) => {
            let email = taken.ceremony.email.as_deref();
            crate::audit::record_sign_in_failure(
                state.db(),
                tenant.id,
                None,
                email,
                "passkey",
                &reservation,
            )
            .await?;
            return Err(e);
        }
    };
    reservation.succeeded(state.db()).await?;
    Ok(user_id)
}

/// Verifies an assertion against a taken ceremony and records the use; returns whose it is.
async fn verify_assertion(
    state: &AppState,
    tenant: &Tenant,
    taken: &ceremonies::Taken,
    credential: &PublicKeyCredential,
) -> Result<Uuid, ApiError> {
    let webauthn = passkeys::relying_party(tenant)?;
    let now = OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    let (found, result) = match taken.kind {
        Kind::Authentication => {
            let authentication: PasskeyAuthentication = taken.state()?;
            let result = webauthn
                .finish_passkey_authentication(credential, &authentication)
                .map_err(refused_authentication)?;
            let found = credentials::find_for_update(&mut tx, tenant.id, result.cred_id())
                .await?
                .filter(|f| Some(f.user_id) == taken.ceremony.user_id)
                .ok_or(ApiError::PasskeyUnknown)?;
            (found, result)
        }
        _ => {
            let authentication: DiscoverableAuthentication = taken.state()?;
            let (user_handle, credential_id) = webauthn
                .identify_discoverable_authentication(credential)
                .map_err(refused_authentication)?;
            // The credential must be registered here, to the user its handle names.
            let found = credentials::find_for_update(&mut tx, tenant.id, credential_id)
                .await?
                .filter(|f| f.user_id == user_handle)
                .ok_or(ApiError::PasskeyUnknown)?;
            let key = DiscoverableKey::from(&found.passkey);
            let result = webauthn
                .finish_discoverable_authentication_v2(credential, authentication, &key)
                .map_err(refused_authentication)?;
            (found, result)
        }
    };
    let user_id = found.user_id;
    credentials::record_use(&mut tx, found, &result, now).await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant.id, user.id = %user_id, passkey.counter = result.counter(), "passkey verified");
    Ok(user_id)
}
