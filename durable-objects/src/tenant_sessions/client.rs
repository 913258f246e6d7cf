//! The client of `TenantSessions`, used by the edge Worker: one method per command of
//! [`protocol`](super::protocol), each checking the answer it expects.

use super::protocol::{Command, Reply, SessionList, SessionStatus, URL};
use auth_core::sessions::{LiveSession, NotBefore};
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
        self.send(&command, Reply::Done.status()).await?;
        Ok(())
    }

    /// Records a not-before of `user_id` (`None`: of the whole tenant); answers the one now in
    /// force, which may be later than this one (a later notice arrived first).
    pub async fn set_not_before(
        &self,
        user_id: Option<&str>,
        not_before: NotBefore,
    ) -> Result<NotBefore> {
        let command = Command::NotBefore {
            user_id: user_id.map(str::to_owned),
            not_before: not_before.not_before,
            expires_at: not_before.expires_at,
        };
        let mut response = self
            .send(&command, Reply::NotBefore(not_before).status())
            .await?;
        response.json::<NotBefore>().await
    }

    /// Records that the origin opened or refreshed `session_id`.
    pub async fn seen(&self, session_id: &str, session: LiveSession) -> Result<()> {
        let command = Command::Seen {
            session_id: session_id.to_owned(),
            session,
        };
        self.send(&command, Reply::Done.status()).await?;
        Ok(())
    }

    /// Whether a token of `session_id` and `user_id` issued at `issued_at` is revoked at any level.
    /// `Err` when the object cannot say (strict routes then answer 503: they fail closed).
    pub async fn is_revoked(
        &self,
        session_id: &str,
        user_id: &str,
        issued_at: Option<i64>,
    ) -> Result<bool> {
        let command = Command::Status {
            session_id: session_id.to_owned(),
            user_id: user_id.to_owned(),
            issued_at,
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

    /// The sessions the object knows of `user_id`.
    pub async fn sessions_of(&self, user_id: &str) -> Result<SessionList> {
        let command = Command::Sessions {
            user_id: user_id.to_owned(),
        };
        let mut response = self.send(&command, 200).await?;
        response.json::<SessionList>().await
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
