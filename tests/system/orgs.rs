//! Issue 13: the demo's organization routes (`/orgs/{org}/**` bound to `org_id`, its `admin/**`
//! needing the owner or admin role) decided at the edge on tokens from our own origin.

use crate::support::{assert_refused, claims_of, Stack, User};
use reqwest::StatusCode;
use serde_json::{json, Value};

impl Stack {
    /// A call of `user`'s to the origin that must succeed; answers its body.
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

    /// An organization `owner` creates; answers its id.
    async fn create_org(&self, owner: &User, name: &str) -> String {
        let org = self
            .org_call(
                owner,
                reqwest::Method::POST,
                "/v1/orgs",
                json!({ "name": name }),
            )
            .await;
        org["id"].as_str().expect("org id").to_owned()
    }

    /// `owner` invites `member` to `org_id` with `roles`, and `member` accepts.
    async fn add_member(&self, owner: &User, org_id: &str, member: &User, roles: &[&str]) {
        let invitation = self
            .org_call(
                owner,
                reqwest::Method::POST,
                &format!("/v1/orgs/{org_id}/invitations"),
                json!({ "email": member.email, "roles": roles }),
            )
            .await;
        self.org_call(
            member,
            reqwest::Method::POST,
            "/v1/invitations/accept",
            json!({ "token": invitation["token"] }),
        )
        .await;
    }

    async fn remove_member(&self, owner: &User, org_id: &str, member: &User) {
        let response = self
            .http
            .delete(self.tenant_url(
                &owner.tenant,
                &format!("/v1/orgs/{org_id}/members/{}", member.id),
            ))
            .bearer_auth(&owner.session.access_token)
            .send()
            .await
            .expect("remove member");
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "remove member");
    }
}

#[tokio::test]
async fn org_routes_admit_their_members_by_org_id_and_their_admin_routes_by_role() {
    let stack = Stack::from_env();
    let owner = stack.signed_in_user(&stack.tenant).await;
    let member = stack.signed_in_user(&stack.tenant).await;
    let stranger = stack.signed_in_user(&stack.tenant).await;

    let org_id = stack.create_org(&owner, "Engines").await;
    stack
        .add_member(&owner, &org_id, &member, &["member"])
        .await;
    let other_org_id = stack.create_org(&stranger, "Boats").await;

    let owner_session = stack.sign_in_to_org(&owner, &org_id).await;
    let member_session = stack.sign_in_to_org(&member, &org_id).await;
    let stranger_session = stack.sign_in_to_org(&stranger, &other_org_id).await;
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
    stack.remove_member(&owner, &org_id, &member).await;
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
