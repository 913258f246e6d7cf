//! The admin API through the whole stack: a user disabled with a tenant's admin API key is refused
//! at the edge on both route modes, and can no longer sign in.

use crate::support::{admin_token, assert_refused, Stack};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_user_disabled_with_an_admin_key_is_refused_at_the_edge_and_cannot_sign_in_again() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let other = stack.signed_in_user(&stack.tenant).await;
    for path in ["/api/orders", "/api/strict/orders"] {
        let response = stack
            .edge_get(path, Some(&user.session.access_token), &[])
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path} before");
    }

    // A key of this tenant, made with the bootstrap token, does the disabling.
    let created = stack
        .http
        .post(format!(
            "{}/v1/admin/tenants/{}/admin-keys",
            stack.origin, stack.tenant
        ))
        .bearer_auth(admin_token())
        .json(&json!({"name": "system test", "permissions": ["read", "write"]}))
        .send()
        .await
        .expect("create an admin key");
    assert_eq!(created.status(), StatusCode::CREATED);
    let key = created.json::<Value>().await.expect("key body")["key"]
        .as_str()
        .expect("the key")
        .to_owned();
    let response = stack
        .http
        .post(format!(
            "{}/v1/admin/tenants/{}/users/{}/disable",
            stack.origin, stack.tenant, user.id
        ))
        .bearer_auth(&key)
        .send()
        .await
        .expect("disable");
    assert_eq!(response.status(), StatusCode::OK, "pushed before answering");
    let body: Value = response.json().await.expect("disable body");
    assert_eq!(body["revoked"], 1, "{body}");

    for path in ["/api/orders", "/api/strict/orders"] {
        assert_refused(
            stack
                .edge_get(path, Some(&user.session.access_token), &[])
                .await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
        let response = stack
            .edge_get(path, Some(&other.session.access_token), &[])
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "another user keeps access"
        );
    }
    let again = stack
        .http
        .post(stack.tenant_url(&user.tenant, "/v1/sessions"))
        .json(&json!({"email": user.email, "password": user.password}))
        .send()
        .await
        .expect("sign in again");
    assert_refused(again, StatusCode::FORBIDDEN, "user_disabled").await;
}
