//! Why a token was refused: one variant per reason, each with a stable machine-readable code.
//!
//! These codes are part of the public contract (response bodies, logs, the CLI); rename none of them.

/// A refused bearer token. Every variant maps to HTTP 401 except [`Rejection::KeysUnavailable`] (503):
/// when no key can be had the fault is ours, not the client's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("no bearer token was presented")]
    Missing,
    #[error("the token exceeds the size limit")]
    TooLarge,
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    #[error("the token uses an unsupported form: {0}")]
    Unsupported(&'static str),
    #[error("the token's algorithm is not allowed")]
    AlgorithmNotAllowed,
    #[error("the token's issuer is not trusted")]
    IssuerUntrusted,
    #[error("no trusted key matches the token's key id")]
    KeyUnknown,
    #[error("the key that signed the token has been revoked by its issuer")]
    KeyRevoked,
    #[error("no verification key is available for the issuer")]
    KeysUnavailable,
    #[error("the token's signature is invalid")]
    SignatureInvalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not yet valid")]
    NotYetValid,
    #[error("the token's audience is not accepted")]
    AudienceMismatch,
    #[error("the token's type is not accepted")]
    TypeMismatch,
    #[error("the token's claims are invalid: {0}")]
    ClaimsInvalid(&'static str),
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token's tenant is not its issuer's")]
    TenantMismatch,
}

impl Rejection {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::Missing => "token_missing",
            Rejection::TooLarge => "token_too_large",
            Rejection::Malformed(_) => "token_malformed",
            Rejection::Unsupported(_) => "token_unsupported",
            Rejection::AlgorithmNotAllowed => "algorithm_not_allowed",
            Rejection::IssuerUntrusted => "issuer_untrusted",
            Rejection::KeyUnknown => "key_unknown",
            Rejection::KeyRevoked => "key_revoked",
            Rejection::KeysUnavailable => "keys_unavailable",
            Rejection::SignatureInvalid => "signature_invalid",
            Rejection::Expired => "token_expired",
            Rejection::NotYetValid => "token_not_yet_valid",
            Rejection::AudienceMismatch => "audience_mismatch",
            Rejection::TypeMismatch => "token_type_mismatch",
            Rejection::ClaimsInvalid(_) => "claims_invalid",
            Rejection::Revoked => "token_revoked",
            Rejection::TenantMismatch => "tenant_mismatch",
        }
    }

    /// The HTTP status the boundary answers with.
    pub fn status(&self) -> u16 {
        match self {
            Rejection::KeysUnavailable => 503,
            _ => 401,
        }
    }

    /// The RFC 6750 `error` attribute for `WWW-Authenticate`, when one applies.
    pub fn bearer_error(&self) -> Option<&'static str> {
        match self {
            // RFC 6750 §3.1: a request with no credentials gets no error code.
            Rejection::Missing => None,
            Rejection::KeysUnavailable => None,
            _ => Some("invalid_token"),
        }
    }
}
