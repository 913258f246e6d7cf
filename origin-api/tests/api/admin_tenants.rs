use crate::helpers::{
    assert_error, jwt_part, spawn_app, ADMIN_TOKEN, PAGES_URL, PUBLIC_URL, TTL_SECS,
};
use origin_api::keys::{decrypt_signing_key, KeyEncryptionKey, SigningAlgorithm};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn creating_a_tenant_returns_201_with_its_issuer_and_jwks_uri(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app
        .post_tenant(
            &json!({"slug": "acme", "name": "Acme Corp"}),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert_eq!(body["slug"], "acme");
    assert_eq!(body["name"], "Acme Corp");
    assert_eq!(body["issuer"], format!("{PUBLIC_URL}/t/acme"));
    assert_eq!(
        body["jwks_uri"],
        format!("{PUBLIC_URL}/t/acme/.well-known/jwks.json")
    );
    assert_eq!(body["audience"], "api");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_tenant_may_choose_its_audience(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app
        .post_tenant(
            &json!({"slug": "acme", "name": "Acme", "audience": "https://api.acme.test"}),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["audience"], "https://api.acme.test");
    let (stored,): (String,) = sqlx::query_as("SELECT audience FROM tenants WHERE slug = 'acme'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, "https://api.acme.test");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn creating_a_tenant_twice_returns_409_tenant_exists(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let response = app
        .post_tenant(
            &json!({"slug": "acme", "name": "Acme again"}),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_error(response, 409, "tenant_exists").await;
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM signing_keys")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(
        count, 2,
        "the failed attempt left no key behind (current and next)"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn creating_a_tenant_without_the_admin_token_returns_401_unauthorized(db: PgPool) {
    let app = spawn_app(db).await;
    let body = json!({"slug": "acme", "name": "Acme"});
    for token in [
        None,
        Some("wrong-token-of-the-same-kind-0123456789abcdef"),
        Some(&ADMIN_TOKEN[..20]),
        Some(""),
    ] {
        let response = app.post_tenant(&body, token).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_error(response, 401, "unauthorized").await;
    }
    let basic = app
        .client
        .post(app.url("/v1/admin/tenants"))
        .basic_auth("admin", Some(ADMIN_TOKEN))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(basic, 401, "unauthorized").await;
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM tenants")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_admin_token_is_checked_before_the_body(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app
        .client
        .post(app.url("/v1/admin/tenants"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_invalid_slug_returns_422_slug_invalid(db: PgPool) {
    let app = spawn_app(db).await;
    let too_long = "a".repeat(64);
    for slug in [
        "",
        "-acme",
        "Acme",
        "acme corp",
        "acme_corp",
        "acme/evil",
        "ácme",
        too_long.as_str(),
    ] {
        let response = app
            .post_tenant(&json!({"slug": slug, "name": "Acme"}), Some(ADMIN_TOKEN))
            .await;
        assert_error(response, 422, "slug_invalid").await;
    }
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_blank_name_or_audience_returns_422(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app
        .post_tenant(&json!({"slug": "acme", "name": "  "}), Some(ADMIN_TOKEN))
        .await;
    assert_error(response, 422, "name_invalid").await;
    let response = app
        .post_tenant(
            &json!({"slug": "acme", "name": "Acme", "audience": ""}),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_error(response, 422, "audience_invalid").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_missing_field_returns_422_invalid_body(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app
        .post_tenant(&json!({"slug": "acme"}), Some(ADMIN_TOKEN))
        .await;
    let message = assert_error(response, 422, "invalid_body").await;
    assert!(message.contains("name"), "{message}");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_first_signing_key_is_current_and_encrypted_at_rest(db: PgPool) {
    let app = spawn_app(db).await;
    let tenant = app.create_tenant("acme").await;
    let tenant_id = Uuid::parse_str(tenant["id"].as_str().unwrap()).unwrap();

    let (kid, alg, status, ciphertext, nonce): (String, String, String, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT kid, alg, status, private_key_ciphertext, nonce FROM signing_keys WHERE tenant_id = $1 AND status = 'current'",
    )
    .bind(tenant_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((alg.as_str(), status.as_str()), ("ES256", "current"));

    // Under the configured KEK it opens, and it is the key the JWKS publishes.
    let es256 = SigningAlgorithm::Es256;
    let signing_key =
        decrypt_signing_key(&app.kek, tenant_id, &kid, es256, &ciphertext, &nonce).unwrap();
    let published = app.key_set("acme").await;
    let jwk = published.find(&kid).unwrap().to_public_jwk();
    let derived = signing_key.verification_key(&kid).unwrap();
    assert_eq!(derived.to_public_jwk(), jwk);

    // What is stored is not the scalar, and nothing else opens it.
    let origin_api::keys::PrivateKey::Es256(p256_key) = &signing_key else {
        panic!("an ES256 tenant's key is a P-256 key");
    };
    let scalar = p256_key.to_bytes();
    assert!(!ciphertext.windows(scalar.len()).any(|w| w == &scalar[..]));
    assert!(decrypt_signing_key(
        &KeyEncryptionKey::generate(),
        tenant_id,
        &kid,
        es256,
        &ciphertext,
        &nonce
    )
    .is_err());
    assert!(
        decrypt_signing_key(&app.kek, Uuid::new_v4(), &kid, es256, &ciphertext, &nonce).is_err()
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn passkeys_default_to_the_hosted_pages_and_a_given_relying_party_is_validated(db: PgPool) {
    let app = spawn_app(db).await;
    let tenant = app.create_tenant("acme").await;
    assert_eq!(
        tenant["passkeys"],
        json!({"rp_id": "login.example.com", "origins": [PAGES_URL]})
    );

    let given = app
        .post_tenant(
            &json!({"slug": "shop", "name": "Shop", "passkeys": {
                "rp_id": "shop.example", "origins": ["https://shop.example", "https://id.shop.example/"]}}),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(given.status(), 201);
    let body: Value = given.json().await.unwrap();
    assert_eq!(
        body["passkeys"]["origins"],
        json!(["https://shop.example", "https://id.shop.example"])
    );

    for (passkeys, says) in [
        (
            json!({"rp_id": "example.com", "origins": ["https://example.org"]}),
            "subdomain",
        ),
        (
            json!({"rp_id": "example.com", "origins": ["http://example.com"]}),
            "https",
        ),
        (
            json!({"rp_id": "com", "origins": ["https://example.com"]}),
            "domain name",
        ),
        (json!({"rp_id": "example.com", "origins": []}), "1 to 16"),
    ] {
        let response = app
            .post_tenant(
                &json!({"slug": "bad", "name": "Bad", "passkeys": passkeys}),
                Some(ADMIN_TOKEN),
            )
            .await;
        let message = assert_error(response, 422, "passkeys_invalid").await;
        assert!(message.contains(says), "{message}");
    }
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM tenants WHERE slug = 'bad'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_tenant_may_choose_its_access_token_lifetime_within_the_origins_bounds(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app
        .post_tenant(
            &json!({"slug": "brief", "name": "Brief", "access_token_ttl_secs": 10}),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.json::<Value>().await.unwrap()["access_token_ttl_secs"],
        10
    );
    app.create_user("brief", "ada@example.com").await;
    let tokens = app.sign_in("brief", "ada@example.com").await;
    let claims = jwt_part(tokens["access_token"].as_str().unwrap(), 1);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        10
    );
    assert_eq!(tokens["expires_in"], 10);
    let refreshed: Value = app
        .refresh("brief", tokens["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let claims = jwt_part(refreshed["access_token"].as_str().unwrap(), 1);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        10
    );

    let other = app.create_tenant("default").await;
    assert_eq!(other["access_token_ttl_secs"], TTL_SECS);
    for ttl in [json!(9), json!(3601), json!(-1)] {
        let response = app
            .post_tenant(
                &json!({"slug": "odd", "name": "Odd", "access_token_ttl_secs": ttl}),
                Some(ADMIN_TOKEN),
            )
            .await;
        assert_error(response, 422, "access_token_ttl_invalid").await;
    }
}
