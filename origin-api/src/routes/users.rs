//! `POST /t/{tenant}/v1/users`: sign-up with email and password.

use crate::audit::{self, Actor, Event, EventType};
use crate::client_ip::ClientIp;
use crate::domain::{Email, Password, PasswordError};
use crate::error::{is_unique_violation, ApiError};
use crate::errors;
use crate::extract::{ApiJson, ApiPath};
use crate::openapi::{tags, TenantPath, HASHING, JSON_BODY, TENANT, THROTTLED};
use crate::state::AppState;
use crate::tenants::{self, Tenant};
use crate::throttle::{self, Key};
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"email": "grace@example.com", "password": "correct horse battery staple"}))]
pub struct NewUser {
    /// An e-mail address, at most 254 bytes.
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// 8 characters at least, 1024 bytes at most.
    #[schema(value_type = String, min_length = 8, max_length = 1024)]
    password: SecretString,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserCreated {
    id: Uuid,
    email: String,
}

errors!(
    SignUpErrors = [
        JSON_BODY,
        TENANT,
        THROTTLED,
        HASHING,
        &[
            (409, &["email_taken"]),
            (
                422,
                &["email_invalid", "password_too_short", "password_too_long"]
            ),
        ],
    ]
);

/// Sign up with an e-mail address and a password.
#[utoipa::path(
    post,
    path = "/t/{tenant}/v1/users",
    operation_id = "sign_up",
    tag = tags::ACCOUNTS,
    params(TenantPath),
    request_body = NewUser,
    responses((status = 201, description = "The account exists", body = UserCreated), SignUpErrors),
)]
pub async fn create(
    State(state): State<AppState>,
    client: ClientIp,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, ApiJson<UserCreated>), ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let (id, email) = register(&state, &tenant, client, &body.email, body.password).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(UserCreated {
            id,
            email: email.as_str().to_owned(),
        }),
    ))
}

/// Creates an account with a password (the API's and the hosted sign-up page's).
///
/// Shape errors are answered before anything is counted; then the attempt is reserved against the
/// address and the account before the password is hashed, and `email_taken` counts as a failure
/// (it is what an enumeration attempt looks for).
pub(crate) async fn register(
    state: &AppState,
    tenant: &Tenant,
    client: ClientIp,
    email: &str,
    password: SecretString,
) -> Result<(Uuid, Email), ApiError> {
    let email = Email::parse(email).map_err(|_| ApiError::EmailInvalid)?;
    let password = Password::parse(password).map_err(|e| match e {
        PasswordError::TooShort => ApiError::PasswordTooShort(e.to_string()),
        PasswordError::TooLong => ApiError::PasswordTooLong(e.to_string()),
    })?;
    let reservation = throttle::reserve(
        state.db(),
        tenant,
        vec![Key::ip(client), Key::account(email.as_str())],
    )
    .await?;
    let password_hash = match state.hasher().hash(password.into_secret()).await {
        Ok(hash) => hash,
        Err(e) => {
            reservation.release(state.db()).await?;
            return Err(e.into());
        }
    };

    let id = Uuid::new_v4();
    let mut tx = state.db().begin().await?;
    // The unique index decides, not a prior lookup: two concurrent sign-ups cannot both win.
    sqlx::query("INSERT INTO users (id, tenant_id, email, password_hash) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(tenant.id)
        .bind(email.as_str())
        .bind(password_hash)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e, "users_tenant_email_ci") {
                ApiError::EmailTaken
            } else {
                e.into()
            }
        })?;
    audit::record(
        &mut tx,
        Event::new(tenant.id, Actor::User(id), EventType::SignUp).detail("method", "password"),
    )
    .await?;
    tx.commit().await?;
    reservation.succeeded(state.db()).await?;

    tracing::info!(tenant.id = %tenant.id, user.id = %id, "user created");
    Ok((id, email))
}
