//! The operator's revocations: a user's sessions, a tenant's sessions before an instant.

use crate::helpers::{
    assert_error, spawn_app, spawn_app_with_edge, EdgeReceiver, TestApp, ADMIN_TOKEN,
};
use reqwest::Response;
use serde_json::{json, Value};
use sqlx::PgPool;

impl TestApp {
    async fn admin_delete(&self, path: &str, admin: Option<&str>) -> Response {
        let mut request = self.client.delete(self.url(path));
        if let Some(token) = admin {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    async fn put_not_before(&self, slug: &str, body: &Value) -> Response {
        self.client
            .put(self.url(&format!("/v1/admin/tenants/{slug}/sessions/not-before")))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_admin_signs_a_user_out_everywhere(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let second = app.sign_in("acme", "ursula@example.com").await;
    app.create_user("acme", "mallory@example.com").await;
    let mallory = app.sign_in("acme", "mallory@example.com").await;
    let path = format!("/v1/admin/tenants/acme/users/{}/sessions", s.user_id);

    assert_error(app.admin_delete(&path, None).await, 401, "unauthorized").await;
    assert_error(
        app.admin_delete(&path, Some("wrong-admin-token-0123456789abcdef"))
            .await,
        401,
        "unauthorized",
    )
    .await;
    assert_eq!(app.me("acme", &s.access_token).await.status(), 200);

    let response = app.admin_delete(&path, Some(ADMIN_TOKEN)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["revoked"], 2, "{body}");
    assert!(body["not_before"].is_string());
    assert_error(app.me("acme", &s.access_token).await, 401, "token_revoked").await;
    assert_error(
        app.me("acme", second["access_token"].as_str().unwrap())
            .await,
        401,
        "token_revoked",
    )
    .await;
    assert_error(
        app.refresh("acme", &s.refresh_token).await,
        401,
        "session_revoked",
    )
    .await;
    let mut pushed: Vec<String> = edge.notices().into_iter().map(|n| n.session_id).collect();
    pushed.sort();
    let mut expected = vec![
        s.session_id.clone(),
        second["session_id"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(
        pushed, expected,
        "one notice for each of the user's sessions"
    );
    let user_nbf = edge.not_before_notices();
    assert_eq!(user_nbf.len(), 1, "the user's not-before reaches the edge");
    assert_eq!(user_nbf[0].user_id.as_deref(), Some(s.user_id.as_str()));
    let audited: Vec<(String,)> = sqlx::query_as(
        "SELECT event_type FROM audit_events WHERE subject_user_id = $1::uuid AND event_type LIKE 'admin.%'",
    )
    .bind(&s.user_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(audited, vec![("admin.user_sessions_revoked".to_owned(),)]);
    assert_eq!(
        app.me("acme", mallory["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    for (path, code) in [
        (
            format!(
                "/v1/admin/tenants/acme/users/{}/sessions",
                uuid::Uuid::new_v4()
            ),
            "user_not_found",
        ),
        (
            "/v1/admin/tenants/acme/users/not-a-uuid/sessions".to_owned(),
            "user_not_found",
        ),
        (
            format!("/v1/admin/tenants/nope/users/{}/sessions", s.user_id),
            "tenant_not_found",
        ),
    ] {
        assert_error(app.admin_delete(&path, Some(ADMIN_TOKEN)).await, 404, code).await;
    }
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_users_sessions_in_another_tenant_are_out_of_reach(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    app.create_tenant("other").await;
    let path = format!("/v1/admin/tenants/other/users/{}/sessions", s.user_id);
    assert_error(
        app.admin_delete(&path, Some(ADMIN_TOKEN)).await,
        404,
        "user_not_found",
    )
    .await;
    assert_eq!(app.me("acme", &s.access_token).await.status(), 200);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_tenant_not_before_revokes_every_session_created_before_it(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let old = app.signed_in("acme", "ursula@example.com").await;
    app.create_user("acme", "mallory@example.com").await;
    let recent = app.sign_in("acme", "mallory@example.com").await;
    let bystander = app.signed_in("other", "ursula@example.com").await;
    sqlx::query("UPDATE sessions SET created_at = now() - interval '2 hours' WHERE id = $1::uuid")
        .bind(&old.session_id)
        .execute(&app.db)
        .await
        .unwrap();

    let an_hour_ago = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let response = app
        .put_not_before("acme", &json!({"not_before": an_hour_ago}))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["revoked"], 1, "{body}");
    assert_error(
        app.me("acme", &old.access_token).await,
        401,
        "token_revoked",
    )
    .await;
    let recent_token = recent["access_token"].as_str().unwrap();
    assert_eq!(app.me("acme", recent_token).await.status(), 200);
    assert_eq!(edge.notices().len(), 1);
    // The tenant's not-before, for as long as the swept session's notice.
    let tenant_nbf = edge.not_before_notices();
    assert_eq!(tenant_nbf.len(), 1);
    assert_eq!(tenant_nbf[0].tenant_id, old.tenant["id"].as_str().unwrap());
    assert_eq!(tenant_nbf[0].user_id, None);
    assert_eq!(
        tenant_nbf[0].not_before,
        time::OffsetDateTime::parse(
            body["not_before"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .unwrap()
        .unix_timestamp()
    );
    assert_eq!(tenant_nbf[0].expires_at, edge.notices()[0].expires_at);

    // It only moves forward; "now" catches the recent session too.
    let response = app
        .put_not_before("acme", &json!({"not_before": "2001-01-01T00:00:00Z"}))
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["not_before"].as_str().unwrap()[..13],
        an_hour_ago[..13]
    );
    let response = app.put_not_before("acme", &json!({})).await;
    assert_eq!(response.json::<Value>().await.unwrap()["revoked"], 1);
    assert_error(app.me("acme", recent_token).await, 401, "token_revoked").await;
    assert_eq!(
        app.me("other", &bystander.access_token).await.status(),
        200,
        "another tenant is untouched"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_tenant_not_before_must_be_a_past_rfc3339_instant(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let tomorrow = (time::OffsetDateTime::now_utc() + time::Duration::days(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for bad in [
        json!({"not_before": tomorrow}),
        json!({"not_before": "yesterday"}),
    ] {
        assert_error(
            app.put_not_before("acme", &bad).await,
            422,
            "not_before_invalid",
        )
        .await;
    }
    assert_error(
        app.put_not_before("acme", &json!({"not_before": 5})).await,
        422,
        "invalid_body",
    )
    .await;
    assert_error(
        app.put_not_before("nope", &json!({})).await,
        404,
        "tenant_not_found",
    )
    .await;
    let response = app
        .client
        .put(app.url("/v1/admin/tenants/acme/sessions/not-before"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
}
