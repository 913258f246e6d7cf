use crate::helpers::{
    assert_error, jwt_part, now_unix, spawn_app, spawn_app_with_edge, EdgeReceiver, PASSWORD,
    PUBLIC_URL, TTL_SECS,
};
use auth_core::{Algorithm, Expectations, IssuerPolicy};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

fn expectations_for(slug: &str, audience: &str) -> Expectations {
    let issuer = format!("{PUBLIC_URL}/t/{slug}");
    Expectations {
        issuers: vec![IssuerPolicy {
            jwks_uri: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            audiences: vec![audience.to_owned()],
            algorithms: vec![Algorithm::Es256],
            token_type: Some("at+jwt".to_owned()),
            leeway_secs: 30,
            jwks_cache: Default::default(),
            tenant: auth_core::claims::TenantBinding::Origin,
        }],
    }
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn signing_in_returns_201_with_an_access_token_that_verifies_against_the_published_jwks(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    let tenant = app.create_tenant("acme").await;
    let user_id = app.create_user("acme", "ursula@example.com").await;
    let before = now_unix();
    let response = app
        .post_session("acme", "ursula@example.com", PASSWORD)
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], TTL_SECS);
    let session_id = body["session_id"].as_str().unwrap();
    assert!(Uuid::parse_str(session_id).is_ok());
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 43);
    let token = body["access_token"].as_str().unwrap();

    // The edge's verification path, fed the published key set.
    let keys = app.key_set("acme").await;
    let claims = auth_core::verify::verify_native(
        token,
        auth_core::token::DEFAULT_MAX_TOKEN_BYTES,
        &expectations_for("acme", "api"),
        |_| Some(&keys),
        now_unix(),
    )
    .unwrap();
    assert_eq!(claims.issuer(), format!("{PUBLIC_URL}/t/acme"));
    assert_eq!(claims.subject(), user_id);
    assert_eq!(claims.audiences(), ["api".to_owned()]);
    assert_eq!(claims.session(), Some(session_id));
    assert_eq!(claims.tenant(), tenant["id"].as_str());
    assert!(claims.jwt_id().is_some_and(|j| Uuid::parse_str(j).is_ok()));
    let iat = claims.issued_at().unwrap();
    assert!((before..=now_unix()).contains(&iat));
    assert_eq!(claims.expires_at() - iat, TTL_SECS);

    let header = jwt_part(token, 0);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    // Signed by a published key (the current one; the next one is published beside it).
    assert!(keys.find(header["kid"].as_str().unwrap()).is_some());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn each_sign_in_gets_its_own_session_and_token_id(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ursula@example.com").await;
    let a = app.sign_in("acme", "ursula@example.com").await;
    let b = app.sign_in("acme", "ursula@example.com").await;
    assert_ne!(a["session_id"], b["session_id"]);
    assert_ne!(a["refresh_token"], b["refresh_token"]);
    let jti = |t: &Value| jwt_part(t["access_token"].as_str().unwrap(), 1)["jti"].clone();
    assert_ne!(jti(&a), jti(&b));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_email_matches_at_sign_in_whatever_its_case(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "Ursula@Example.com").await;
    let response = app
        .post_session("acme", "ursula@EXAMPLE.com", PASSWORD)
        .await;
    assert_eq!(response.status(), 201);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_unknown_email_and_a_wrong_password_get_the_same_401(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ursula@example.com").await;

    let wrong_password = app
        .post_session("acme", "ursula@example.com", "not the password")
        .await;
    let unknown_email = app
        .post_session("acme", "nobody@example.com", PASSWORD)
        .await;
    let malformed_email = app.post_session("acme", "nobody", PASSWORD).await;
    let a = assert_error(wrong_password, 401, "invalid_credentials").await;
    let b = assert_error(unknown_email, 401, "invalid_credentials").await;
    let c = assert_error(malformed_email, 401, "invalid_credentials").await;
    assert_eq!(a, b);
    assert_eq!(b, c);
    let (sessions,): (i64,) = sqlx::query_as("SELECT count(*) FROM sessions")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(sessions, 0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_user_of_one_tenant_cannot_sign_in_at_another(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    app.create_user("acme", "ursula@example.com").await;
    let response = app
        .post_session("globex", "ursula@example.com", PASSWORD)
        .await;
    assert_error(response, 401, "invalid_credentials").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_refresh_token_is_stored_only_as_its_sha256(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let (hash,): (Vec<u8>,) = sqlx::query_as("SELECT token_hash FROM refresh_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(hash, Sha256::digest(s.refresh_token.as_bytes()).to_vec());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn refreshing_rotates_the_refresh_token_and_keeps_the_session(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;

    let response = app.refresh("acme", &s.refresh_token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["session_id"], s.session_id.as_str());
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], TTL_SECS);
    let next = body["refresh_token"].as_str().unwrap();
    assert_ne!(next, s.refresh_token);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_part(access, 1)["sid"], s.session_id.as_str());
    assert_eq!(app.me("acme", access).await.status(), 200);

    // The new token works in turn; the chain is recorded.
    let again = app.refresh("acme", next).await;
    assert_eq!(again.status(), 200);
    let (used, chained): (i64, i64) =
        sqlx::query_as("SELECT count(used_at), count(replaced_by) FROM refresh_tokens")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((used, chained), (2, 2));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn presenting_a_used_refresh_token_revokes_the_whole_session_and_tells_the_edge(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let rotated: Value = app
        .refresh("acme", &s.refresh_token)
        .await
        .json()
        .await
        .unwrap();
    let next = rotated["refresh_token"].as_str().unwrap();

    // The old token comes back: someone else holds this family.
    assert_error(
        app.refresh("acme", &s.refresh_token).await,
        401,
        "refresh_token_reused",
    )
    .await;

    // The legitimate holder's newer token and every access token of the session are dead too.
    assert_error(app.refresh("acme", next).await, 401, "session_revoked").await;
    assert_error(app.me("acme", &s.access_token).await, 401, "token_revoked").await;
    assert_error(
        app.me("acme", rotated["access_token"].as_str().unwrap())
            .await,
        401,
        "token_revoked",
    )
    .await;

    let notices = edge.notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].session_id, s.session_id);
    assert_eq!(notices[0].tenant_id, s.tenant["id"].as_str().unwrap());
    assert!(app.outbox_rows().await.is_empty());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_unknown_refresh_token_returns_401_refresh_token_invalid(db: PgPool) {
    let app = spawn_app(db).await;
    app.signed_in("acme", "ursula@example.com").await;
    assert_error(
        app.refresh("acme", "not-a-token-we-issued").await,
        401,
        "refresh_token_invalid",
    )
    .await;
    assert_error(app.refresh("acme", "").await, 401, "refresh_token_invalid").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_refresh_token_is_refused_at_another_tenant(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    app.create_tenant("globex").await;
    assert_error(
        app.refresh("globex", &s.refresh_token).await,
        401,
        "refresh_token_invalid",
    )
    .await;
    // Refused there, still good at home.
    assert_eq!(app.refresh("acme", &s.refresh_token).await.status(), 200);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_session_past_its_absolute_lifetime_refuses_its_refresh_token(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ursula@example.com").await;
    let (lifetime_days,): (f64,) = sqlx::query_as(
        "SELECT EXTRACT(EPOCH FROM expires_at - created_at)::float8 / 86400 FROM sessions",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!((lifetime_days - 30.0).abs() < 1e-6, "{lifetime_days}");
    sqlx::query("UPDATE sessions SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_error(
        app.refresh("acme", &s.refresh_token).await,
        401,
        "refresh_token_invalid",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn signing_in_at_an_unknown_tenant_returns_404_tenant_not_found(db: PgPool) {
    let app = spawn_app(db).await;
    assert_error(
        app.post_session("nope", "ursula@example.com", PASSWORD)
            .await,
        404,
        "tenant_not_found",
    )
    .await;
    assert_error(
        app.refresh("nope", "whatever").await,
        404,
        "tenant_not_found",
    )
    .await;
}
