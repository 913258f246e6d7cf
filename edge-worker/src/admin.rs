//! The edge's administrative surface, used by the origin only.
//!
//! Every `POST` is authenticated by HMAC over timestamp and body (`auth_core::notice`):
//!
//! | endpoint | body | answer |
//! |---|---|---|
//! | `GET /__auth/health` | | 200, liveness for local tooling |
//! | `POST /__auth/revocations` | [`RevocationNotice`](auth_core::notice::RevocationNotice) | 204 |
//! | `POST /__auth/not-before` | [`NotBeforeNotice`] | 204 |
//! | `POST /__auth/sessions` | [`SessionNotice`] | 204 |
//! | `POST /__auth/sessions/query` | [`SessionsQuery`] | 200, the tenant object's sessions of the user |
//! | `POST /__auth/key-revocations` | [`KeyRevocationNotice`] (`key_revocation`) | 204 |

use crate::error::EdgeError;
use crate::isolate::Edge;
use crate::{jwks, key_revocation, revocation};
use auth_core::notice::{
    self, KeyRevocationNotice, NotBeforeNotice, SessionNotice, SessionsQuery, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};
use durable_objects::TenantSessionsClient;
use worker::{Method, Request, Response};

pub const PREFIX: &str = "/__auth/";
const MAX_NOTICE_BYTES: usize = 4 * 1024;

/// The endpoints that take a signed body.
#[derive(Clone, Copy)]
enum Endpoint {
    Revocation,
    NotBefore,
    Session,
    SessionsQuery,
    KeyRevocation,
}

impl Endpoint {
    fn of(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/__auth/revocations" => Endpoint::Revocation,
            "/__auth/not-before" => Endpoint::NotBefore,
            "/__auth/sessions" => Endpoint::Session,
            "/__auth/sessions/query" => Endpoint::SessionsQuery,
            "/__auth/key-revocations" => Endpoint::KeyRevocation,
            _ => return None,
        })
    }
}

/// A signed body, opened as its endpoint's type.
struct Signed<'b> {
    secret: &'b [u8],
    timestamp: Option<String>,
    signature: Option<String>,
    body: Vec<u8>,
    now: i64,
}

impl Signed<'_> {
    fn open<T: serde::de::DeserializeOwned>(&self) -> Result<T, EdgeError> {
        notice::open_as(
            self.secret,
            self.timestamp.as_deref(),
            self.signature.as_deref(),
            &self.body,
            self.now,
        )
        .map_err(EdgeError::Notice)
    }
}

pub async fn handle(mut req: Request, edge: &Edge, now: i64) -> Result<Response, EdgeError> {
    let internal = |e: worker::Error| EdgeError::Internal(format!("admin: {e}"));
    if req.path() == "/__auth/health" {
        return Response::from_json(&serde_json::json!({ "status": "ok" })).map_err(internal);
    }
    let Some(endpoint) = Endpoint::of(&req.path()) else {
        return Err(EdgeError::NoSuchEndpoint);
    };
    if req.method() != Method::Post {
        return Err(EdgeError::MethodNotAllowed);
    }
    let Some(secret) = &edge.config.push_secret else {
        return Err(EdgeError::PushDisabled);
    };
    let timestamp = req.headers().get(TIMESTAMP_HEADER).map_err(internal)?;
    let signature = req.headers().get(SIGNATURE_HEADER).map_err(internal)?;
    let body = req.bytes().await.map_err(internal)?;
    if body.len() > MAX_NOTICE_BYTES {
        return Err(EdgeError::NoticeTooLarge);
    }
    let signed = Signed {
        secret,
        timestamp,
        signature,
        body,
        now,
    };
    let no_content = || {
        Response::empty()
            .map(|r| r.with_status(204))
            .map_err(internal)
    };
    match endpoint {
        Endpoint::Revocation => {
            let notice: auth_core::notice::RevocationNotice = signed.open()?;
            revocation::record(edge, &notice, now).await.map_err(|e| {
                EdgeError::RevocationNotRecorded(format!("tenant.id={} {e}", notice.tenant_id))
            })?;
            no_content()
        }
        Endpoint::NotBefore => {
            let notice: NotBeforeNotice = signed.open()?;
            revocation::record_not_before(edge, &notice, now)
                .await
                .map_err(|e| {
                    EdgeError::RevocationNotRecorded(format!(
                        "tenant.id={} not_before {e}",
                        notice.tenant_id
                    ))
                })?;
            no_content()
        }
        Endpoint::Session => {
            let notice: SessionNotice = signed.open()?;
            revocation::record_session(edge, &notice)
                .await
                .map_err(|e| {
                    EdgeError::RevocationNotRecorded(format!(
                        "tenant.id={} session {e}",
                        notice.tenant_id
                    ))
                })?;
            no_content()
        }
        Endpoint::SessionsQuery => {
            let query: SessionsQuery = signed.open()?;
            let list = TenantSessionsClient::for_tenant(&edge.tenant_sessions, &query.tenant_id)
                .map_err(internal)?
                .sessions_of(&query.user_id)
                .await
                .map_err(|e| EdgeError::RevocationUnavailable(e.to_string()))?;
            let mut response = Response::from_json(&list).map_err(internal)?;
            response
                .headers_mut()
                .set("cache-control", "no-store")
                .map_err(internal)?;
            Ok(response)
        }
        Endpoint::KeyRevocation => {
            let notice: KeyRevocationNotice = signed.open()?;
            key_revocation::record(edge, &notice).await.map_err(|e| {
                EdgeError::RevocationNotRecorded(format!(
                    "issuer={} {}",
                    notice.issuer,
                    worker::Error::from(e)
                ))
            })?;
            // The issuer's JWKS no longer holds the key: refetch it, so this isolate's set and the
            // copy persisted for cold isolates lose it too (the revocation above holds whatever
            // this does).
            if let Some(policy) = jwks::for_notice(edge, &notice.issuer) {
                jwks::refetch(edge, &policy).await;
            }
            no_content()
        }
    }
}
