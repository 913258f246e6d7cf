//! Every answer the edge gives in place of the upstream's: one error type, mapped to a response
//! here and nowhere else. One JSON envelope `{"error": {"code", "message"}}` with a stable code, the
//! RFC 6750 challenges (`auth_core::bearer`), `Retry-After` where waiting helps, `no-store`, and the
//! route's CORS headers for an allowed origin so that a browser page can read why it was refused.
//! A 5xx body never carries internals: the cause goes to the log only.

use auth_core::notice::NoticeError;
use auth_core::policy::{Cors, Denial};
use auth_core::ratelimit::Refusal;
use auth_core::{bearer, Rejection};
use wasm_bindgen::JsValue;
use web_sys::{Headers, Response, ResponseInit};

/// Seconds a client should wait before retrying when no key can be had.
const KEYS_RETRY_AFTER_SECS: &str = "30";

#[derive(Debug)]
pub enum EdgeError {
    /// A refused bearer token: 401 with its challenge, or 503 `keys_unavailable`.
    Token(Rejection),
    /// The route policy denies the request: 403.
    Denied(Denial),
    /// Encoded separators or dot segments in the path: 400.
    PathAmbiguous,
    /// A cross-origin request no route allows: 403.
    CorsDenied(&'static str),
    /// A rate limit refused the request: 429 with `Retry-After` and the `RateLimit` fields.
    RateLimited(Refusal),
    /// A revocation store did not answer: 503, failing closed.
    RevocationUnavailable(String),
    /// The upstream could not be reached: 502.
    UpstreamUnavailable(String),
    /// The isolate's configuration is broken: 503 on every request.
    Misconfigured(String),
    /// `/__auth/*` only: no such endpoint (404), wrong method (405).
    NoSuchEndpoint,
    MethodNotAllowed,
    /// `/__auth/revocations` without `EDGE_PUSH_SECRET`: 503.
    PushDisabled,
    /// A revocation notice over the size limit: 413.
    NoticeTooLarge,
    /// A revocation notice refused: 400 for its body, 401 for its authentication.
    Notice(NoticeError),
    /// A pushed revocation could not be recorded: 503 (the origin retries).
    RevocationNotRecorded(String),
    /// A fault of ours that has no better name: 500.
    Internal(String),
}

impl From<Rejection> for EdgeError {
    fn from(r: Rejection) -> Self {
        EdgeError::Token(r)
    }
}

impl From<Denial> for EdgeError {
    fn from(d: Denial) -> Self {
        EdgeError::Denied(d)
    }
}

impl EdgeError {
    pub fn status(&self) -> u16 {
        match self {
            EdgeError::Token(r) => r.status(),
            EdgeError::Denied(d) => d.status(),
            EdgeError::PathAmbiguous => 400,
            EdgeError::CorsDenied(_) => 403,
            EdgeError::RateLimited(r) => r.status(),
            EdgeError::RevocationUnavailable(_) => 503,
            EdgeError::UpstreamUnavailable(_) => 502,
            EdgeError::Misconfigured(_) => 503,
            EdgeError::NoSuchEndpoint => 404,
            EdgeError::MethodNotAllowed => 405,
            EdgeError::PushDisabled => 503,
            EdgeError::NoticeTooLarge => 413,
            EdgeError::Notice(NoticeError::BadBody) => 400,
            EdgeError::Notice(_) => 401,
            EdgeError::RevocationNotRecorded(_) => 503,
            EdgeError::Internal(_) => 500,
        }
    }

    /// The stable machine-readable code (README: "Refusals").
    pub fn code(&self) -> &'static str {
        match self {
            EdgeError::Token(r) => r.code(),
            EdgeError::Denied(d) => d.code(),
            EdgeError::PathAmbiguous => "path_ambiguous",
            EdgeError::CorsDenied(_) => "cors_denied",
            EdgeError::RateLimited(r) => r.code(),
            EdgeError::RevocationUnavailable(_) => "revocation_unavailable",
            EdgeError::UpstreamUnavailable(_) => "upstream_unavailable",
            EdgeError::Misconfigured(_) => "edge_misconfigured",
            EdgeError::NoSuchEndpoint => "not_found",
            EdgeError::MethodNotAllowed => "method_not_allowed",
            EdgeError::PushDisabled => "push_disabled",
            EdgeError::NoticeTooLarge => "payload_too_large",
            EdgeError::Notice(e) => e.code(),
            EdgeError::RevocationNotRecorded(_) => "revocation_store_unavailable",
            EdgeError::Internal(_) => "internal_error",
        }
    }

    fn message(&self) -> String {
        match self {
            EdgeError::Token(r) => r.to_string(),
            EdgeError::Denied(d) => d.message(),
            EdgeError::PathAmbiguous => "encoded separators and dot segments are refused".into(),
            EdgeError::CorsDenied(reason) => (*reason).into(),
            EdgeError::RateLimited(r) => r.message(),
            EdgeError::RevocationUnavailable(_) => "revocation status could not be checked".into(),
            EdgeError::UpstreamUnavailable(_) => "the upstream could not be reached".into(),
            EdgeError::Misconfigured(_) => "the edge is misconfigured".into(),
            EdgeError::NoSuchEndpoint => "no such administrative endpoint".into(),
            EdgeError::MethodNotAllowed => "use POST".into(),
            EdgeError::PushDisabled => "EDGE_PUSH_SECRET is not configured".into(),
            EdgeError::NoticeTooLarge => "revocation notices are small".into(),
            EdgeError::Notice(e) => e.to_string(),
            EdgeError::RevocationNotRecorded(_) => "the revocation could not be recorded".into(),
            EdgeError::Internal(_) => "the edge failed to answer".into(),
        }
    }

    /// What only the log may know: the cause of a fault of ours.
    fn cause(&self) -> Option<&str> {
        match self {
            EdgeError::RevocationUnavailable(c)
            | EdgeError::UpstreamUnavailable(c)
            | EdgeError::Misconfigured(c)
            | EdgeError::RevocationNotRecorded(c)
            | EdgeError::Internal(c) => Some(c),
            _ => None,
        }
    }

    /// The `WWW-Authenticate` value, when the answer carries one.
    fn challenge(&self) -> Option<String> {
        match self {
            EdgeError::Token(r) => bearer::challenge(r),
            EdgeError::Denied(Denial::InsufficientScope(scope)) => {
                Some(bearer::insufficient_scope_challenge(scope))
            }
            _ => None,
        }
    }

    /// Logs the answer once (its code and route, never the token) and builds it.
    pub fn respond(self, route: Option<&str>, cors: Option<&AllowedCors<'_>>) -> JsValue {
        let route = route.unwrap_or("-");
        match self.cause() {
            Some(cause) => worker::console_error!(
                "edge.failed policy.route={route} reason={} error={cause}",
                self.code()
            ),
            None => {
                worker::console_log!("edge.refused policy.route={route} reason={}", self.code())
            }
        }
        self.response(cors).unwrap_or(JsValue::UNDEFINED)
    }

    fn response(&self, cors: Option<&AllowedCors<'_>>) -> Result<JsValue, JsValue> {
        let body =
            serde_json::json!({ "error": { "code": self.code(), "message": self.message() } });
        let headers = Headers::new()?;
        headers.set("content-type", "application/json")?;
        headers.set("cache-control", "no-store")?;
        if let Some(challenge) = self.challenge() {
            headers.set("www-authenticate", &challenge)?;
        }
        if matches!(self, EdgeError::Token(Rejection::KeysUnavailable)) {
            headers.set("retry-after", KEYS_RETRY_AFTER_SECS)?;
        }
        if let EdgeError::RateLimited(refusal) = self {
            for (name, value) in &refusal.headers {
                headers.set(name, value)?;
            }
        }
        if let Some(cors) = cors {
            cors.apply(&headers)?;
        }
        let init = ResponseInit::new();
        init.set_status(self.status());
        init.set_headers(&headers);
        Ok(Response::new_with_opt_str_and_init(Some(&body.to_string()), &init)?.into())
    }
}

/// A route's CORS rules and the request's origin, which they allow.
#[derive(Debug)]
pub struct AllowedCors<'c> {
    pub cors: &'c Cors,
    pub origin: &'c str,
}

impl<'c> AllowedCors<'c> {
    /// The route's rules for the request's `Origin`, when they allow it.
    pub fn of(cors: Option<&'c Cors>, origin: Option<&'c str>) -> Option<AllowedCors<'c>> {
        let (cors, origin) = (cors?, origin?);
        cors.allows_origin(origin)
            .then_some(AllowedCors { cors, origin })
    }

    /// Sets the CORS response headers for the origin.
    pub fn apply(&self, headers: &Headers) -> Result<(), JsValue> {
        for (name, value) in self.cors.response_headers(self.origin) {
            headers.set(name, &value)?;
        }
        Ok(())
    }
}
