use crate::helpers::{
    assert_error, now_unix, spawn_app, spawn_app_with_edge, spawn_with, test_config, unused_addr,
    EdgeReceiver,
};
use origin_api::edge_push::{retry_pending, RetryReport};
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::PgPool;

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn deleting_a_session_pushes_an_authenticated_notice_and_returns_204(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ursula@example.com").await;

    let token_exp = crate::helpers::jwt_part(&s.access_token, 1)["exp"]
        .as_i64()
        .unwrap();
    let response = app
        .delete_session("acme", &s.session_id, &s.access_token)
        .await;
    assert_eq!(response.status(), 204);

    let received = edge.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].content_type.as_deref(),
        Some("application/json")
    );
    let notice = received[0]
        .notice
        .clone()
        .expect("the push is signed with the shared secret");
    assert_eq!(notice.tenant_id, s.tenant["id"].as_str().unwrap());
    assert_eq!(notice.session_id, s.session_id);
    // Issue 10 §1.1: the session's last token expiry + the largest leeway + a skew margin.
    assert_eq!(
        notice.expires_at,
        origin_api::revocation::notice_expiry(token_exp),
        "{notice:?}"
    );
    assert!(notice.expires_at > token_exp + auth_core::claims::MAX_LEEWAY_SECS as i64);
    assert!(
        app.outbox_rows().await.is_empty(),
        "a delivered notice leaves no outbox row"
    );

    // Postgres is the authority at the origin: the token and the refresh token are dead.
    assert_error(app.me("acme", &s.access_token).await, 401, "token_revoked").await;
    assert_error(
        app.refresh("acme", &s.refresh_token).await,
        401,
        "session_revoked",
    )
    .await;
    let (revoked_tokens,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NOT NULL")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(revoked_tokens, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn deleting_a_session_while_the_edge_is_unreachable_returns_202_and_keeps_an_outbox_row(
    db: PgPool,
) {
    let edge_addr = unused_addr().await;
    let app = spawn_app_with_edge(db, &format!("http://{edge_addr}/__auth/revocations")).await;
    let s = app.signed_in("acme", "ursula@example.com").await;

    let response = app
        .delete_session("acme", &s.session_id, &s.access_token)
        .await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"session_id": s.session_id, "revoked": true, "edge": "pending"})
    );

    let rows = app.outbox_rows().await;
    assert_eq!(rows.len(), 1);
    let (tenant_id, session_id, _, attempts, last_error) = &rows[0];
    assert_eq!(tenant_id, s.tenant["id"].as_str().unwrap());
    assert_eq!(session_id, &s.session_id);
    assert_eq!(*attempts, 1);
    assert!(
        last_error
            .as_deref()
            .is_some_and(|e| e.contains("unreachable")),
        "{last_error:?}"
    );
    // Revoked at the origin regardless of the edge.
    assert_error(app.me("acme", &s.access_token).await, 401, "token_revoked").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_retry_pass_delivers_pending_revocations_once_the_edge_is_up(db: PgPool) {
    let edge_addr = unused_addr().await;
    let app = spawn_app_with_edge(db, &format!("http://{edge_addr}/__auth/revocations")).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    app.drop_session_notices().await;
    assert_eq!(
        app.delete_session("acme", &s.session_id, &s.access_token)
            .await
            .status(),
        202
    );
    let pusher = app.state.edge().expect("pushes are enabled");

    // Still down: the row stays, with one more attempt.
    let report = retry_pending(&app.db, pusher).await.unwrap();
    assert_eq!(
        report,
        RetryReport {
            delivered: 0,
            failed: 1,
            deferred: 0,
            expired: 0
        }
    );
    assert_eq!(app.outbox_rows().await[0].3, 2);

    let edge = EdgeReceiver::start_on(edge_addr).await;
    let report = retry_pending(&app.db, pusher).await.unwrap();
    assert_eq!(
        report,
        RetryReport {
            delivered: 1,
            failed: 0,
            deferred: 0,
            expired: 0
        }
    );
    let notices = edge.notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].session_id, s.session_id);
    assert!(app.outbox_rows().await.is_empty());

    // Nothing left to do.
    assert_eq!(
        retry_pending(&app.db, pusher).await.unwrap(),
        RetryReport::default()
    );
    assert_eq!(edge.notices().len(), 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_retry_pass_drops_revocations_whose_tokens_have_all_lapsed(db: PgPool) {
    let edge_addr = unused_addr().await;
    let app = spawn_app_with_edge(db, &format!("http://{edge_addr}/__auth/revocations")).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    app.drop_session_notices().await;
    assert_eq!(
        app.delete_session("acme", &s.session_id, &s.access_token)
            .await
            .status(),
        202
    );
    sqlx::query("UPDATE revocation_outbox SET expires_at = $1")
        .bind(now_unix() - 1)
        .execute(&app.db)
        .await
        .unwrap();
    let report = retry_pending(&app.db, app.state.edge().unwrap())
        .await
        .unwrap();
    assert_eq!(
        report,
        RetryReport {
            delivered: 0,
            failed: 0,
            deferred: 0,
            expired: 1
        }
    );
    assert!(app.outbox_rows().await.is_empty());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_edge_that_refuses_the_signature_leaves_the_revocation_pending(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let mut config = test_config(Some(edge.url.clone()));
    let wrong = SecretString::from("another-secret-0123456789abcdefghijklmn".to_owned());
    config.edge_push.as_mut().unwrap().secret = wrong;
    let app = spawn_with(db, config).await;
    let s = app.signed_in("acme", "ursula@example.com").await;

    assert_eq!(
        app.delete_session("acme", &s.session_id, &s.access_token)
            .await
            .status(),
        202
    );
    assert_eq!(edge.received().len(), 1);
    assert!(
        edge.notices().is_empty(),
        "the receiver refused the forged signature"
    );
    let rows = app.outbox_rows().await;
    assert_eq!(rows[0].4.as_deref(), Some("edge answered http 401"));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn revoking_an_already_revoked_session_is_idempotent_and_pushes_again(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let second = app.sign_in("acme", "ursula@example.com").await;
    let token = second["access_token"].as_str().unwrap();

    assert_eq!(
        app.delete_session("acme", &s.session_id, token)
            .await
            .status(),
        204
    );
    let (first_revoked_at,): (time::OffsetDateTime,) =
        sqlx::query_as("SELECT revoked_at FROM sessions WHERE id = $1::uuid")
            .bind(&s.session_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        app.delete_session("acme", &s.session_id, token)
            .await
            .status(),
        204
    );
    let (again_revoked_at,): (time::OffsetDateTime,) =
        sqlx::query_as("SELECT revoked_at FROM sessions WHERE id = $1::uuid")
            .bind(&s.session_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(
        first_revoked_at, again_revoked_at,
        "the first revocation time is kept"
    );
    assert_eq!(edge.notices().len(), 2);
    assert!(edge.notices().iter().all(|n| n.session_id == s.session_id));
    // The other session is untouched.
    assert_eq!(app.me("acme", token).await.status(), 200);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn deleting_another_users_session_returns_404_session_not_found(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let ursula = app.signed_in("acme", "ursula@example.com").await;
    app.create_user("acme", "mallory@example.com").await;
    let mallory = app.sign_in("acme", "mallory@example.com").await;

    let response = app
        .delete_session(
            "acme",
            &ursula.session_id,
            mallory["access_token"].as_str().unwrap(),
        )
        .await;
    assert_error(response, 404, "session_not_found").await;
    assert_eq!(
        app.me("acme", &ursula.access_token).await.status(),
        200,
        "ursula's session is untouched"
    );
    assert!(edge.received().is_empty());
    assert!(app.outbox_rows().await.is_empty());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn deleting_an_unknown_or_malformed_session_id_returns_404_session_not_found(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for id in [unknown.as_str(), "not-a-uuid", "1234"] {
        assert_error(
            app.delete_session("acme", id, &s.access_token).await,
            404,
            "session_not_found",
        )
        .await;
    }
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn deleting_a_session_needs_a_valid_access_token(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let response = app
        .client
        .delete(app.url(&format!("/t/acme/v1/sessions/{}", s.session_id)))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "token_missing").await;
    assert_error(
        app.delete_session("acme", &s.session_id, "garbage").await,
        401,
        "token_malformed",
    )
    .await;
    assert_eq!(app.me("acme", &s.access_token).await.status(), 200);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn with_pushes_disabled_deleting_a_session_returns_204_and_leaves_no_outbox_row(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    assert!(app.state.edge().is_none());
    assert_eq!(
        app.delete_session("acme", &s.session_id, &s.access_token)
            .await
            .status(),
        204
    );
    assert!(app.outbox_rows().await.is_empty());
    assert_error(app.me("acme", &s.access_token).await, 401, "token_revoked").await;
}
