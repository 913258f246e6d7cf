//! The HTTP boundary's one error type and its JSON envelope.
//!
//! Every error answers `{"error": {"code": "<stable_snake_case>", "message": "..."}}`. Codes are part
//! of the public contract; rename none of them. A 5xx body says only that something failed on our side:
//! the cause travels in a response extension to [`log_errors`], which logs it once.

use crate::hashing::HashError;
use crate::throttle::Throttled;
use auth_core::Rejection;
use axum::extract::rejection::JsonRejection;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::sync::Arc;

/// Everything a handler can answer other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // Request shape.
    #[error("the request body is not valid json")]
    InvalidJson(String),
    #[error("the request body must be json (content-type: application/json)")]
    UnsupportedMediaType,
    #[error("{0}")]
    InvalidBody(String),
    #[error("the request body exceeds the size limit")]
    PayloadTooLarge,
    #[error("no such resource")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,

    // Admin.
    #[error("a valid admin token, or an admin API key of this tenant, is required")]
    Unauthorized,
    #[error("this route needs the operator's bootstrap token; an admin API key acts only on its own tenant's routes")]
    BootstrapRequired,
    #[error("this admin API key has been revoked")]
    AdminKeyRevoked,
    #[error("this admin API key has expired")]
    AdminKeyExpired,
    /// The permission the key lacks.
    #[error("this admin API key lacks the {0} permission")]
    PermissionDenied(&'static str),
    #[error("no such admin API key")]
    AdminKeyNotFound,
    #[error("the admin API key is already revoked")]
    AdminKeyAlreadyRevoked,
    #[error("a tenant has at most 100 active admin API keys; revoke one first")]
    AdminKeyLimit,
    #[error("a tenant with this slug already exists")]
    TenantExists,
    #[error("{0}")]
    SlugInvalid(String),
    /// A field's stable code and what the client is told.
    #[error("{1}")]
    FieldInvalid(&'static str, &'static str),

    // Tenants and users.
    #[error("no such tenant")]
    TenantNotFound,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("email address is malformed")]
    EmailInvalid,
    #[error("{0}")]
    PasswordTooShort(String),
    #[error("{0}")]
    PasswordTooLong(String),
    #[error("no such user")]
    UserNotFound,
    #[error("this account is disabled")]
    UserDisabled,
    #[error("the passkey relying-party id cannot change while passkeys are registered under it")]
    PasskeyRpIdLocked,
    #[error("no such signing key")]
    KeyNotFound,
    #[error("the signing key is already revoked")]
    KeyAlreadyRevoked,

    // Sessions.
    #[error("email or password is incorrect")]
    InvalidCredentials,
    #[error("refresh token is unknown or expired")]
    RefreshTokenInvalid,
    #[error("refresh token was already used; the session has been revoked")]
    RefreshTokenReused,
    #[error("the session has been revoked")]
    SessionRevoked,
    #[error("no such session")]
    SessionNotFound,

    // Passkeys.
    #[error("passkeys are not configured for this tenant")]
    PasskeysNotConfigured,
    #[error("the passkey ceremony is unknown or was already used; start again")]
    CeremonyInvalid,
    #[error("the passkey ceremony expired; start again")]
    CeremonyExpired,
    /// A registration whose credential did not verify; the message says why.
    #[error("{0}")]
    PasskeyRejected(&'static str),
    /// A sign-in whose assertion did not verify; the message says why.
    #[error("{0}")]
    PasskeyInvalid(&'static str),
    #[error("this passkey is not registered here")]
    PasskeyUnknown,
    #[error("this passkey is already registered")]
    PasskeyExists,
    #[error("no such passkey")]
    PasskeyNotFound,
    #[error("this is the account's last way to sign in; confirm to delete it anyway")]
    LastSignInMethod,

    // Hosted pages.
    #[error("the form expired or did not come from this site; reload the page and try again")]
    CsrfInvalid,
    // OAuth clients (the admin API; the protocol endpoints answer in RFC 6749's format instead).
    #[error("no such client")]
    ClientNotFound,

    // Organizations.
    #[error("no such organization")]
    OrgNotFound,
    #[error("no such member of this organization")]
    MemberNotFound,
    #[error("the user is already a member of this organization")]
    AlreadyMember,
    /// The caller's roles in the organization lack this scope.
    #[error("this needs the {0} scope in the organization")]
    OrgScopeMissing(&'static str),
    #[error("you may only grant or take away roles whose scopes you hold")]
    RoleNotGrantable,
    #[error("an organization must keep at least one owner")]
    LastOwner,
    #[error("no such role")]
    RoleNotFound,
    #[error("the role is held by members or offered by pending invitations")]
    RoleInUse,
    #[error("the owner role cannot be deleted")]
    RoleProtected,
    #[error("no such invitation")]
    InvitationNotFound,
    #[error("the invitation has expired; ask for a new one")]
    InvitationExpired,
    #[error("the invitation was revoked")]
    InvitationRevoked,
    #[error("the invitation was already accepted")]
    InvitationUsed,
    #[error("the invitation is for another e-mail address")]
    InvitationEmailMismatch,

    // Bearer tokens.
    #[error("{0}")]
    Token(Rejection),

    // Load and abuse.
    #[error("too many failed attempts; retry later")]
    TooManyAttempts(Throttled),
    #[error("the server is busy; retry shortly")]
    ServerBusy,

    /// Our fault. The cause is logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

/// The cause of a 5xx, carried to the logging middleware.
#[derive(Debug, Clone)]
pub struct InternalCause(pub Arc<anyhow::Error>);

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unauthorized => "unauthorized",
            ApiError::BootstrapRequired => "bootstrap_required",
            ApiError::AdminKeyRevoked => "admin_key_revoked",
            ApiError::AdminKeyExpired => "admin_key_expired",
            ApiError::PermissionDenied(_) => "permission_denied",
            ApiError::AdminKeyNotFound => "admin_key_not_found",
            ApiError::AdminKeyAlreadyRevoked => "admin_key_already_revoked",
            ApiError::AdminKeyLimit => "admin_key_limit",
            ApiError::TenantExists => "tenant_exists",
            ApiError::SlugInvalid(_) => "slug_invalid",
            ApiError::FieldInvalid(code, _) => code,
            ApiError::TenantNotFound => "tenant_not_found",
            ApiError::EmailTaken => "email_taken",
            ApiError::EmailInvalid => "email_invalid",
            ApiError::PasswordTooShort(_) => "password_too_short",
            ApiError::PasswordTooLong(_) => "password_too_long",
            ApiError::UserNotFound => "user_not_found",
            ApiError::UserDisabled => "user_disabled",
            ApiError::PasskeyRpIdLocked => "passkey_rp_id_locked",
            ApiError::KeyNotFound => "key_not_found",
            ApiError::KeyAlreadyRevoked => "key_already_revoked",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::RefreshTokenInvalid => "refresh_token_invalid",
            ApiError::RefreshTokenReused => "refresh_token_reused",
            ApiError::SessionRevoked => "session_revoked",
            ApiError::SessionNotFound => "session_not_found",
            ApiError::PasskeysNotConfigured => "passkeys_not_configured",
            ApiError::CeremonyInvalid => "ceremony_invalid",
            ApiError::CeremonyExpired => "ceremony_expired",
            ApiError::PasskeyRejected(_) => "passkey_rejected",
            ApiError::PasskeyInvalid(_) => "passkey_invalid",
            ApiError::PasskeyUnknown => "passkey_unknown",
            ApiError::PasskeyExists => "passkey_exists",
            ApiError::PasskeyNotFound => "passkey_not_found",
            ApiError::LastSignInMethod => "last_sign_in_method",
            ApiError::CsrfInvalid => "csrf_invalid",
            ApiError::ClientNotFound => "client_not_found",
            ApiError::OrgNotFound => "org_not_found",
            ApiError::MemberNotFound => "member_not_found",
            ApiError::AlreadyMember => "already_member",
            ApiError::OrgScopeMissing(_) => "permission_denied",
            ApiError::RoleNotGrantable => "role_not_grantable",
            ApiError::LastOwner => "last_owner",
            ApiError::RoleNotFound => "role_not_found",
            ApiError::RoleInUse => "role_in_use",
            ApiError::RoleProtected => "role_protected",
            ApiError::InvitationNotFound => "invitation_not_found",
            ApiError::InvitationExpired => "invitation_expired",
            ApiError::InvitationRevoked => "invitation_revoked",
            ApiError::InvitationUsed => "invitation_used",
            ApiError::InvitationEmailMismatch => "invitation_email_mismatch",
            ApiError::Token(r) => r.code(),
            ApiError::TooManyAttempts(_) => "too_many_attempts",
            ApiError::ServerBusy => "server_busy",
            ApiError::Internal(_) => "internal_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::CeremonyInvalid
            | ApiError::CeremonyExpired
            | ApiError::PasskeyRejected(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound
            | ApiError::TenantNotFound
            | ApiError::UserNotFound
            | ApiError::KeyNotFound
            | ApiError::SessionNotFound
            | ApiError::PasskeyNotFound
            | ApiError::ClientNotFound
            | ApiError::AdminKeyNotFound
            | ApiError::OrgNotFound
            | ApiError::MemberNotFound
            | ApiError::RoleNotFound
            | ApiError::InvitationNotFound => StatusCode::NOT_FOUND,
            ApiError::InvitationExpired | ApiError::InvitationRevoked => StatusCode::GONE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::CsrfInvalid
            | ApiError::BootstrapRequired
            | ApiError::PermissionDenied(_)
            | ApiError::UserDisabled
            | ApiError::OrgScopeMissing(_)
            | ApiError::RoleNotGrantable
            | ApiError::InvitationEmailMismatch => StatusCode::FORBIDDEN,
            ApiError::Unauthorized
            | ApiError::AdminKeyRevoked
            | ApiError::AdminKeyExpired
            | ApiError::InvalidCredentials
            | ApiError::RefreshTokenInvalid
            | ApiError::RefreshTokenReused
            | ApiError::SessionRevoked
            | ApiError::PasskeyInvalid(_)
            | ApiError::PasskeyUnknown => StatusCode::UNAUTHORIZED,
            ApiError::TenantExists
            | ApiError::EmailTaken
            | ApiError::PasskeysNotConfigured
            | ApiError::PasskeyExists
            | ApiError::KeyAlreadyRevoked
            | ApiError::LastSignInMethod
            | ApiError::AdminKeyAlreadyRevoked
            | ApiError::AdminKeyLimit
            | ApiError::PasskeyRpIdLocked
            | ApiError::AlreadyMember
            | ApiError::LastOwner
            | ApiError::RoleInUse
            | ApiError::RoleProtected
            | ApiError::InvitationUsed => StatusCode::CONFLICT,
            ApiError::InvalidBody(_)
            | ApiError::SlugInvalid(_)
            | ApiError::FieldInvalid(..)
            | ApiError::EmailInvalid
            | ApiError::PasswordTooShort(_)
            | ApiError::PasswordTooLong(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Token(r) => {
                StatusCode::from_u16(r.status()).unwrap_or(StatusCode::UNAUTHORIZED)
            }
            ApiError::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServerBusy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        let body = axum::Json(Envelope {
            error: Body {
                code: self.code(),
                message: &message,
            },
        });
        let mut response = (status, body).into_response();
        match self {
            ApiError::Token(rejection) => challenge(&mut response, &rejection),
            ApiError::Unauthorized | ApiError::AdminKeyRevoked | ApiError::AdminKeyExpired => {
                challenge(&mut response, &Rejection::Missing)
            }
            ApiError::TooManyAttempts(throttled) => {
                response
                    .extensions_mut()
                    .insert(crate::throttle::tarpit::Refused);
                let headers = response.headers_mut();
                for (name, value) in [
                    ("retry-after", throttled.retry_after_secs.to_string()),
                    ("ratelimit-policy", throttled.policy_field()),
                    ("ratelimit", throttled.limit_field()),
                ] {
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        headers.insert(name, value);
                    }
                }
            }
            ApiError::ServerBusy => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(BUSY_RETRY_AFTER_SECS),
                );
            }
            ApiError::Internal(cause) => {
                response
                    .extensions_mut()
                    .insert(InternalCause(Arc::new(cause)));
            }
            _ => {}
        }
        response
    }
}

/// What a 503 `server_busy` asks: the hashing queue and the pool drain in well under a second.
const BUSY_RETRY_AFTER_SECS: &str = "1";

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => ApiError::ServerBusy,
            HashError::Internal(e) => ApiError::Internal(e),
        }
    }
}

/// The RFC 6750 challenge of a refused token, rendered as the edge renders it (`auth_core::bearer`).
fn challenge(response: &mut Response, rejection: &Rejection) {
    if let Some(value) =
        auth_core::bearer::challenge(rejection).and_then(|c| HeaderValue::from_str(&c).ok())
    {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::PoolTimedOut) => pool_exhausted(),
            _ => ApiError::Internal(e),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut => pool_exhausted(),
            e => ApiError::Internal(anyhow::Error::new(e).context("database")),
        }
    }
}

/// Every pooled connection stayed busy past `ORIGIN_DB_ACQUIRE_TIMEOUT_MS` (a sign-in flood holds
/// them on one account's row lock): load, not a fault, so 503 `server_busy` and a retry, not a 500.
fn pool_exhausted() -> ApiError {
    tracing::warn!("no database connection within the acquire timeout; answering 503 server_busy");
    ApiError::ServerBusy
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::Token(r)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::JsonSyntaxError(e) => ApiError::InvalidJson(e.body_text()),
            // Well-formed json of the wrong shape: a missing field, a wrong type.
            JsonRejection::JsonDataError(e) => {
                ApiError::InvalidBody(describe_data_error(&e.body_text()))
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            other => ApiError::InvalidJson(other.body_text()),
        }
    }
}

/// Names a missing field, and otherwise stays generic: serde's type errors quote the offending value,
/// which may be a password sent with the wrong type.
fn describe_data_error(text: &str) -> String {
    match text.find("missing field `") {
        Some(start) => {
            let rest = text.get(start..).unwrap_or_default();
            let end = rest
                .get(15..)
                .and_then(|r| r.find('`'))
                .map_or(rest.len(), |i| i + 16);
            rest.get(..end).unwrap_or(rest).to_owned()
        }
        None => "a field of the request body has the wrong type".to_owned(),
    }
}

impl From<QueryRejection> for ApiError {
    /// Serde's message may quote the offending value: not echoed.
    fn from(_: QueryRejection) -> Self {
        ApiError::FieldInvalid(
            "query_invalid",
            "the query string has a malformed or unknown parameter",
        )
    }
}

impl From<PathRejection> for ApiError {
    /// A path that does not decode names nothing we have.
    fn from(_: PathRejection) -> Self {
        ApiError::NotFound
    }
}

/// Logs the cause of every 5xx once, at the boundary.
pub async fn log_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(
            error.cause = format!("{cause:#}"),
            http.status = response.status().as_u16(),
            "request failed"
        );
    }
    response
}

/// Marks what the router's fallbacks answer: no route took the request (tests tell it apart from a
/// handler's own 404 or 405).
#[derive(Debug, Clone, Copy)]
pub struct Unrouted;

fn unrouted(error: ApiError) -> Response {
    let mut response = error.into_response();
    response.extensions_mut().insert(Unrouted);
    response
}

/// Unknown routes.
pub async fn not_found() -> Response {
    unrouted(ApiError::NotFound)
}

/// Known routes, wrong method.
pub async fn method_not_allowed() -> Response {
    unrouted(ApiError::MethodNotAllowed)
}

/// Whether a database error is a unique violation of the named constraint or index.
pub fn is_unique_violation(error: &sqlx::Error, constraint: &str) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn data_errors_name_a_missing_field_but_never_quote_a_value() {
        assert_eq!(
            describe_data_error("Failed to deserialize the JSON body into the target type: missing field `email` at line 1 column 2"),
            "missing field `email`"
        );
        let typed = describe_data_error(
            "Failed to deserialize: password: invalid type: integer `12345678`, expected a string",
        );
        assert!(!typed.contains("12345678"));
    }

    #[tokio::test]
    async fn an_internal_error_hides_its_cause_from_the_client() {
        let response =
            ApiError::Internal(anyhow::anyhow!("connection to 10.0.0.7 refused")).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.extensions().get::<InternalCause>().is_some());
        let body = body_of(response).await;
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "internal_error", "message": "internal error"}})
        );
    }

    #[tokio::test]
    async fn an_exhausted_pool_is_a_503_server_busy_with_a_retry_after_not_a_500() {
        let direct = ApiError::from(sqlx::Error::PoolTimedOut);
        let wrapped =
            ApiError::from(anyhow::Error::new(sqlx::Error::PoolTimedOut).context("sign-in"));
        for error in [direct, wrapped] {
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                response.headers()[header::RETRY_AFTER],
                BUSY_RETRY_AFTER_SECS
            );
            assert_eq!(body_of(response).await["error"]["code"], "server_busy");
        }
        let other = ApiError::from(sqlx::Error::RowNotFound).into_response();
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn a_token_rejection_carries_its_code_and_a_bearer_challenge() {
        let response = ApiError::Token(Rejection::SignatureInvalid).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\", error_description=\"signature_invalid\""
        );
        assert_eq!(
            body_of(response).await["error"]["code"],
            "signature_invalid"
        );

        let response = ApiError::Token(Rejection::Missing).into_response();
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(body_of(response).await["error"]["code"], "token_missing");

        let response = ApiError::Token(Rejection::KeysUnavailable).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
