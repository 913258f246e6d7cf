//! The edge's administrative surface, used by the origin only.
//!
//! `GET /__auth/health`: liveness, for local tooling.
//! `POST /__auth/revocations`: a [`RevocationNotice`](auth_core::notice::RevocationNotice)
//! authenticated by HMAC over timestamp and body (`auth_core::notice`).

use crate::config::EdgeConfig;
use crate::{respond, revocation};
use auth_core::notice::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use worker::{Env, Method, Request, Response, Result};

pub const PREFIX: &str = "/__auth/";
const MAX_NOTICE_BYTES: usize = 4 * 1024;

pub async fn handle(
    mut req: Request,
    env: &Env,
    config: &EdgeConfig,
    now: i64,
) -> Result<Response> {
    if req.path() == "/__auth/health" {
        return Response::from_json(&serde_json::json!({ "status": "ok" }));
    }
    if req.path() != "/__auth/revocations" {
        return respond::error(404, "not_found", "no such administrative endpoint");
    }
    if req.method() != Method::Post {
        return respond::error(405, "method_not_allowed", "use POST");
    }
    let Some(secret) = &config.push_secret else {
        return respond::error(503, "push_disabled", "EDGE_PUSH_SECRET is not configured");
    };
    let timestamp = req.headers().get(TIMESTAMP_HEADER)?;
    let signature = req.headers().get(SIGNATURE_HEADER)?;
    let body = req.bytes().await?;
    if body.len() > MAX_NOTICE_BYTES {
        return respond::error(413, "payload_too_large", "revocation notices are small");
    }
    let notice = match notice::open(
        secret,
        timestamp.as_deref(),
        signature.as_deref(),
        &body,
        now,
    ) {
        Ok(n) => n,
        Err(e @ notice::NoticeError::BadBody) => {
            return respond::error(400, e.code(), &e.to_string())
        }
        Err(e) => return respond::error(401, e.code(), &e.to_string()),
    };
    if let Err(e) = revocation::record(env, &notice, now).await {
        worker::console_error!(
            "revocation.record_failed tenant.id={} error={e}",
            notice.tenant_id
        );
        return respond::error(
            503,
            "revocation_store_unavailable",
            "the revocation could not be recorded",
        );
    }
    Ok(Response::empty()?.with_status(204))
}
