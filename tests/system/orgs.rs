//! Issue 13: the demo's organization routes (`/orgs/{org}/**` bound to `org_id`, its `admin/**`
//! needing the owner or admin role) decided at the edge on tokens from our own origin.

use crate::support::{assert_refused, claims_of, Session, Stack, User};
use reqwest::StatusCode;
use serde_json::{json, Value};

impl Stack {
    async fn org_call(
        &self,
        user: &User,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Value {
        let response = self
            .http
            .request(method, self.tenant_url(&user.tenant, path))
            .bearer_auth(&user.session.access_token)
            .json(&body)
            .send()
            .await
            .expect("origin call");
        let status = response.status();
        let body: Value = response.json().await.expect("json body");
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// A new session of `user`, acting for `org_id`.
    async fn session_in(&self, user: &User, org_id: &str) -> Session {
        let response = self
            .http
            .post(self.tenant_url(&user.tenant, "/v1/sessions"))
            .json(&json!({ "email": user.email, "password": user.password, "org_id": org_id }))
            .send()
            .await
            .expect("sign in");
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "sign in to {org_id}"
        );
        let body: Value = response.json().await.expect("sign-in body");
        Session {
            access_token: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            session_id: body["session_id"].as_str().expect("session_id").to_owned(),
        }
    }
}

#[tokio::test]
async fn org_routes_admit_their_members_by_org_id_and_their_admin_routes_by_role() {
    let stack = Stack::from_env();
    let owner = stack.signed_in_user(&stack.tenant).await;
    let member = stack.signed_in_user(&stack.tenant).await;
    let stranger = stack.signed_in_user(&stack.tenant).await;

    let org = stack
        .org_call(
            &owner,
            reqwest::Method::POST,
            "/v1/orgs",
            json!({ "name": "Engines" }),
        )
        .await;
    let org_id = org["id"].as_str().expect("org id").to_owned();
    let invitation = stack
        .org_call(
            &owner,
            reqwest::Method::POST,
            &format!("/v1/orgs/{org_id}/invitations"),
            json!({ "email": member.email, "roles": ["member"] }),
        )
        .await;
    stack
        .org_call(
            &member,
            reqwest::Method::POST,
            "/v1/invitations/accept",
            json!({ "token": invitation["token"] }),
        )
        .await;
    let other_org = stack
        .org_call(
            &stranger,
            reqwest::Method::POST,
            "/v1/orgs",
            json!({ "name": "Boats" }),
        )
        .await;

    let owner_session = stack.session_in(&owner, &org_id).await;
    let member_session = stack.session_in(&member, &org_id).await;
    let stranger_session = stack
        .session_in(&stranger, other_org["id"].as_str().expect("org id"))
        .await;
    let claims = claims_of(&member_session.access_token);
    assert_eq!(claims["org_id"], org_id.as_str());
    assert_eq!(claims["roles"], json!(["member"]));
    assert_eq!(claims["scope"], "members:read org:read");

    let projects = format!("/orgs/{org_id}/projects");
    let settings = format!("/orgs/{org_id}/admin/settings");
    let response = stack
        .edge_get(&projects, Some(&member_session.access_token), &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Value = response.json().await.expect("echo");
    assert_eq!(echoed["path"], projects.as_str(), "{echoed}");
    assert_refused(
        stack
            .edge_get(&projects, Some(&stranger_session.access_token), &[])
            .await,
        StatusCode::FORBIDDEN,
        "binding_mismatch",
    )
    .await;
    assert_refused(
        stack
            .edge_get(&settings, Some(&member_session.access_token), &[])
            .await,
        StatusCode::FORBIDDEN,
        "role_missing",
    )
    .await;
    let response = stack
        .edge_get(&settings, Some(&owner_session.access_token), &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    // Removing the member revokes their session acting for the organization at the edge.
    let response = stack
        .http
        .delete(stack.tenant_url(
            &owner.tenant,
            &format!("/v1/orgs/{org_id}/members/{}", member.id),
        ))
        .bearer_auth(&owner.session.access_token)
        .send()
        .await
        .expect("remove member");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_refused(
        stack
            .edge_get(&projects, Some(&member_session.access_token), &[])
            .await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let response = stack
        .edge_get(&projects, Some(&owner_session.access_token), &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}
