//! The client of `TenantSessions`, used by the edge Worker: one method per command of
//! [`protocol`](super::protocol), each checking the answer it expects.

use super::protocol::{Command, Reply, SessionStatus, URL};
use worker::{
    Error, Headers, Method, ObjectNamespace, Request, RequestInit, Response, Result, Stub,
};

/// A tenant's `TenantSessions` object.
#[derive(Debug)]
pub struct TenantSessionsClient {
    stub: Stub,
}

impl TenantSessionsClient {
    /// The object of `tenant` (one per tenant, named by it) in `namespace`.
    pub fn for_tenant(namespace: &ObjectNamespace, tenant: &str) -> Result<Self> {
        Ok(TenantSessionsClient {
            stub: namespace.get_by_name(tenant)?,
        })
    }

    /// Records that `session_id` is revoked until `expires_at`.
    pub async fn revoke(&self, session_id: &str, expires_at: i64) -> Result<()> {
        let command = Command::Revoke {
            session_id: session_id.to_owned(),
            expires_at,
        };
        self.send(&command, Reply::Revoked.status()).await?;
        Ok(())
    }

    /// Whether `session_id` is revoked. `Err` when the object cannot say (strict routes then
    /// answer 503: they fail closed).
    pub async fn is_revoked(&self, session_id: &str) -> Result<bool> {
        let command = Command::Status {
            session_id: session_id.to_owned(),
        };
        let response = self
            .send(
                &command,
                Reply::Status(SessionStatus { revoked: false }).status(),
            )
            .await?;
        Ok(crate::json_answer::<SessionStatus>(&response)
            .await?
            .revoked)
    }

    async fn send(&self, command: &Command, expected_status: u16) -> Result<Response> {
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(headers)
            .with_body(Some(serde_json::to_string(command)?.into()));
        let response = self
            .stub
            .fetch_with_request(Request::new_with_init(URL, &init)?)
            .await?;
        if response.status_code() != expected_status {
            return Err(Error::RustError(format!(
                "tenant object answered {}",
                response.status_code()
            )));
        }
        Ok(response)
    }
}
