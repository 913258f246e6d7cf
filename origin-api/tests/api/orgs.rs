//! Organizations: who may do what, what tokens carry, invitations, and isolation between
//! organizations and tenants.

use crate::helpers::{
    assert_error, jwt_part, spawn_app, spawn_app_with_edge, EdgeReceiver, Member, OrgFixture,
    TestApp, ADMIN_TOKEN,
};
use reqwest::Response;
use serde_json::{json, Value};
use sqlx::PgPool;

impl TestApp {
    async fn set_roles(
        &self,
        slug: &str,
        org: &str,
        by: &Member,
        user_id: &str,
        roles: &[&str],
    ) -> Response {
        self.send(
            reqwest::Method::PUT,
            &format!("/t/{slug}/v1/orgs/{org}/members/{user_id}/roles"),
            &by.access_token,
            Some(json!({ "roles": roles })),
        )
        .await
    }

    async fn remove(&self, slug: &str, org: &str, by: &Member, user_id: &str) -> Response {
        self.send(
            reqwest::Method::DELETE,
            &format!("/t/{slug}/v1/orgs/{org}/members/{user_id}"),
            &by.access_token,
            None,
        )
        .await
    }

    /// Refreshes `who`'s session in place and returns the new access token's claims.
    async fn refreshed_claims(&self, slug: &str, who: &mut Member) -> Value {
        let response = self.refresh(slug, &who.refresh_token).await;
        assert_eq!(response.status(), 200, "refreshing");
        let body: Value = response.json().await.unwrap();
        who.access_token = body["access_token"].as_str().unwrap().to_owned();
        who.refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
        jwt_part(&who.access_token, 1)
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Response {
        self.send(method, path, ADMIN_TOKEN, body).await
    }

    async fn audit_types(&self) -> Vec<(String, String, Option<String>)> {
        sqlx::query_as(
            "SELECT event_type, actor_kind, subject_user_id::text FROM audit_events
             WHERE event_type LIKE 'org.%' ORDER BY occurred_at, id",
        )
        .fetch_all(&self.db)
        .await
        .unwrap()
    }
}

use reqwest::Method;

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_creator_becomes_owner_and_the_next_token_carries_org_id_roles_and_scope(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let mut ada = app.member("acme", "ada@example.com").await;
    assert!(jwt_part(&ada.access_token, 1).get("org_id").is_none());

    let response = app
        .send(
            Method::POST,
            "/t/acme/v1/orgs",
            &ada.access_token,
            Some(json!({"name": " Engines "})),
        )
        .await;
    assert_eq!(response.status(), 201);
    let org: Value = response.json().await.unwrap();
    assert_eq!(org["name"], "Engines");
    assert_eq!(org["roles"], json!(["owner"]));
    assert_eq!(org["active"], true, "a session acting for none adopts it");
    let org_id = org["id"].as_str().unwrap();

    let claims = app.refreshed_claims("acme", &mut ada).await;
    assert_eq!(claims["org_id"], org_id);
    assert_eq!(claims["roles"], json!(["owner"]));
    assert_eq!(
        claims["scope"],
        "members:read members:write org:delete org:read org:write"
    );

    // A fresh sign-in acts for it too (the organization joined first).
    let again = app.sign_in("acme", "ada@example.com").await;
    assert_eq!(
        jwt_part(again["access_token"].as_str().unwrap(), 1)["org_id"],
        org_id
    );

    let mine: Value = app
        .get_with_token("/t/acme/v1/orgs", &ada.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["orgs"].as_array().unwrap().len(), 1);
    assert_eq!(mine["orgs"][0]["id"], org_id);
    assert_eq!(mine["orgs"][0]["active"], true);

    for bad in [
        json!({"name": ""}),
        json!({"name": "x".repeat(201)}),
        json!({"name": "a\u{7}b"}),
    ] {
        assert_error(
            app.send(
                Method::POST,
                "/t/acme/v1/orgs",
                &ada.access_token,
                Some(bad),
            )
            .await,
            422,
            "name_invalid",
        )
        .await;
    }
    assert_error(
        app.send(
            Method::POST,
            "/t/acme/v1/orgs",
            "not-a-token",
            Some(json!({"name": "x"})),
        )
        .await,
        401,
        "token_malformed",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_plain_member_cannot_manage_and_a_non_member_sees_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let OrgFixture {
        org,
        owner,
        mut members,
    } = app
        .org_fixture(
            "acme",
            "Engines",
            "owner@example.com",
            &[("member@example.com", &["member"])],
        )
        .await;
    let member = members.remove(0);
    let outsider = app.member("acme", "outsider@example.com").await;

    // A member reads...
    let response = app
        .get_with_token(
            &format!("/t/acme/v1/orgs/{org}/members"),
            &member.access_token,
        )
        .await;
    assert_eq!(response.status(), 200);
    let listed: Value = response.json().await.unwrap();
    let members = listed["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["user_id"], owner.user_id.as_str());
    assert_eq!(members[0]["roles"], json!(["owner"]));
    assert_eq!(members[1]["roles"], json!(["member"]));

    // ...but manages nothing.
    for response in [
        app.invite("acme", &org, &member, "new@example.com", &["member"])
            .await,
        app.set_roles("acme", &org, &member, &member.user_id, &["admin"])
            .await,
        app.remove("acme", &org, &member, &owner.user_id).await,
        app.send(
            Method::PATCH,
            &format!("/t/acme/v1/orgs/{org}"),
            &member.access_token,
            Some(json!({"name": "Mine"})),
        )
        .await,
        app.send(
            Method::DELETE,
            &format!("/t/acme/v1/orgs/{org}"),
            &member.access_token,
            None,
        )
        .await,
        app.get_with_token(
            &format!("/t/acme/v1/orgs/{org}/invitations"),
            &member.access_token,
        )
        .await,
    ] {
        assert_error(response, 403, "permission_denied").await;
    }

    // A non-member cannot tell the organization exists.
    for response in [
        app.get_with_token(&format!("/t/acme/v1/orgs/{org}"), &outsider.access_token)
            .await,
        app.get_with_token(
            &format!("/t/acme/v1/orgs/{org}/members"),
            &outsider.access_token,
        )
        .await,
        app.invite("acme", &org, &outsider, "new@example.com", &["member"])
            .await,
        app.remove("acme", &org, &outsider, &member.user_id).await,
        app.send(
            Method::POST,
            &format!("/t/acme/v1/orgs/{org}/leave"),
            &outsider.access_token,
            None,
        )
        .await,
        app.send(
            Method::PUT,
            "/t/acme/v1/orgs/active",
            &outsider.access_token,
            Some(json!({"org_id": org})),
        )
        .await,
        app.get_with_token(
            &format!("/t/acme/v1/orgs/{}", uuid::Uuid::new_v4()),
            &owner.access_token,
        )
        .await,
        app.get_with_token("/t/acme/v1/orgs/not-a-uuid", &owner.access_token)
            .await,
    ] {
        assert_error(response, 404, "org_not_found").await;
    }
    let mine: Value = app
        .get_with_token("/t/acme/v1/orgs", &outsider.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine, json!({"orgs": []}));
    assert_error(
        app.post_session_in_org("acme", "outsider@example.com", &org)
            .await,
        404,
        "org_not_found",
    )
    .await;
}

impl TestApp {
    async fn leave(&self, slug: &str, org: &str, who: &Member) -> Response {
        self.send(
            Method::POST,
            &format!("/t/{slug}/v1/orgs/{org}/leave"),
            &who.access_token,
            None,
        )
        .await
    }

    async fn post_session_in_org(&self, slug: &str, email: &str, org: &str) -> Response {
        self.post_json(
            &format!("/t/{slug}/v1/sessions"),
            &json!({"email": email, "password": crate::helpers::PASSWORD, "org_id": org}),
        )
        .await
    }
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_admin_grants_only_what_they_hold(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let owner = app.member("acme", "owner@example.com").await;
    let admin = app.member("acme", "admin@example.com").await;
    let member = app.member("acme", "member@example.com").await;
    let org = app.create_org("acme", &owner, "Engines").await;
    app.join("acme", &org, &owner, &admin, &["admin"]).await;
    app.join("acme", &org, &admin, &member, &["member"]).await;

    assert_error(
        app.set_roles("acme", &org, &admin, &member.user_id, &["owner"])
            .await,
        403,
        "role_not_grantable",
    )
    .await;
    assert_error(
        app.invite("acme", &org, &admin, "boss@example.com", &["owner"])
            .await,
        403,
        "role_not_grantable",
    )
    .await;
    assert_error(
        app.remove("acme", &org, &admin, &owner.user_id).await,
        403,
        "role_not_grantable",
    )
    .await;
    assert_error(
        app.set_roles("acme", &org, &admin, &owner.user_id, &["member"])
            .await,
        403,
        "role_not_grantable",
    )
    .await;
    assert_error(
        app.set_roles("acme", &org, &admin, &member.user_id, &["nope"])
            .await,
        422,
        "role_unknown",
    )
    .await;
    assert_error(
        app.set_roles("acme", &org, &admin, &member.user_id, &[])
            .await,
        422,
        "roles_invalid",
    )
    .await;
    assert_error(
        app.set_roles(
            "acme",
            &org,
            &admin,
            &uuid::Uuid::new_v4().to_string(),
            &["member"],
        )
        .await,
        404,
        "member_not_found",
    )
    .await;

    let response = app
        .set_roles("acme", &org, &admin, &member.user_id, &["admin", "member"])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["roles"],
        json!(["admin", "member"])
    );
    let response = app
        .set_roles("acme", &org, &owner, &member.user_id, &["owner"])
        .await;
    assert_eq!(response.status(), 200);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_last_owner_can_neither_leave_nor_be_removed_nor_demoted(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let owner = app.member("acme", "owner@example.com").await;
    let second = app.member("acme", "second@example.com").await;
    let org = app.create_org("acme", &owner, "Engines").await;
    assert_error(app.leave("acme", &org, &owner).await, 409, "last_owner").await;
    assert_error(
        app.remove("acme", &org, &owner, &owner.user_id).await,
        409,
        "last_owner",
    )
    .await;
    assert_error(
        app.set_roles("acme", &org, &owner, &owner.user_id, &["admin"])
            .await,
        409,
        "last_owner",
    )
    .await;
    assert_error(
        app.admin(
            Method::DELETE,
            &format!(
                "/v1/admin/tenants/acme/orgs/{org}/members/{}",
                owner.user_id
            ),
            None,
        )
        .await,
        409,
        "last_owner",
    )
    .await;
    assert_error(
        app.admin(
            Method::PUT,
            &format!(
                "/v1/admin/tenants/acme/orgs/{org}/members/{}",
                owner.user_id
            ),
            Some(json!({"roles": ["member"]})),
        )
        .await,
        409,
        "last_owner",
    )
    .await;

    // With a second owner, the first may go.
    app.join("acme", &org, &owner, &second, &["owner"]).await;
    assert_eq!(app.leave("acme", &org, &owner).await.status(), 204);
    assert_error(app.leave("acme", &org, &second).await, 409, "last_owner").await;
    let members: Value = app
        .get_with_token(
            &format!("/t/acme/v1/orgs/{org}/members"),
            &second.access_token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_invitation_is_single_use_expires_and_is_only_for_its_address(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let owner = app.member("acme", "owner@example.com").await;
    let invited = app.member("acme", "Invited@Example.com").await;
    let other = app.member("acme", "other@example.com").await;
    let org = app.create_org("acme", &owner, "Engines").await;

    let response = app
        .invite("acme", &org, &owner, "invited@example.com", &["admin"])
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(created["roles"], json!(["admin"]));
    let pending: Value = app
        .get_with_token(
            &format!("/t/acme/v1/orgs/{org}/invitations"),
            &owner.access_token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["invitations"].as_array().unwrap().len(), 1);
    assert!(
        pending["invitations"][0].get("token").is_none(),
        "listed without its token"
    );
    let (stored,): (Vec<u8>,) = sqlx::query_as("SELECT token_hash FROM org_invitations")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_ne!(stored, token.as_bytes(), "only a hash is stored");

    assert_error(
        app.accept("acme", &other, &token).await,
        403,
        "invitation_email_mismatch",
    )
    .await;
    assert_error(
        app.accept("acme", &invited, "no-such-token").await,
        404,
        "invitation_not_found",
    )
    .await;
    let response = app.accept("acme", &invited, &token).await;
    assert_eq!(response.status(), 200, "addresses compare without case");
    let joined: Value = response.json().await.unwrap();
    assert_eq!(joined["id"], org.as_str());
    assert_eq!(joined["roles"], json!(["admin"]));
    assert_error(
        app.accept("acme", &invited, &token).await,
        409,
        "invitation_used",
    )
    .await;

    // Expired, revoked, replaced, and for someone already a member.
    let expiring: Value = app
        .invite("acme", &org, &owner, &other.email, &["member"])
        .await
        .json()
        .await
        .unwrap();
    sqlx::query(
        "UPDATE org_invitations SET expires_at = now() - interval '1 second' WHERE id = $1::uuid",
    )
    .bind(expiring["id"].as_str().unwrap())
    .execute(&app.db)
    .await
    .unwrap();
    assert_error(
        app.accept("acme", &other, expiring["token"].as_str().unwrap())
            .await,
        410,
        "invitation_expired",
    )
    .await;
    let first: Value = app
        .invite("acme", &org, &owner, &other.email, &["member"])
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .invite("acme", &org, &owner, &other.email, &["member"])
        .await
        .json()
        .await
        .unwrap();
    assert_error(
        app.accept("acme", &other, first["token"].as_str().unwrap())
            .await,
        410,
        "invitation_revoked",
    )
    .await;
    let response = app
        .send(
            Method::DELETE,
            &format!(
                "/t/acme/v1/orgs/{org}/invitations/{}",
                second["id"].as_str().unwrap()
            ),
            &owner.access_token,
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_error(
        app.accept("acme", &other, second["token"].as_str().unwrap())
            .await,
        410,
        "invitation_revoked",
    )
    .await;
    assert_error(
        app.invite("acme", &org, &owner, &invited.email, &["member"])
            .await,
        409,
        "already_member",
    )
    .await;
    assert_error(
        app.invite("acme", &org, &owner, "not an address", &["member"])
            .await,
        422,
        "email_invalid",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn tenants_share_no_organization_member_or_invitation(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let owner = app.member("acme", "owner@example.com").await;
    let org = app.create_org("acme", &owner, "Engines").await;
    // The same address in another tenant is another person.
    let stranger = app.member("globex", "stranger@example.com").await;
    let twin = app.member("globex", "owner@example.com").await;
    let invitation: Value = app
        .invite("acme", &org, &owner, "stranger@example.com", &["member"])
        .await
        .json()
        .await
        .unwrap();

    // globex's tokens are not acme's; acme's organization is not found through globex.
    assert_error(
        app.get_with_token(&format!("/t/acme/v1/orgs/{org}"), &stranger.access_token)
            .await,
        401,
        "issuer_untrusted",
    )
    .await;
    assert_error(
        app.get_with_token(&format!("/t/globex/v1/orgs/{org}"), &twin.access_token)
            .await,
        404,
        "org_not_found",
    )
    .await;
    assert_error(
        app.accept("globex", &stranger, invitation["token"].as_str().unwrap())
            .await,
        404,
        "invitation_not_found",
    )
    .await;
    assert_error(
        app.admin(
            Method::GET,
            &format!("/v1/admin/tenants/globex/orgs/{org}"),
            None,
        )
        .await,
        404,
        "org_not_found",
    )
    .await;
    assert_error(
        app.admin(
            Method::PUT,
            &format!(
                "/v1/admin/tenants/acme/orgs/{org}/members/{}",
                stranger.user_id
            ),
            Some(json!({"roles": ["member"]})),
        )
        .await,
        404,
        "user_not_found",
    )
    .await;
    let listed: Value = app
        .admin(Method::GET, "/v1/admin/tenants/globex/orgs", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["orgs"], json!([]));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_session_switches_organization_without_signing_in_again(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let mut ada = app.member("acme", "ada@example.com").await;
    let first = app.create_org("acme", &ada, "First").await;
    let second = app.create_org("acme", &ada, "Second").await;
    assert_eq!(
        app.refreshed_claims("acme", &mut ada).await["org_id"],
        first.as_str()
    );

    let response = app
        .send(
            Method::PUT,
            "/t/acme/v1/orgs/active",
            &ada.access_token,
            Some(json!({"org_id": second})),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["active_org_id"],
        second.as_str()
    );
    // The token in hand is unchanged until the next refresh.
    assert_eq!(jwt_part(&ada.access_token, 1)["org_id"], first.as_str());
    let claims = app.refreshed_claims("acme", &mut ada).await;
    assert_eq!(claims["org_id"], second.as_str());
    assert_eq!(claims["roles"], json!(["owner"]));

    let response = app
        .send(
            Method::PUT,
            "/t/acme/v1/orgs/active",
            &ada.access_token,
            Some(json!({"org_id": null})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let claims = app.refreshed_claims("acme", &mut ada).await;
    assert!(
        claims.get("org_id").is_none()
            && claims.get("roles").is_none()
            && claims.get("scope").is_none(),
        "{claims}"
    );

    // Chosen at sign-in.
    let response = app
        .post_session_in_org("acme", "ada@example.com", &second)
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        jwt_part(body["access_token"].as_str().unwrap(), 1)["org_id"],
        second.as_str()
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn role_changes_and_leaving_show_at_the_next_refresh(db: PgPool) {
    let app = spawn_app(db).await;
    let OrgFixture {
        org,
        owner,
        mut members,
    } = app
        .org_fixture(
            "acme",
            "Engines",
            "owner@example.com",
            &[("bob@example.com", &["member"])],
        )
        .await;
    let mut bob = members.remove(0);
    let claims = app.refreshed_claims("acme", &mut bob).await;
    assert_eq!(claims["roles"], json!(["member"]));
    assert_eq!(claims["scope"], "members:read org:read");

    assert_eq!(
        app.set_roles("acme", &org, &owner, &bob.user_id, &["admin"])
            .await
            .status(),
        200
    );
    assert_eq!(jwt_part(&bob.access_token, 1)["roles"], json!(["member"]));
    let claims = app.refreshed_claims("acme", &mut bob).await;
    assert_eq!(claims["roles"], json!(["admin"]));
    assert_eq!(
        claims["scope"],
        "members:read members:write org:read org:write"
    );

    let response = app
        .send(
            Method::POST,
            &format!("/t/acme/v1/orgs/{org}/leave"),
            &bob.access_token,
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
    let claims = app.refreshed_claims("acme", &mut bob).await;
    assert!(claims.get("org_id").is_none(), "{claims}");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn removing_a_member_revokes_their_sessions_acting_for_it_here_and_at_the_edge(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    app.create_tenant("acme").await;
    let owner = app.member("acme", "owner@example.com").await;
    let bob = app.member("acme", "bob@example.com").await;
    let engines = app.create_org("acme", &owner, "Engines").await;
    let boats = app.create_org("acme", &owner, "Boats").await;
    app.join("acme", &engines, &owner, &bob, &["member"]).await;
    app.join("acme", &boats, &owner, &bob, &["member"]).await;
    // One session of Bob's acts for Engines (it adopted the first he joined), another for Boats.
    let in_boats = app
        .post_session_in_org("acme", "bob@example.com", &boats)
        .await;
    let in_boats: Value = in_boats.json().await.unwrap();
    let pushed_before = edge.notices().len();

    let response = app.remove("acme", &engines, &owner, &bob.user_id).await;
    assert_eq!(response.status(), 204);

    let notices = edge.notices();
    let pushed: Vec<&str> = notices[pushed_before..]
        .iter()
        .map(|n| n.session_id.as_str())
        .collect();
    assert_eq!(pushed, vec![bob.session_id.as_str()]);
    assert_error(
        app.me("acme", &bob.access_token).await,
        401,
        "token_revoked",
    )
    .await;
    assert_error(
        app.refresh("acme", &bob.refresh_token).await,
        401,
        "session_revoked",
    )
    .await;
    let boats_token = in_boats["access_token"].as_str().unwrap();
    assert_eq!(app.me("acme", boats_token).await.status(), 200);
    assert_eq!(jwt_part(boats_token, 1)["org_id"], boats.as_str());
    assert_error(
        app.remove("acme", &engines, &owner, &bob.user_id).await,
        404,
        "member_not_found",
    )
    .await;

    let events = app.audit_types().await;
    let removed = events
        .iter()
        .find(|(t, _, _)| t == "org.member_removed")
        .unwrap();
    assert_eq!(removed.1, "user");
    assert_eq!(removed.2.as_deref(), Some(bob.user_id.as_str()));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn every_membership_change_is_audited_with_its_actor(db: PgPool) {
    let app = spawn_app(db).await;
    let OrgFixture {
        org,
        owner,
        mut members,
    } = app
        .org_fixture(
            "acme",
            "Engines",
            "owner@example.com",
            &[("bob@example.com", &["member"])],
        )
        .await;
    let bob = members.remove(0);
    app.set_roles("acme", &org, &owner, &bob.user_id, &["admin"])
        .await;
    app.admin(
        Method::PUT,
        &format!("/v1/admin/tenants/acme/orgs/{org}/members/{}", bob.user_id),
        Some(json!({"roles": ["member"]})),
    )
    .await;
    app.remove("acme", &org, &owner, &bob.user_id).await;
    // A refused change leaves no event: it rolls back with the change.
    assert_eq!(app.leave("acme", &org, &owner).await.status(), 409);
    app.admin(
        Method::DELETE,
        &format!("/v1/admin/tenants/acme/orgs/{org}"),
        None,
    )
    .await;

    let events: Vec<(String, String)> = app
        .audit_types()
        .await
        .into_iter()
        .map(|(t, a, _)| (t, a))
        .collect();
    let expected = [
        ("org.created", "user"),
        ("org.invitation_created", "user"),
        ("org.invitation_accepted", "user"),
        ("org.member_roles_changed", "user"),
        ("org.member_roles_changed", "admin"),
        ("org.member_removed", "user"),
        ("org.deleted", "admin"),
    ];
    assert_eq!(
        events,
        expected.map(|(t, a)| (t.to_owned(), a.to_owned())).to_vec()
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_admin_api_manages_organizations_members_and_role_definitions(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let mut ada = app.member("acme", "ada@example.com").await;
    let bob = app.member("acme", "bob@example.com").await;

    assert_error(
        app.send(Method::GET, "/v1/admin/tenants/acme/orgs", "wrong", None)
            .await,
        401,
        "unauthorized",
    )
    .await;
    let response = app
        .admin(
            Method::POST,
            "/v1/admin/tenants/acme/orgs",
            Some(json!({"name": "Engines", "owner_user_id": ada.user_id})),
        )
        .await;
    assert_eq!(response.status(), 201);
    let org: Value = response.json().await.unwrap();
    let org_id = org["id"].as_str().unwrap().to_owned();
    assert_eq!(org["members"], 1);
    app.admin(
        Method::POST,
        "/v1/admin/tenants/acme/orgs",
        Some(json!({"name": "Boats"})),
    )
    .await;

    // Pages of one, in creation order.
    let page: Value = app
        .admin(Method::GET, "/v1/admin/tenants/acme/orgs?limit=1", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["orgs"][0]["name"], "Engines");
    let cursor = page["next_cursor"].as_str().unwrap();
    let page: Value = app
        .admin(
            Method::GET,
            &format!("/v1/admin/tenants/acme/orgs?limit=1&cursor={cursor}"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["orgs"][0]["name"], "Boats");
    assert_eq!(page["next_cursor"], Value::Null);
    for (query, code) in [
        ("limit=0", "limit_invalid"),
        ("cursor=zzz", "cursor_invalid"),
        ("limit=1&limit=2", "query_invalid"),
        ("sort=name", "query_invalid"),
    ] {
        assert_error(
            app.admin(
                Method::GET,
                &format!("/v1/admin/tenants/acme/orgs?{query}"),
                None,
            )
            .await,
            422,
            code,
        )
        .await;
    }

    // A tenant's own role, granting a scope of its own, shows in the member's token.
    let response = app
        .admin(
            Method::PUT,
            "/v1/admin/tenants/acme/org-roles/billing",
            Some(json!({"scopes": ["invoices:read", "org:read"]})),
        )
        .await;
    assert_eq!(response.status(), 201);
    let response = app
        .admin(
            Method::PUT,
            &format!(
                "/v1/admin/tenants/acme/orgs/{org_id}/members/{}",
                ada.user_id
            ),
            Some(json!({"roles": ["owner", "billing"]})),
        )
        .await;
    assert_eq!(response.status(), 200);
    // Her first session acts for no organization (the admin's change did not choose one for it);
    // a new sign-in acts for the one she joined first.
    assert!(app
        .refreshed_claims("acme", &mut ada)
        .await
        .get("org_id")
        .is_none());
    let mut ada = app
        .session_of("acme", "ada@example.com", ada.user_id.clone())
        .await;
    let claims = app.refreshed_claims("acme", &mut ada).await;
    assert_eq!(claims["org_id"], org_id.as_str());
    assert_eq!(claims["roles"], json!(["billing", "owner"]));
    assert!(claims["scope"]
        .as_str()
        .unwrap()
        .split(' ')
        .any(|s| s == "invoices:read"));

    let roles: Value = app
        .admin(Method::GET, "/v1/admin/tenants/acme/org-roles", None)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = roles["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["admin", "billing", "member", "owner"]);
    assert_error(
        app.admin(
            Method::DELETE,
            "/v1/admin/tenants/acme/org-roles/billing",
            None,
        )
        .await,
        409,
        "role_in_use",
    )
    .await;
    assert_error(
        app.admin(
            Method::DELETE,
            "/v1/admin/tenants/acme/org-roles/owner",
            None,
        )
        .await,
        409,
        "role_protected",
    )
    .await;
    assert_error(
        app.admin(
            Method::DELETE,
            "/v1/admin/tenants/acme/org-roles/ghost",
            None,
        )
        .await,
        404,
        "role_not_found",
    )
    .await;
    assert_error(
        app.admin(
            Method::PUT,
            "/v1/admin/tenants/acme/org-roles/Bad%20Name",
            Some(json!({"scopes": []})),
        )
        .await,
        422,
        "role_name_invalid",
    )
    .await;
    assert_error(
        app.admin(
            Method::PUT,
            "/v1/admin/tenants/acme/org-roles/x",
            Some(json!({"scopes": ["a b"]})),
        )
        .await,
        422,
        "scopes_invalid",
    )
    .await;

    // Added, listed, removed; renamed; deleted.
    let response = app
        .admin(
            Method::PUT,
            &format!(
                "/v1/admin/tenants/acme/orgs/{org_id}/members/{}",
                bob.user_id
            ),
            Some(json!({"roles": ["member"]})),
        )
        .await;
    assert_eq!(response.status(), 201);
    let members: Value = app
        .admin(
            Method::GET,
            &format!("/v1/admin/tenants/acme/orgs/{org_id}/members"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(members["members"].as_array().unwrap().len(), 2);
    let response = app
        .admin(
            Method::DELETE,
            &format!(
                "/v1/admin/tenants/acme/orgs/{org_id}/members/{}",
                bob.user_id
            ),
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
    let response = app
        .admin(
            Method::PATCH,
            &format!("/v1/admin/tenants/acme/orgs/{org_id}"),
            Some(json!({"name": "Motors"})),
        )
        .await;
    assert_eq!(response.json::<Value>().await.unwrap()["name"], "Motors");
    let response = app
        .admin(
            Method::DELETE,
            &format!("/v1/admin/tenants/acme/orgs/{org_id}"),
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_error(
        app.me("acme", &ada.access_token).await,
        401,
        "token_revoked",
    )
    .await;
    assert_error(
        app.admin(
            Method::GET,
            &format!("/v1/admin/tenants/acme/orgs/{org_id}"),
            None,
        )
        .await,
        404,
        "org_not_found",
    )
    .await;
}
