//! The edge's administrative surface, used by the origin only.
//!
//! `GET /__auth/health`: liveness, for local tooling.
//! `POST /__auth/revocations`: a [`RevocationNotice`](auth_core::notice::RevocationNotice)
//! authenticated by HMAC over timestamp and body (`auth_core::notice`).
//! `POST /__auth/key-revocations`: a [`KeyRevocationNotice`](auth_core::notice::KeyRevocationNotice),
//! authenticated the same way (`key_revocation`).

use crate::error::EdgeError;
use crate::isolate::Edge;
use crate::{jwks, key_revocation, revocation};
use auth_core::notice::{self, KeyRevocationNotice, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use worker::{Method, Request, Response};

pub const PREFIX: &str = "/__auth/";
const MAX_NOTICE_BYTES: usize = 4 * 1024;

pub async fn handle(mut req: Request, edge: &Edge, now: i64) -> Result<Response, EdgeError> {
    let internal = |e: worker::Error| EdgeError::Internal(format!("admin: {e}"));
    if req.path() == "/__auth/health" {
        return Response::from_json(&serde_json::json!({ "status": "ok" })).map_err(internal);
    }
    let keys = match req.path().as_str() {
        "/__auth/revocations" => false,
        "/__auth/key-revocations" => true,
        _ => return Err(EdgeError::NoSuchEndpoint),
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
    if keys {
        let notice: KeyRevocationNotice = notice::open_as(
            secret,
            timestamp.as_deref(),
            signature.as_deref(),
            &body,
            now,
        )
        .map_err(EdgeError::Notice)?;
        key_revocation::record(edge, &notice).await.map_err(|e| {
            EdgeError::RevocationNotRecorded(format!(
                "issuer={} {}",
                notice.issuer,
                worker::Error::from(e)
            ))
        })?;
        // The issuer's JWKS no longer holds the key: refetch it, so this isolate's set and the copy
        // persisted for cold isolates lose it too (the revocation above holds whatever this does).
        if let Some(policy) = jwks::for_notice(edge, &notice.issuer) {
            jwks::refetch(edge, &policy).await;
        }
        return Response::empty()
            .map(|r| r.with_status(204))
            .map_err(internal);
    }
    let notice = notice::open(
        secret,
        timestamp.as_deref(),
        signature.as_deref(),
        &body,
        now,
    )
    .map_err(EdgeError::Notice)?;
    revocation::record(edge, &notice, now).await.map_err(|e| {
        EdgeError::RevocationNotRecorded(format!("tenant.id={} {e}", notice.tenant_id))
    })?;
    Response::empty()
        .map(|r| r.with_status(204))
        .map_err(internal)
}
