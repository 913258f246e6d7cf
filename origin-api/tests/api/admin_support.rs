//! What the admin API's tests share: calls with a chosen credential, and admin keys.

use crate::helpers::{TestApp, ADMIN_TOKEN};
use reqwest::{Method, Response};
use serde_json::{json, Value};

impl TestApp {
    /// An admin call with `token` (the bootstrap token or an admin key) and an optional JSON body.
    pub async fn admin_call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        self.send(method, path, token, body).await
    }

    /// An admin call that must succeed (2xx); returns its JSON body.
    pub async fn admin_ok(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let response = self.admin_call(method, path, token, body).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Makes an admin key of `slug` with the bootstrap token: `(id, key)`.
    pub async fn admin_key(&self, slug: &str, permissions: &[&str]) -> (String, String) {
        let body = self
            .admin_ok(
                Method::POST,
                &format!("/v1/admin/tenants/{slug}/admin-keys"),
                ADMIN_TOKEN,
                Some(json!({"name": "test key", "permissions": permissions})),
            )
            .await;
        (
            body["id"].as_str().unwrap().to_owned(),
            body["key"].as_str().unwrap().to_owned(),
        )
    }

    /// The tenant's audit events of `type`, newest first (first page of 200).
    pub async fn audit_of_type(&self, slug: &str, event_type: &str) -> Vec<Value> {
        let body = self
            .admin_ok(
                Method::GET,
                &format!("/v1/admin/tenants/{slug}/audit-events?type={event_type}&limit=200"),
                ADMIN_TOKEN,
                None,
            )
            .await;
        body["events"].as_array().unwrap().clone()
    }
}
