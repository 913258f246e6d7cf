//! Admin API keys: shown once, stored as a keyed hash, acting on their own tenant only, refused once
//! revoked or expired, limited to their permissions, and named in the audit trail.

use crate::helpers::{assert_error, spawn_app, ADMIN_TOKEN};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_key_is_shown_once_stored_as_a_keyed_hash_and_listed_without_its_secret(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let response = app
        .admin_call(
            Method::POST,
            "/v1/admin/tenants/acme/admin-keys",
            ADMIN_TOKEN,
            Some(json!({"name": "CI deploys"})),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("eak_live_"), "{key}");
    assert_eq!(key.len(), "eak_live_".len() + 64 + 8);
    assert_eq!(created["permissions"], json!(["read", "write"]));
    assert_eq!(created["status"], "active");
    assert_eq!(created["created_by"], "bootstrap");
    assert!(created["expires_at"].is_null());
    let hint = created["hint"].as_str().unwrap();
    assert_eq!(hint, format!("eak_live_…{}", &key[key.len() - 4..]));

    // Stored: neither the key, nor any 16-character run of its secret digits, nor its plain SHA-256.
    let (row, hash): (String, Vec<u8>) = sqlx::query_as(
        "SELECT row_to_json(k)::text, secret_hash FROM admin_api_keys k WHERE id = $1::uuid",
    )
    .bind(created["id"].as_str().unwrap())
    .fetch_one(&app.db)
    .await
    .unwrap();
    let secret = &key["eak_live_".len().."eak_live_".len() + 64];
    for window in 0..=48 {
        assert!(!row.contains(&secret[window..window + 16]), "{row}");
    }
    assert_eq!(hash.len(), 32);
    assert_ne!(hash, Sha256::digest(key.as_bytes()).to_vec());

    let listed = app
        .admin_call(
            Method::GET,
            "/v1/admin/tenants/acme/admin-keys",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(listed.headers()["cache-control"], "no-store");
    let text = listed.text().await.unwrap();
    assert!(!text.contains(secret));
    let listed: Value = serde_json::from_str(&text).unwrap();
    let keys = listed["admin_keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], created["id"]);
    assert_eq!(keys[0]["name"], "CI deploys");
    assert_eq!(keys[0]["hint"], hint);
    assert!(keys[0].get("key").is_none());
    assert!(keys[0]["last_used_at"].is_null());

    // Using it is tracked (to the minute).
    let (_, other) = app.admin_key("acme", &["read"]).await;
    assert_eq!(
        app.admin_call(Method::GET, "/v1/admin/tenants/acme/users", key, None)
            .await
            .status(),
        200
    );
    let keys = app
        .admin_ok(
            Method::GET,
            "/v1/admin/tenants/acme/admin-keys",
            &other,
            None,
        )
        .await;
    let used = keys["admin_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created["id"])
        .unwrap()
        .clone();
    assert!(used["last_used_at"].is_string(), "{used}");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_tenants_key_cannot_read_or_touch_another_tenant(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_tenant("globex").await;
    let victim = app.create_user("globex", "gina@example.com").await;
    let (_, key) = app
        .admin_key("acme", &["read", "write", "manage_keys"])
        .await;

    assert_eq!(
        app.admin_call(Method::GET, "/v1/admin/tenants/acme/users", &key, None)
            .await
            .status(),
        200
    );
    for (method, path, body) in [
        (Method::GET, "/v1/admin/tenants/globex".to_owned(), None),
        (
            Method::GET,
            "/v1/admin/tenants/globex/users".to_owned(),
            None,
        ),
        (
            Method::GET,
            "/v1/admin/tenants/globex/audit-events".to_owned(),
            None,
        ),
        (
            Method::POST,
            format!("/v1/admin/tenants/globex/users/{victim}/disable"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/admin/tenants/globex/users/{victim}"),
            None,
        ),
        (
            Method::PATCH,
            "/v1/admin/tenants/globex".to_owned(),
            Some(json!({"name": "Owned"})),
        ),
        (
            Method::POST,
            "/v1/admin/tenants/globex/admin-keys".to_owned(),
            Some(json!({"name": "backdoor"})),
        ),
        (
            Method::POST,
            "/v1/admin/tenants/globex/keys/rotate".to_owned(),
            None,
        ),
        // A tenant that does not exist answers the same: no key learns which tenants exist.
        (
            Method::GET,
            "/v1/admin/tenants/nowhere/users".to_owned(),
            None,
        ),
    ] {
        let response = app.admin_call(method.clone(), &path, &key, body).await;
        assert_error(response, 401, "unauthorized").await;
    }
    // Nothing changed at globex.
    let (name, disabled, keys): (String, bool, i64) = sqlx::query_as(
        "SELECT t.name, u.disabled_at IS NOT NULL,
                (SELECT count(*) FROM admin_api_keys k WHERE k.tenant_id = t.id)
         FROM tenants t JOIN users u ON u.tenant_id = t.id WHERE t.slug = 'globex'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!((name.as_str(), disabled, keys), ("Tenant globex", false, 0));
    let globex_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events e JOIN tenants t ON t.id = e.tenant_id
         WHERE t.slug = 'globex' AND e.actor_kind = 'admin' AND e.event_type <> 'admin.tenant_created'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(globex_events, 0);

    // The routes over every tenant are the operator's alone.
    assert_error(
        app.admin_call(Method::GET, "/v1/admin/tenants", &key, None)
            .await,
        403,
        "bootstrap_required",
    )
    .await;
    assert_error(
        app.admin_call(
            Method::POST,
            "/v1/admin/tenants",
            &key,
            Some(json!({"slug": "evil", "name": "Evil"})),
        )
        .await,
        403,
        "bootstrap_required",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_revoked_key_is_refused_at_once_and_the_bootstrap_token_still_works(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let (id, key) = app.admin_key("acme", &["read", "write"]).await;
    let users = "/v1/admin/tenants/acme/users";
    assert_eq!(
        app.admin_call(Method::GET, users, &key, None)
            .await
            .status(),
        200
    );

    let revoked = app
        .admin_ok(
            Method::POST,
            &format!("/v1/admin/tenants/acme/admin-keys/{id}/revoke"),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(revoked["status"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    let refused = app.admin_call(Method::GET, users, &key, None).await;
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    assert_error(refused, 401, "admin_key_revoked").await;
    assert_error(
        app.admin_call(
            Method::POST,
            &format!("/v1/admin/tenants/acme/admin-keys/{id}/revoke"),
            ADMIN_TOKEN,
            None,
        )
        .await,
        409,
        "admin_key_already_revoked",
    )
    .await;
    assert_error(
        app.admin_call(
            Method::POST,
            "/v1/admin/tenants/acme/admin-keys/9d7f5a2e-0000-4000-8000-000000000000/revoke",
            ADMIN_TOKEN,
            None,
        )
        .await,
        404,
        "admin_key_not_found",
    )
    .await;
    assert_eq!(
        app.admin_call(Method::GET, users, ADMIN_TOKEN, None)
            .await
            .status(),
        200
    );

    // A key with the right shape that was never issued, and a look-alike, are no credential.
    let forged = format!(
        "eak_live_{}{:08x}",
        "0".repeat(64),
        crc32fast::hash("0".repeat(64).as_bytes())
    );
    for token in [forged.as_str(), "eak_live_nope", &key[..key.len() - 1]] {
        assert_error(
            app.admin_call(Method::GET, users, token, None).await,
            401,
            "unauthorized",
        )
        .await;
    }
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_expired_key_is_refused_and_listed_as_expired(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let created = app
        .admin_ok(
            Method::POST,
            "/v1/admin/tenants/acme/admin-keys",
            ADMIN_TOKEN,
            Some(json!({"name": "temp", "expires_in_days": 1})),
        )
        .await;
    let key = created["key"].as_str().unwrap();
    assert!(created["expires_at"].is_string());
    let users = "/v1/admin/tenants/acme/users";
    assert_eq!(
        app.admin_call(Method::GET, users, key, None).await.status(),
        200
    );
    sqlx::query("UPDATE admin_api_keys SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_error(
        app.admin_call(Method::GET, users, key, None).await,
        401,
        "admin_key_expired",
    )
    .await;
    let listed = app
        .admin_ok(
            Method::GET,
            "/v1/admin/tenants/acme/admin-keys",
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(listed["admin_keys"][0]["status"], "expired");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn permissions_follow_the_method_and_no_key_grants_more_than_it_holds(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let user = app.create_user("acme", "ada@example.com").await;
    let keys = "/v1/admin/tenants/acme/admin-keys";

    let (_, reader) = app.admin_key("acme", &["read"]).await;
    assert_eq!(
        app.admin_call(Method::GET, "/v1/admin/tenants/acme/users", &reader, None)
            .await
            .status(),
        200
    );
    for (method, path, body) in [
        (
            Method::POST,
            format!("/v1/admin/tenants/acme/users/{user}/disable"),
            None,
        ),
        (
            Method::PATCH,
            "/v1/admin/tenants/acme".to_owned(),
            Some(json!({"name": "Renamed"})),
        ),
        (
            Method::POST,
            keys.to_owned(),
            Some(json!({"name": "more", "permissions": ["read"]})),
        ),
    ] {
        assert_error(
            app.admin_call(method, &path, &reader, body).await,
            403,
            "permission_denied",
        )
        .await;
    }

    // A key that only manages keys may make one that only manages keys, but none that reads.
    let (manager_id, manager) = app.admin_key("acme", &["manage_keys"]).await;
    let message = assert_error(
        app.admin_call(
            Method::POST,
            keys,
            &manager,
            Some(json!({"name": "reader", "permissions": ["read"]})),
        )
        .await,
        403,
        "permission_denied",
    )
    .await;
    assert!(message.contains("read"), "{message}");
    let made = app
        .admin_ok(
            Method::POST,
            keys,
            &manager,
            Some(json!({"name": "another manager", "permissions": ["manage_keys"]})),
        )
        .await;
    assert_eq!(made["created_by"], manager_id);
    assert_error(
        app.admin_call(Method::GET, "/v1/admin/tenants/acme/users", &manager, None)
            .await,
        403,
        "permission_denied",
    )
    .await;
    // Revoking is managing keys too.
    let made_id = made["id"].as_str().unwrap();
    assert_eq!(
        app.admin_call(
            Method::POST,
            &format!("{keys}/{made_id}/revoke"),
            &manager,
            None
        )
        .await
        .status(),
        200
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn bad_key_requests_are_422_with_stable_codes(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let keys = "/v1/admin/tenants/acme/admin-keys";
    for (body, code) in [
        (json!({"name": "  "}), "name_invalid"),
        (json!({"name": "x".repeat(101)}), "name_invalid"),
        (
            json!({"name": "k", "permissions": []}),
            "permissions_invalid",
        ),
        (
            json!({"name": "k", "permissions": ["read", "root"]}),
            "permissions_invalid",
        ),
        (
            json!({"name": "k", "permissions": ["read", "read"]}),
            "permissions_invalid",
        ),
        (
            json!({"name": "k", "expires_in_days": 0}),
            "expires_in_days_invalid",
        ),
        (
            json!({"name": "k", "expires_in_days": 3651}),
            "expires_in_days_invalid",
        ),
        (json!({"name": "k", "secret": "mine"}), "invalid_body"),
    ] {
        assert_error(
            app.admin_call(Method::POST, keys, ADMIN_TOKEN, Some(body))
                .await,
            422,
            code,
        )
        .await;
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM admin_api_keys")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn every_admin_action_is_audited_as_the_credential_that_did_it(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let user = app.create_user("acme", "ada@example.com").await;
    let (key_id, key) = app
        .admin_key("acme", &["read", "write", "manage_keys"])
        .await;

    let base = "/v1/admin/tenants/acme";
    app.admin_ok(Method::PATCH, base, &key, Some(json!({"name": "Acme Ltd"})))
        .await;
    app.admin_ok(
        Method::POST,
        &format!("{base}/users/{user}/disable"),
        &key,
        None,
    )
    .await;
    app.admin_ok(
        Method::POST,
        &format!("{base}/users/{user}/enable"),
        &key,
        None,
    )
    .await;
    app.admin_ok(
        Method::PUT,
        &format!("{base}/audit-retention"),
        &key,
        Some(json!({"audit_retention_days": 30})),
    )
    .await;
    app.admin_ok(
        Method::POST,
        &format!("{base}/clients"),
        &key,
        Some(json!({"name": "App", "redirect_uris": ["https://app.example.com/cb"]})),
    )
    .await;
    app.admin_ok(Method::POST, &format!("{base}/keys/rotate"), &key, None)
        .await;
    app.admin_ok(
        Method::DELETE,
        &format!("{base}/users/{user}/sessions"),
        &key,
        None,
    )
    .await;
    let made = app
        .admin_ok(
            Method::POST,
            &format!("{base}/admin-keys"),
            &key,
            Some(json!({"name": "child", "permissions": ["read"]})),
        )
        .await;
    app.admin_ok(
        Method::POST,
        &format!("{base}/admin-keys/{}/revoke", made["id"].as_str().unwrap()),
        &key,
        None,
    )
    .await;

    for event_type in [
        "admin.tenant_updated",
        "admin.user_disabled",
        "admin.user_enabled",
        "admin.audit_retention_set",
        "admin.oauth_client_created",
        "admin.signing_keys_rotated",
        "admin.user_sessions_revoked",
        "admin.api_key_revoked",
    ] {
        let events = app.audit_of_type("acme", event_type).await;
        assert_eq!(events.len(), 1, "{event_type}: {events:?}");
        assert_eq!(
            events[0]["actor"],
            json!({"kind": "admin", "id": key_id}),
            "{event_type}"
        );
    }
    // The first key was made with the bootstrap token, the second by the first.
    let created = app.audit_of_type("acme", "admin.api_key_created").await;
    assert_eq!(created.len(), 2);
    assert_eq!(created[0]["actor"], json!({"kind": "admin", "id": key_id}));
    assert_eq!(created[0]["subject_id"], made["id"]);
    assert_eq!(created[0]["details"]["permissions"], json!(["read"]));
    assert_eq!(
        created[1]["actor"],
        json!({"kind": "admin", "id": "bootstrap"})
    );
    // No event holds a key.
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE row_to_json(audit_events)::text LIKE '%eak_live_%'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(leaked, 0);
}
