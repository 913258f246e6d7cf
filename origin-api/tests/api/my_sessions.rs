//! The caller's own sessions: the list, signing out the others, signing out everywhere.

use crate::helpers::{
    assert_error, jwt_part, spawn_app, spawn_app_with_edge, unused_addr, EdgeReceiver, TestApp,
    PASSWORD,
};
use origin_api::revocation::notice_expiry;
use reqwest::Response;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::time::Duration;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

impl TestApp {
    async fn sign_in_as(&self, slug: &str, email: &str, user_agent: &str) -> Value {
        let response = self
            .client
            .post(self.url(&format!("/t/{slug}/v1/sessions")))
            .header("user-agent", user_agent)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    async fn list_sessions(&self, slug: &str, token: &str) -> Response {
        self.get_with_token(&format!("/t/{slug}/v1/sessions"), token)
            .await
    }

    async fn delete_with_token(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

fn token(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_list_shows_the_callers_live_sessions_with_the_current_one_flagged(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let firefox = app.sign_in_as("acme", "ursula@example.com", FIREFOX).await;
    let revoked = app.sign_in("acme", "ursula@example.com").await;
    app.delete_session(
        "acme",
        revoked["session_id"].as_str().unwrap(),
        &s.access_token,
    )
    .await;
    app.create_user("acme", "mallory@example.com").await;
    app.sign_in("acme", "mallory@example.com").await;

    let response = app.list_sessions("acme", token(&firefox)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{body}");
    let by_id = |id: &Value| sessions.iter().find(|x| &x["id"] == id).unwrap().clone();
    let current = by_id(&firefox["session_id"]);
    assert_eq!(current["current"], true);
    assert_eq!(current["client"], "Firefox on Linux");
    assert!(
        !body.to_string().contains("rv:128.0"),
        "never the raw header"
    );
    let first = by_id(&json!(s.session_id));
    assert_eq!(first["current"], false);
    assert_eq!(
        first["client"], "Unknown client",
        "reqwest sends no user agent"
    );
    for field in ["created_at", "last_used_at", "expires_at"] {
        let at = first[field].as_str().unwrap();
        time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| panic!("{field} is RFC 3339: {at}"));
    }
    assert_eq!(
        first.as_object().unwrap().len(),
        6,
        "id, created_at, last_used_at, expires_at, client, current"
    );

    assert_error(
        app.client
            .get(app.url("/t/acme/v1/sessions"))
            .send()
            .await
            .unwrap(),
        401,
        "token_missing",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_refresh_moves_last_used_and_the_list_puts_the_most_recent_first(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let other = app.sign_in("acme", "ursula@example.com").await;
    sqlx::query("UPDATE sessions SET created_at = created_at - interval '1 hour', last_used_at = last_used_at - interval '1 hour'")
        .execute(&app.db)
        .await
        .unwrap();
    let refreshed = app.refresh("acme", &s.refresh_token).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();

    let body: Value = app
        .list_sessions("acme", token(&refreshed))
        .await
        .json()
        .await
        .unwrap();
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions[0]["id"], json!(s.session_id), "{body}");
    assert_eq!(sessions[1]["id"], other["session_id"]);
    assert!(sessions[0]["last_used_at"].as_str() > sessions[0]["created_at"].as_str());
    assert_eq!(sessions[1]["last_used_at"], sessions[1]["created_at"]);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn signing_out_the_others_keeps_only_the_current_session(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let second = app.sign_in("acme", "ursula@example.com").await;
    let third = app.sign_in("acme", "ursula@example.com").await;

    let response = app
        .delete_with_token("/t/acme/v1/sessions/others", token(&third))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"revoked": 2})
    );

    for dead in [s.access_token.as_str(), token(&second)] {
        assert_error(app.me("acme", dead).await, 401, "token_revoked").await;
    }
    for dead in [
        s.refresh_token.as_str(),
        second["refresh_token"].as_str().unwrap(),
    ] {
        assert_error(app.refresh("acme", dead).await, 401, "session_revoked").await;
    }
    assert_eq!(app.me("acme", token(&third)).await.status(), 200);
    let mut pushed: Vec<String> = edge.notices().into_iter().map(|n| n.session_id).collect();
    pushed.sort();
    let mut expected = vec![
        s.session_id.clone(),
        second["session_id"].as_str().unwrap().to_owned(),
    ];
    expected.sort();
    assert_eq!(pushed, expected);

    // Nothing left to revoke: 200 with 0.
    let response = app
        .delete_with_token("/t/acme/v1/sessions/others", token(&third))
        .await;
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"revoked": 0})
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn signing_out_everywhere_kills_every_session_and_refresh_token_and_tells_the_edge(
    db: PgPool,
) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let second = app.sign_in("acme", "ursula@example.com").await;
    let third = app.sign_in("acme", "ursula@example.com").await;
    app.create_user("acme", "mallory@example.com").await;
    let mallory = app.sign_in("acme", "mallory@example.com").await;

    let before = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let response = app
        .delete_with_token("/t/acme/v1/sessions", token(&second))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["revoked"], 3, "{body}");
    let not_before = time::OffsetDateTime::parse(
        body["not_before"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(not_before >= before);
    let (stored,): (Option<time::OffsetDateTime>,) =
        sqlx::query_as("SELECT sessions_not_before FROM users WHERE id = $1::uuid")
            .bind(&s.user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        stored.map(|t| t.unix_timestamp()),
        Some(not_before.unix_timestamp())
    );

    for tokens in [
        json!({"access_token": s.access_token, "refresh_token": s.refresh_token}),
        second,
        third,
    ] {
        assert_error(app.me("acme", token(&tokens)).await, 401, "token_revoked").await;
        assert_error(
            app.refresh("acme", tokens["refresh_token"].as_str().unwrap())
                .await,
            401,
            "session_revoked",
        )
        .await;
    }
    let notices = edge.notices();
    assert_eq!(notices.len(), 3);
    assert!(app.outbox_rows().await.is_empty());
    // And one not-before for the user, kept as long as the longest-lived session notice: the edge
    // refuses every token of theirs issued before that second, whatever their session.
    let latest = notices.iter().map(|n| n.expires_at).max().unwrap();
    assert_eq!(
        edge.not_before_notices(),
        vec![auth_core::notice::NotBeforeNotice {
            tenant_id: s.tenant["id"].as_str().unwrap().to_owned(),
            user_id: Some(s.user_id.clone()),
            not_before: not_before.unix_timestamp(),
            expires_at: latest,
        }]
    );
    assert!(
        app.outbox()
            .await
            .iter()
            .all(|(kind, _)| kind != "not_before"),
        "delivered, so not left in the outbox"
    );
    assert_eq!(
        app.me("acme", token(&mallory)).await.status(),
        200,
        "another user is untouched"
    );

    // Signing in again works, and starts a session of its own.
    let again = app.sign_in("acme", "ursula@example.com").await;
    assert_eq!(app.me("acme", token(&again)).await.status(), 200);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn with_the_edge_down_signing_out_everywhere_answers_202_and_queues_every_notice(db: PgPool) {
    let down = unused_addr().await;
    let app = spawn_app_with_edge(db, &format!("http://{down}/__auth/revocations")).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    app.sign_in("acme", "ursula@example.com").await;
    let response = app
        .delete_with_token("/t/acme/v1/sessions", &s.access_token)
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["revoked"], 2);
    assert_eq!(body["edge"], "pending");
    assert_eq!(app.outbox_rows().await.len(), 2);
    let not_befores: Vec<Value> = app
        .outbox()
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "not_before")
        .map(|(_, payload)| payload)
        .collect();
    assert_eq!(not_befores.len(), 1, "the user's not-before waits too");
    assert_eq!(not_befores[0]["user_id"], s.user_id.as_str());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_sign_out_everywhere_with_no_token_left_that_can_pass_sends_no_not_before(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    sqlx::query("UPDATE sessions SET access_expires_at = now() - interval '1 hour'")
        .execute(&app.db)
        .await
        .unwrap();
    let response = app
        .delete_with_token("/t/acme/v1/sessions", &s.access_token)
        .await;
    assert_eq!(response.status(), 200);
    assert!(edge.notices().is_empty());
    assert!(edge.not_before_notices().is_empty());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_sign_in_and_each_refresh_tell_the_tenants_object_about_the_session(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ursula@example.com").await;
    let signed_in = app.sign_in_as("acme", "ursula@example.com", FIREFOX).await;
    let opened = edge.wait_for_session_notices(1).await.remove(0);
    assert_eq!(opened.session_id, signed_in["session_id"].as_str().unwrap());
    let session = &opened.session;
    assert_eq!(session.client, "Firefox on Linux");
    assert_eq!(session.created_at, session.last_refreshed_at);
    assert_eq!(
        session.expires_at - session.created_at,
        30 * 86_400,
        "the session's absolute end"
    );
    let iat = jwt_part(token(&signed_in), 1)["iat"].as_i64().unwrap();
    assert_eq!(session.created_at, iat);
    assert_eq!(
        session.user_id,
        jwt_part(token(&signed_in), 1)["sub"].as_str().unwrap()
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let refreshed: Value = app
        .refresh("acme", signed_in["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let seen = edge.wait_for_session_notices(2).await.remove(1);
    assert_eq!(seen.session_id, opened.session_id);
    assert_eq!(seen.session.created_at, session.created_at);
    assert_eq!(seen.session.expires_at, session.expires_at);
    assert_eq!(seen.session.client, "Firefox on Linux");
    assert_eq!(
        seen.session.last_refreshed_at,
        jwt_part(token(&refreshed), 1)["iat"].as_i64().unwrap()
    );
    assert!(seen.session.last_refreshed_at > session.last_refreshed_at);
    app.wait_for_empty_outbox().await; // both delivered
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_notice_outlives_the_sessions_last_token_by_the_largest_leeway_and_a_margin(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let refreshed: Value = app
        .refresh("acme", &s.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    let last_exp = jwt_part(token(&refreshed), 1)["exp"].as_i64().unwrap();

    assert_eq!(
        app.delete_session("acme", &s.session_id, token(&refreshed))
            .await
            .status(),
        204
    );
    let notice = edge.notices().pop().unwrap();
    assert_eq!(notice.expires_at, notice_expiry(last_exp));
    assert_eq!(
        notice.expires_at,
        last_exp
            + auth_core::claims::MAX_LEEWAY_SECS as i64
            + origin_api::revocation::CLOCK_SKEW_MARGIN_SECS
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn only_sessions_whose_tokens_can_still_pass_get_a_notice(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let old = app.sign_in("acme", "ursula@example.com").await;
    // The old session's last token expired long enough ago to pass nowhere.
    sqlx::query(
        "UPDATE sessions SET access_expires_at = now() - interval '1 hour' WHERE id = $1::uuid",
    )
    .bind(old["session_id"].as_str().unwrap())
    .execute(&app.db)
    .await
    .unwrap();
    let response = app
        .delete_with_token("/t/acme/v1/sessions", &s.access_token)
        .await;
    assert_eq!(response.json::<Value>().await.unwrap()["revoked"], 2);
    let pushed: Vec<String> = edge.notices().into_iter().map(|n| n.session_id).collect();
    assert_eq!(pushed, vec![s.session_id]);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_sign_in_waits_for_a_sign_out_everywhere_in_progress(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let mut sweep = app.db.begin().await.unwrap();
    sqlx::query("SELECT id FROM users WHERE id = $1::uuid FOR UPDATE")
        .bind(&s.user_id)
        .execute(&mut *sweep)
        .await
        .unwrap();

    let sign_in = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/t/acme/v1/sessions"));
        async move {
            client
                .post(url)
                .json(&json!({"email": "ursula@example.com", "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!sign_in.is_finished(), "the sign-in waits for the sweep");
    sweep.commit().await.unwrap();
    assert_eq!(sign_in.await.unwrap(), 201);
}
