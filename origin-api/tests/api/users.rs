use crate::helpers::{assert_error, spawn_app, PASSWORD};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn signing_up_returns_201_with_the_user_id_and_email(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let response = app.post_user("acme", "Ursula@Example.com", PASSWORD).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(body["email"], "Ursula@Example.com");
    assert_eq!(
        body.as_object().unwrap().len(),
        2,
        "no hash or other internals: {body}"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_password_is_stored_only_as_an_argon2id_hash(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ursula@example.com").await;
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn signing_up_twice_with_the_same_email_in_another_case_returns_409_email_taken(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ursula@example.com").await;
    assert_error(
        app.post_user("acme", "ursula@example.com", PASSWORD).await,
        409,
        "email_taken",
    )
    .await;
    assert_error(
        app.post_user("acme", "URSULA@Example.COM", "another password")
            .await,
        409,
        "email_taken",
    )
    .await;
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn concurrent_sign_ups_with_the_same_email_create_one_user(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let (a, b) = tokio::join!(
        app.post_user("acme", "ursula@example.com", PASSWORD),
        app.post_user("acme", "Ursula@example.com", PASSWORD)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409]);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_same_email_may_sign_up_in_two_tenants(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let a = app.create_user("acme", "ursula@example.com").await;
    let b = app.create_user("globex", "ursula@example.com").await;
    assert_ne!(a, b);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_malformed_email_returns_422_email_invalid(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    for email in [
        "",
        "ursula",
        "ursula@",
        "@example.com",
        "ursula@example",
        "ur sula@example.com",
        "a@b@example.com",
    ] {
        assert_error(
            app.post_user("acme", email, PASSWORD).await,
            422,
            "email_invalid",
        )
        .await;
    }
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_password_under_8_characters_returns_422_password_too_short(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    assert_error(
        app.post_user("acme", "ursula@example.com", "1234567").await,
        422,
        "password_too_short",
    )
    .await;
    assert_error(
        app.post_user("acme", "ursula@example.com", "").await,
        422,
        "password_too_short",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_password_over_1024_bytes_returns_422_password_too_long(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let long = "a".repeat(1025);
    assert_error(
        app.post_user("acme", "ursula@example.com", &long).await,
        422,
        "password_too_long",
    )
    .await;
    let response = app
        .post_user("acme", "ursula@example.com", &"a".repeat(1024))
        .await;
    assert_eq!(response.status(), 201);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn signing_up_at_an_unknown_tenant_returns_404_tenant_not_found(db: PgPool) {
    let app = spawn_app(db).await;
    assert_error(
        app.post_user("nope", "ursula@example.com", PASSWORD).await,
        404,
        "tenant_not_found",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_password_of_the_wrong_type_returns_422_without_echoing_it(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let response = app
        .post_json(
            "/t/acme/v1/users",
            &json!({"email": "ursula@example.com", "password": 12345678}),
        )
        .await;
    let message = assert_error(response, 422, "invalid_body").await;
    assert!(!message.contains("12345678"), "{message}");
}
