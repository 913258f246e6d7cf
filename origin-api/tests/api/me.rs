use crate::helpers::{assert_error, jwt_part, now_unix, spawn_app, with_claims, PUBLIC_URL};
use origin_api::keys::{decrypt_signing_key, CurrentKey, SigningAlgorithm};
use origin_api::tokens::{mint_access_token, AccessTokenRequest};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn me_returns_the_signed_in_user(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "Ursula@example.com").await;
    let response = app.me("acme", &s.access_token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], s.user_id.as_str());
    assert_eq!(body["email"], "Ursula@example.com");
    assert_eq!(body["tenant_id"], s.tenant["id"]);
    let created_at = body["created_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(created_at, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{created_at}"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn me_without_a_bearer_token_returns_401_token_missing_or_malformed_as_the_edge_does(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let response = app.get("/t/acme/v1/me").await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_error(response, 401, "token_missing").await;
    let basic = app
        .client
        .get(app.url("/t/acme/v1/me"))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .unwrap();
    assert_error(basic, 401, "token_malformed").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn me_with_a_tampered_token_returns_401_signature_invalid(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let other = app.create_user("acme", "mallory@example.com").await;
    let mut claims = jwt_part(&s.access_token, 1);
    claims["sub"] = json!(other);
    let response = app.me("acme", &with_claims(&s.access_token, &claims)).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\", error_description=\"signature_invalid\""
    );
    assert_error(response, 401, "signature_invalid").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn me_with_a_garbage_token_returns_401_token_malformed(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    assert_error(app.me("acme", "not-a-jwt").await, 401, "token_malformed").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn me_with_a_token_of_another_tenant_returns_401_issuer_untrusted(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    app.create_tenant("globex").await;
    app.create_user("globex", "ursula@example.com").await;
    assert_error(
        app.me("globex", &s.access_token).await,
        401,
        "issuer_untrusted",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn me_with_an_expired_token_returns_401_token_expired(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let tenant_id = Uuid::parse_str(s.tenant["id"].as_str().unwrap()).unwrap();
    let (kid, ciphertext, nonce): (String, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT kid, private_key_ciphertext, nonce FROM signing_keys WHERE status = 'current'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    let key = CurrentKey {
        kid: kid.clone(),
        key: decrypt_signing_key(
            &app.kek,
            tenant_id,
            &kid,
            SigningAlgorithm::Es256,
            &ciphertext,
            &nonce,
        )
        .unwrap(),
    };
    let issuer = format!("{PUBLIC_URL}/t/acme");
    let mint = |now: i64| {
        mint_access_token(
            &AccessTokenRequest {
                issuer: &issuer,
                audience: "api",
                tenant_id,
                user_id: Uuid::parse_str(&s.user_id).unwrap(),
                session_id: Uuid::parse_str(&s.session_id).unwrap(),
                now,
                ttl_secs: 300,
                org: None,
                oauth_scope: None,
            },
            &key,
        )
        .unwrap()
    };
    // Within the leeway it still passes; past it, it does not.
    assert_eq!(app.me("acme", &mint(now_unix() - 310)).await.status(), 200);
    let response = app.me("acme", &mint(now_unix() - 400)).await;
    assert_error(response, 401, "token_expired").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn me_at_an_unknown_tenant_returns_404_tenant_not_found(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    assert_error(
        app.me("nope", &s.access_token).await,
        404,
        "tenant_not_found",
    )
    .await;
}
