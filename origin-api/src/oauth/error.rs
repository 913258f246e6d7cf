//! Errors of the token endpoint, in RFC 6749 §5.2's format: `{"error", "error_description"}`.
//!
//! `error` is one of RFC 6749's codes (stable and machine-readable); the description is for people.
//! Like every answer of the token endpoint it is never cached.

use crate::error::{ApiError, InternalCause};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::borrow::Cow;
use std::sync::Arc;

#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    retry_after_secs: Option<i64>,
    cause: Option<anyhow::Error>,
}

impl OAuthError {
    fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        OAuthError {
            status,
            code,
            description: description.into(),
            retry_after_secs: None,
            cause: None,
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// The client is unknown (public clients have no credentials to get wrong).
    pub fn invalid_client(description: &'static str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    /// The code or refresh token is unknown, expired, used, or bound to something else.
    pub fn invalid_grant(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub fn unsupported_grant_type() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token",
        )
    }

    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<ApiError> for OAuthError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::RefreshTokenInvalid
            | ApiError::RefreshTokenReused
            | ApiError::SessionRevoked
            | ApiError::UserDisabled => {
                let description = match e {
                    ApiError::RefreshTokenReused => {
                        "refresh token was already used; the session has been revoked"
                    }
                    ApiError::SessionRevoked => "the session has been revoked",
                    ApiError::UserDisabled => "this account is disabled",
                    _ => "refresh token is unknown or expired",
                };
                OAuthError::invalid_grant(description)
            }
            ApiError::TooManyAttempts(throttled) => OAuthError {
                retry_after_secs: Some(throttled.retry_after_secs),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    "too many failed attempts; retry later",
                )
            },
            ApiError::ServerBusy => OAuthError {
                retry_after_secs: Some(1),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "the server is busy; retry shortly",
                )
            },
            ApiError::TenantNotFound => {
                Self::new(StatusCode::NOT_FOUND, "invalid_request", "no such tenant")
            }
            ApiError::Internal(cause) => OAuthError {
                cause: Some(cause),
                ..Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "internal error",
                )
            },
            other => {
                let status = other.status();
                if status.is_server_error() {
                    OAuthError {
                        cause: Some(anyhow::Error::new(other)),
                        ..Self::new(status, "server_error", "internal error")
                    }
                } else {
                    Self::new(status, "invalid_request", other.to_string())
                }
            }
        }
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::from(e).into()
    }
}

impl From<anyhow::Error> for OAuthError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::Internal(e).into()
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = axum::Json(Body {
            error: self.code,
            error_description: &self.description,
        });
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(cause) = self.cause {
            response
                .extensions_mut()
                .insert(InternalCause(Arc::new(cause)));
        }
        response
    }
}
