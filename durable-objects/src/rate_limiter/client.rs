//! The client of `RateLimiter`, used by the edge Worker: one method per command of
//! [`protocol`](super::protocol), each checking the answer it expects.

use super::protocol::{Command, URL};
use auth_core::policy::LimitKey;
use auth_core::ratelimit::{Gcra, Rate, SyncReport, Verdict};
use worker::{
    Error, Headers, Method, ObjectNamespace, Request, RequestInit, Response, Result, Stub,
};

/// The `RateLimiter` object of one limit and key.
#[derive(Debug)]
pub struct RateLimiterClient {
    stub: Stub,
}

impl RateLimiterClient {
    /// The object of `key` (one per limit and key, named by it) in `namespace`.
    pub fn for_key(namespace: &ObjectNamespace, key: &LimitKey) -> Result<Self> {
        Ok(RateLimiterClient {
            stub: namespace.get_by_name(key.as_str())?,
        })
    }

    /// Admits one request under `rate`, or says why not (exact tier). `Err` when the object
    /// cannot say: the limit's `on_error` decides.
    pub async fn take(&self, rate: Rate) -> Result<Verdict> {
        crate::json_answer(&self.send(&Command::Take { rate }).await?).await
    }

    /// Records what an isolate admitted; answers the key's state (approximate tier).
    pub async fn report(&self, rate: Rate, report: SyncReport) -> Result<Gcra> {
        let command = Command::Report {
            rate,
            cost: report.cost,
            since_ms: report.since_ms,
        };
        crate::json_answer(&self.send(&command).await?).await
    }

    async fn send(&self, command: &Command) -> Result<Response> {
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
        if response.status_code() != 200 {
            return Err(Error::RustError(format!(
                "rate limiter object answered {}",
                response.status_code()
            )));
        }
        Ok(response)
    }
}
