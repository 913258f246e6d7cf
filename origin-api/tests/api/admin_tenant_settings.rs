//! Tenants through the admin API: listed a page at a time, read, and updated with strict validation.

use crate::authenticator::SoftKey;
use crate::helpers::{assert_error, jwt_part, spawn_app, ADMIN_TOKEN, PAGES_URL, TTL_SECS};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn tenants_are_listed_by_slug_a_page_at_a_time(db: PgPool) {
    let app = spawn_app(db).await;
    for slug in ["delta", "alpha", "echo", "charlie", "bravo"] {
        app.create_tenant(slug).await;
    }
    let mut slugs = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/admin/tenants?limit=2&cursor={c}"),
            None => "/v1/admin/tenants?limit=2".to_owned(),
        };
        let page = app.admin_ok(Method::GET, &path, ADMIN_TOKEN, None).await;
        let tenants = page["tenants"].as_array().unwrap();
        assert!(tenants.len() <= 2);
        slugs.extend(
            tenants
                .iter()
                .map(|t| t["slug"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(slugs, ["alpha", "bravo", "charlie", "delta", "echo"]);
    for (query, code) in [
        ("cursor=%21", "cursor_invalid"),
        ("limit=500", "limit_invalid"),
        ("slug=alpha", "query_invalid"),
    ] {
        assert_error(
            app.admin_call(
                Method::GET,
                &format!("/v1/admin/tenants?{query}"),
                ADMIN_TOKEN,
                None,
            )
            .await,
            422,
            code,
        )
        .await;
    }
    assert_error(
        app.admin_call(Method::GET, "/v1/admin/tenants", "not-the-token", None)
            .await,
        401,
        "unauthorized",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_tenant_is_read_with_every_setting(db: PgPool) {
    let app = spawn_app(db).await;
    let created = app.create_tenant("acme").await;
    let read = app
        .admin_ok(Method::GET, "/v1/admin/tenants/acme", ADMIN_TOKEN, None)
        .await;
    assert_eq!(read["id"], created["id"]);
    assert_eq!(read["issuer"], created["issuer"]);
    assert_eq!(read["access_token_ttl_secs"], TTL_SECS);
    assert_eq!(read["access_token_ttl_source"], "origin");
    assert_eq!(read["brute_force"]["account_failures"], 5);
    assert_eq!(read["passkeys"]["rp_id"], "login.example.com");
    assert_eq!(read["audit_retention_days"], 365);
    assert_eq!(read["signing_alg"], "ES256");
    assert!(read["sessions_not_before"].is_null());
    assert!(read["created_at"].is_string());
    assert_error(
        app.admin_call(Method::GET, "/v1/admin/tenants/nowhere", ADMIN_TOKEN, None)
            .await,
        404,
        "tenant_not_found",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_update_changes_only_what_it_names_and_new_tokens_follow_it(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ada@example.com").await;
    let updated = app
        .admin_ok(
            Method::PATCH,
            "/v1/admin/tenants/acme",
            ADMIN_TOKEN,
            Some(json!({
                "name": "  Acme Ltd  ",
                "audience": "https://api.acme.test",
                "access_token_ttl_secs": 120,
                "brute_force": {"account_failures": 3},
                "passkeys": {"rp_id": "example.com",
                             "origins": ["https://login.example.com", "https://app.example.com"]}
            })),
        )
        .await;
    assert_eq!(updated["name"], "Acme Ltd");
    assert_eq!(updated["audience"], "https://api.acme.test");
    assert_eq!(updated["access_token_ttl_secs"], 120);
    assert_eq!(updated["access_token_ttl_source"], "tenant");
    assert_eq!(
        updated["brute_force"],
        json!({"account_failures": 3, "ip_failures": 30, "window_secs": 900, "max_delay_secs": 900})
    );
    assert_eq!(updated["passkeys"]["rp_id"], "example.com");
    assert_eq!(updated["passkeys"]["origins"].as_array().unwrap().len(), 2);

    let tokens = app.sign_in("acme", "ada@example.com").await;
    let claims = jwt_part(tokens["access_token"].as_str().unwrap(), 1);
    assert_eq!(claims["aud"], "https://api.acme.test");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    assert_eq!(tokens["expires_in"], 120);
    assert_eq!(
        app.me("acme", tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // `null` gives the lifetime back to the origin; the rest stays.
    let reset = app
        .admin_ok(
            Method::PATCH,
            "/v1/admin/tenants/acme",
            ADMIN_TOKEN,
            Some(json!({"access_token_ttl_secs": null})),
        )
        .await;
    assert_eq!(reset["access_token_ttl_secs"], TTL_SECS);
    assert_eq!(reset["access_token_ttl_source"], "origin");
    assert_eq!(reset["name"], "Acme Ltd");
    assert_eq!(reset["brute_force"]["account_failures"], 3);

    let events = app.audit_of_type("acme", "admin.tenant_updated").await;
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0]["details"]["changes"],
        json!({"access_token_ttl_secs": null})
    );
    assert_eq!(events[1]["details"]["changes"]["name"], "Acme Ltd");
    assert_eq!(
        events[1]["actor"],
        json!({"kind": "admin", "id": "bootstrap"})
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn bad_updates_are_422_with_stable_codes_and_change_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let before = app
        .admin_ok(Method::GET, "/v1/admin/tenants/acme", ADMIN_TOKEN, None)
        .await;
    for (body, code) in [
        (json!({}), "update_empty"),
        (json!({"name": " "}), "name_invalid"),
        (json!({"name": "a\u{7}b"}), "name_invalid"),
        (json!({"audience": ""}), "audience_invalid"),
        (
            json!({"access_token_ttl_secs": 5}),
            "access_token_ttl_invalid",
        ),
        (
            json!({"access_token_ttl_secs": 3601}),
            "access_token_ttl_invalid",
        ),
        (
            json!({"brute_force": {"window_secs": 10}}),
            "brute_force_invalid",
        ),
        (
            json!({"brute_force": {"account_failures": 0}}),
            "brute_force_invalid",
        ),
        (json!({"brute_force": {"lockout": true}}), "invalid_body"),
        (
            json!({"passkeys": {"rp_id": "example.com", "origins": ["https://evil.test"]}}),
            "passkeys_invalid",
        ),
        (
            json!({"passkeys": {"rp_id": "example.com", "origins": []}}),
            "passkeys_invalid",
        ),
        (json!({"slug": "renamed"}), "invalid_body"),
        (json!({"name": 7}), "invalid_body"),
        // One bad field spoils the whole update.
        (json!({"name": "Fine", "audience": ""}), "audience_invalid"),
    ] {
        assert_error(
            app.admin_call(
                Method::PATCH,
                "/v1/admin/tenants/acme",
                ADMIN_TOKEN,
                Some(body.clone()),
            )
            .await,
            422,
            code,
        )
        .await;
    }
    let after = app
        .admin_ok(Method::GET, "/v1/admin/tenants/acme", ADMIN_TOKEN, None)
        .await;
    assert_eq!(before, after);
    assert!(app
        .audit_of_type("acme", "admin.tenant_updated")
        .await
        .is_empty());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_relying_party_id_is_locked_once_a_passkey_is_registered_but_origins_may_change(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    // Before any passkey the RP id may move.
    let moved = app
        .admin_ok(
            Method::PATCH,
            "/v1/admin/tenants/acme",
            ADMIN_TOKEN,
            Some(json!({"passkeys": {"rp_id": "example.com", "origins": [PAGES_URL]}})),
        )
        .await;
    assert_eq!(moved["passkeys"]["rp_id"], "example.com");

    let mut key = SoftKey::new();
    let start = app
        .post_json(
            "/t/acme/v1/passkeys/sign-ups",
            &json!({"email": "pia@example.com"}),
        )
        .await;
    let start: Value = start.json().await.unwrap();
    let credential = key.create(PAGES_URL, &start["options"]).await.unwrap();
    let finish = app
        .post_json(
            "/t/acme/v1/passkeys/sign-ups/finish",
            &json!({"ceremony_id": start["ceremony_id"], "credential": credential}),
        )
        .await;
    assert_eq!(finish.status(), 201);

    for passkeys in [
        json!({"rp_id": "login.example.com", "origins": [PAGES_URL]}),
        Value::Null,
    ] {
        assert_error(
            app.admin_call(
                Method::PATCH,
                "/v1/admin/tenants/acme",
                ADMIN_TOKEN,
                Some(json!({ "passkeys": passkeys })),
            )
            .await,
            409,
            "passkey_rp_id_locked",
        )
        .await;
    }
    let widened = app
        .admin_ok(
            Method::PATCH,
            "/v1/admin/tenants/acme",
            ADMIN_TOKEN,
            Some(json!({"passkeys": {"rp_id": "example.com",
                                     "origins": [PAGES_URL, "https://app.example.com"]}})),
        )
        .await;
    assert_eq!(
        widened["passkeys"]["origins"],
        json!([PAGES_URL, "https://app.example.com"])
    );
    // The passkey still signs in.
    let start = app
        .post_json("/t/acme/v1/passkeys/authentications", &json!({}))
        .await;
    let start: Value = start.json().await.unwrap();
    let assertion = key.get(PAGES_URL, &start["options"]).await.unwrap();
    let signed_in = app
        .post_json(
            "/t/acme/v1/passkeys/authentications/finish",
            &json!({"ceremony_id": start["ceremony_id"], "credential": assertion}),
        )
        .await;
    assert_eq!(signed_in.status(), 201);
}
