use crate::helpers::{assert_error, spawn_app, PUBLIC_URL};
use auth_core::{Algorithm, KeySet};
use serde_json::Value;
use sqlx::PgPool;

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_openid_configuration_names_the_tenant_issuer_and_jwks_uri(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let response = app.get("/t/acme/.well-known/openid-configuration").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["issuer"], format!("{PUBLIC_URL}/t/acme"));
    assert_eq!(
        body["jwks_uri"],
        format!("{PUBLIC_URL}/t/acme/.well-known/jwks.json")
    );
    assert_eq!(
        body["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_jwks_publishes_the_tenant_key_in_a_form_auth_core_accepts(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let response = app.get("/t/acme/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let bytes = response.bytes().await.unwrap();
    let keys = KeySet::from_jwks_json(&bytes).unwrap();
    assert_eq!(keys.keys().len(), 2, "the current key and the next one");
    assert_eq!(keys.skipped(), 0);
    assert!(keys
        .keys()
        .iter()
        .all(|k| k.algorithm() == Algorithm::Es256));

    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let jwk = &doc["keys"][0];
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("EC"), Some("P-256"))
    );
    assert_eq!(
        (jwk["alg"].as_str(), jwk["use"].as_str()),
        (Some("ES256"), Some("sig"))
    );
    assert!(jwk["kid"].as_str().is_some_and(|k| k.len() >= 16));
    assert!(jwk.get("d").is_none(), "no private member is published");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn each_tenant_publishes_its_own_key(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let acme = app.key_set("acme").await;
    let globex = app.key_set("globex").await;
    assert_ne!(acme.keys()[0].kid(), globex.keys()[0].kid());
    assert_ne!(
        acme.keys()[0].to_public_jwk()["x"],
        globex.keys()[0].to_public_jwk()["x"]
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn discovery_for_an_unknown_tenant_returns_404_tenant_not_found(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    assert_error(
        app.get("/t/nope/.well-known/openid-configuration").await,
        404,
        "tenant_not_found",
    )
    .await;
    assert_error(
        app.get("/t/nope/.well-known/jwks.json").await,
        404,
        "tenant_not_found",
    )
    .await;
}
