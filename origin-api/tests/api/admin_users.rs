//! A tenant's users through the admin API: listed in a stable order, searched, disabled (every
//! session revoked and pushed to the edge; no sign-in or refresh), enabled, and deleted with their
//! personal data.

use crate::authenticator::SoftKey;
use crate::helpers::{
    assert_error, spawn_app, spawn_app_with_edge, unused_addr, EdgeReceiver, TestApp, ADMIN_TOKEN,
    PAGES_URL,
};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::collections::BTreeSet;

impl TestApp {
    /// Every user the list shows with `query`, following the cursor `limit` at a time; between pages
    /// `between` runs (to insert users while someone pages).
    async fn page_users<F, Fut>(&self, slug: &str, query: &str, mut between: F) -> Vec<Value>
    where
        F: FnMut(usize) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut users = Vec::new();
        let mut cursor: Option<String> = None;
        for page in 0.. {
            let q = match &cursor {
                Some(c) => format!("{query}&cursor={c}"),
                None => query.to_owned(),
            };
            let body = self
                .admin_ok(
                    Method::GET,
                    &format!("/v1/admin/tenants/{slug}/users?{q}"),
                    ADMIN_TOKEN,
                    None,
                )
                .await;
            users.extend(body["users"].as_array().unwrap().iter().cloned());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return users,
            }
            between(page).await;
        }
        unreachable!()
    }

    async fn disable(&self, slug: &str, user: &str) -> reqwest::Response {
        self.admin_call(
            Method::POST,
            &format!("/v1/admin/tenants/{slug}/users/{user}/disable"),
            ADMIN_TOKEN,
            None,
        )
        .await
    }
}

fn emails(users: &[Value]) -> Vec<&str> {
    users.iter().map(|u| u["email"].as_str().unwrap()).collect()
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn pages_list_every_user_once_newest_first_while_others_sign_up(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.tenant("globex")
        .user("other-tenant@example.com")
        .create()
        .await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let email = format!("user{i}@example.com");
        app.create_user("acme", &email).await;
        expected.insert(0, email);
    }

    let app_ref = &app;
    let listed = app
        .page_users("acme", "limit=3", |page| async move {
            // Sign-ups while paging land before the cursor: never repeated, never shifting the rest.
            app_ref
                .create_user("acme", &format!("late{page}@example.com"))
                .await;
        })
        .await;
    assert_eq!(emails(&listed), expected);
    let ids: BTreeSet<&str> = listed.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 7);
    assert_eq!(listed[0]["status"], "active");
    assert_eq!(listed[0]["has_password"], true);
    assert_eq!(listed[0]["passkeys"], 0);
    assert!(listed[0].get("password_hash").is_none());

    // All of them, late ones included, from a fresh start.
    let all = app.page_users("acme", "limit=200", |_| async {}).await;
    assert_eq!(
        all.len(),
        7 + 2,
        "one late sign-up after each of the first two pages"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn users_are_searched_by_part_of_their_address_and_by_status(db: PgPool) {
    let app = spawn_app(db).await;
    app.tenant("acme")
        .user("Ada.Lovelace@example.com")
        .user("bob@example.org")
        .user("ada_b@example.org")
        .create()
        .await;
    let found = app.page_users("acme", "email=ADA", |_| async {}).await;
    assert_eq!(
        emails(&found),
        ["ada_b@example.org", "Ada.Lovelace@example.com"]
    );
    // `_` and `%` are literal, not wildcards.
    let found = app.page_users("acme", "email=a_b", |_| async {}).await;
    assert_eq!(emails(&found), ["ada_b@example.org"]);
    let found = app.page_users("acme", "email=%25", |_| async {}).await;
    assert!(found.is_empty());

    let bob = found_id(&app, "bob@example.org").await;
    assert_eq!(app.disable("acme", &bob).await.status(), 200);
    let disabled = app
        .page_users("acme", "status=disabled", |_| async {})
        .await;
    assert_eq!(emails(&disabled), ["bob@example.org"]);
    let active = app
        .page_users("acme", "status=active&email=example.org", |_| async {})
        .await;
    assert_eq!(emails(&active), ["ada_b@example.org"]);

    for (query, code) in [
        ("status=gone", "status_invalid"),
        ("limit=0", "limit_invalid"),
        ("limit=201", "limit_invalid"),
        ("cursor=bad", "cursor_invalid"),
        ("order=asc", "query_invalid"),
        ("email=", "email_search_invalid"),
        // The form is `{micros}.{uuid}`, lowercase and hyphenated.
        (
            "cursor=12.00000000000040008000000000000000",
            "cursor_invalid",
        ),
        (
            "cursor=12.00000000-0000-4000-8000-00000000000A",
            "cursor_invalid",
        ),
    ] {
        assert_error(
            app.admin_call(
                Method::GET,
                &format!("/v1/admin/tenants/acme/users?{query}"),
                ADMIN_TOKEN,
                None,
            )
            .await,
            422,
            code,
        )
        .await;
    }
    // Any cursor of the documented form is a place in the order, given by the list or not: nobody
    // signed up before 1970, everybody before the year 2286.
    for (cursor, users) in [
        ("0.00000000-0000-4000-8000-000000000000", 0),
        ("9999999999999999.00000000-0000-4000-8000-000000000000", 3),
    ] {
        let page = app
            .admin_ok(
                Method::GET,
                &format!("/v1/admin/tenants/acme/users?cursor={cursor}"),
                ADMIN_TOKEN,
                None,
            )
            .await;
        assert_eq!(page["users"].as_array().unwrap().len(), users, "{cursor}");
    }
}

async fn found_id(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar("SELECT id::text FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn one_user_is_read_and_an_unknown_one_is_404(db: PgPool) {
    let app = spawn_app(db).await;
    let s = app.signed_in("acme", "ada@example.com").await;
    let user = app
        .admin_ok(
            Method::GET,
            &format!("/v1/admin/tenants/acme/users/{}", s.user_id),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["live_sessions"], 1);
    assert!(user["disabled_at"].is_null());
    for path in [
        "/v1/admin/tenants/acme/users/not-a-uuid",
        "/v1/admin/tenants/acme/users/6f1c3a5e-0000-4000-8000-000000000000",
    ] {
        assert_error(
            app.admin_call(Method::GET, path, ADMIN_TOKEN, None).await,
            404,
            "user_not_found",
        )
        .await;
    }
    // Another tenant's user is not found through this one.
    app.create_tenant("globex").await;
    assert_error(
        app.admin_call(
            Method::GET,
            &format!("/v1/admin/tenants/globex/users/{}", s.user_id),
            ADMIN_TOKEN,
            None,
        )
        .await,
        404,
        "user_not_found",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn disabling_revokes_every_session_queues_the_edge_and_refuses_sign_in_and_refresh(
    db: PgPool,
) {
    // The edge is down: the revocations wait in the outbox.
    let down = unused_addr().await;
    let app = spawn_app_with_edge(db, &format!("http://{down}/__auth/revocations")).await;
    let s = app.signed_in("acme", "ada@example.com").await;
    let second = app.sign_in("acme", "ada@example.com").await;
    let bystander = app.create_user("acme", "bob@example.com").await;
    let bob = app.sign_in("acme", "bob@example.com").await;

    let response = app.disable("acme", &s.user_id).await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["revoked"], 2);
    assert_eq!(body["edge"], "pending");
    assert_eq!(body["user"]["status"], "disabled");
    assert_eq!(body["user"]["live_sessions"], 0);

    let queued: BTreeSet<String> = app.outbox_rows().await.into_iter().map(|r| r.1).collect();
    let sessions: BTreeSet<String> = [
        s.session_id.clone(),
        second["session_id"].as_str().unwrap().to_owned(),
    ]
    .into();
    assert!(sessions.is_subset(&queued), "{queued:?}");
    assert!(!queued.contains(bob["session_id"].as_str().unwrap()));

    // Nothing of theirs works, whatever the way in; the bystander is untouched.
    assert_error(app.me("acme", &s.access_token).await, 401, "token_revoked").await;
    assert_error(
        app.refresh("acme", &s.refresh_token).await,
        401,
        "session_revoked",
    )
    .await;
    assert_error(
        app.post_session("acme", "ada@example.com", crate::helpers::PASSWORD)
            .await,
        403,
        "user_disabled",
    )
    .await;
    // A wrong password is still just wrong: being disabled is told only to whoever proves the account.
    assert_error(
        app.post_session("acme", "ada@example.com", "not the password at all")
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(
        app.me("acme", bob["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    let _ = bystander;

    // Disabling again changes nothing and says so in the trail.
    let again = app.disable("acme", &s.user_id).await;
    assert!(again.status().is_success());
    let events = app.audit_of_type("acme", "admin.user_disabled").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["details"]["already_disabled"], true);
    assert_eq!(events[1]["details"]["already_disabled"], false);
    assert_eq!(events[1]["details"]["revoked"], 2);
    assert_eq!(events[1]["user_id"], s.user_id.as_str());
    assert_eq!(
        events[1]["actor"],
        json!({"kind": "admin", "id": "bootstrap"})
    );

    // Enabled: they sign in again; the old sessions stay revoked.
    let enabled = app
        .admin_ok(
            Method::POST,
            &format!("/v1/admin/tenants/acme/users/{}/enable", s.user_id),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(enabled["status"], "active");
    let fresh = app.sign_in("acme", "ada@example.com").await;
    assert_eq!(
        app.me("acme", fresh["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    assert_error(app.me("acme", &s.access_token).await, 401, "token_revoked").await;
    assert_eq!(
        app.audit_of_type("acme", "admin.user_enabled").await.len(),
        1
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn disabling_pushes_each_revoked_session_to_the_edge(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ada@example.com").await;
    let response = app.disable("acme", &s.user_id).await;
    assert_eq!(response.status(), 200);
    let pushed: Vec<String> = edge.notices().into_iter().map(|n| n.session_id).collect();
    assert!(pushed.contains(&s.session_id), "{pushed:?}");
    assert!(
        app.outbox_rows().await.is_empty(),
        "delivered notices leave the outbox"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_disabled_user_cannot_finish_a_passkey_sign_in_started_before(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let mut key = SoftKey::new();
    let (user_id, _) = passkey_sign_up(&app, "acme", "pia@example.com", &mut key).await;
    let start = app
        .post_json(
            "/t/acme/v1/passkeys/authentications",
            &json!({"email": "pia@example.com"}),
        )
        .await;
    assert_eq!(start.status(), 200);
    let start: Value = start.json().await.unwrap();
    assert_eq!(app.disable("acme", &user_id).await.status(), 200);
    let assertion = key.get(PAGES_URL, &start["options"]).await.unwrap();
    let finish = app
        .post_json(
            "/t/acme/v1/passkeys/authentications/finish",
            &json!({"ceremony_id": start["ceremony_id"], "credential": assertion}),
        )
        .await;
    assert_error(finish, 403, "user_disabled").await;
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE user_id = $1::uuid AND revoked_at IS NULL",
    )
    .bind(&user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(live, 0);
}

/// A passkey-first sign-up on the hosted pages' origin: `(user_id, token response)`.
async fn passkey_sign_up(
    app: &TestApp,
    slug: &str,
    email: &str,
    key: &mut SoftKey,
) -> (String, Value) {
    let start = app
        .post_json(
            &format!("/t/{slug}/v1/passkeys/sign-ups"),
            &json!({ "email": email }),
        )
        .await;
    assert_eq!(start.status(), 200);
    let start: Value = start.json().await.unwrap();
    let credential = key.create(PAGES_URL, &start["options"]).await.unwrap();
    let finish = app
        .post_json(
            &format!("/t/{slug}/v1/passkeys/sign-ups/finish"),
            &json!({"ceremony_id": start["ceremony_id"], "credential": credential}),
        )
        .await;
    assert_eq!(finish.status(), 201);
    let tokens: Value = finish.json().await.unwrap();
    let user_id = found_id(app, email).await;
    (user_id, tokens)
}

/// Every row of every table whose JSON text contains `needle` (case-insensitive), as `table: row`.
async fn rows_containing(db: &PgPool, needle: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(db)
    .await
    .unwrap();
    let mut found = Vec::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT row_to_json(t)::text FROM \"{table}\" t WHERE row_to_json(t)::text ILIKE $1"
        ))
        .bind(format!("%{needle}%"))
        .fetch_all(db)
        .await
        .unwrap();
        found.extend(rows.into_iter().map(|r| format!("{table}: {r}")));
    }
    found
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn deleting_a_user_removes_their_personal_data_and_keeps_only_their_id_in_the_trail(
    db: PgPool,
) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db, &edge.url).await;
    let s = app.signed_in("acme", "ada@example.com").await;
    // A passkey added to the password account, and a passkey ceremony left in flight.
    let mut key = SoftKey::new();
    let start = app
        .client
        .post(app.url("/t/acme/v1/passkeys/registrations"))
        .bearer_auth(&s.access_token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 200);
    let start: Value = start.json().await.unwrap();
    let credential = key.create(PAGES_URL, &start["options"]).await.unwrap();
    let finish = app
        .client
        .post(app.url("/t/acme/v1/passkeys/registrations/finish"))
        .bearer_auth(&s.access_token)
        .json(&json!({"ceremony_id": start["ceremony_id"], "credential": credential, "name": "Laptop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(finish.status(), 201);
    let pending = app
        .post_json(
            "/t/acme/v1/passkeys/authentications",
            &json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(pending.status(), 200);
    let other = app.create_user("acme", "bob@example.com").await;
    assert!(!rows_containing(&app.db, "ada@example.com").await.is_empty());

    let response = app
        .admin_call(
            Method::DELETE,
            &format!("/v1/admin/tenants/acme/users/{}", s.user_id),
            ADMIN_TOKEN,
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"deleted": s.user_id, "revoked": 1}));

    // The address is nowhere in the database; no row of theirs is left but the trail's ids.
    assert_eq!(
        rows_containing(&app.db, "ada@example.com").await,
        Vec::<String>::new()
    );
    for (table, column) in [
        ("users", "id"),
        ("sessions", "user_id"),
        ("passkeys", "user_id"),
        ("passkey_ceremonies", "user_id"),
    ] {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE {column} = $1::uuid"
        ))
        .bind(&s.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
        assert_eq!(n, 0, "{table}");
    }
    let tokens: i64 = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(tokens, 0, "only ada had signed in");
    // The trail names them by id; an edge notice not yet delivered may too (it must reach the edge).
    let left: Vec<String> = rows_containing(&app.db, &s.user_id)
        .await
        .into_iter()
        .filter(|r| !r.starts_with("audit_events: ") && !r.starts_with("revocation_outbox: "))
        .collect();
    assert_eq!(left, Vec::<String>::new());
    let deleted = app.audit_of_type("acme", "admin.user_deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["user_id"], s.user_id.as_str());
    assert_eq!(deleted[0]["details"], json!({"revoked": 1}));

    // Revoked at the edge too, and gone for good.
    assert!(edge.notices().iter().any(|n| n.session_id == s.session_id));
    assert_error(app.me("acme", &s.access_token).await, 401, "token_revoked").await;
    assert_error(
        app.refresh("acme", &s.refresh_token).await,
        401,
        "refresh_token_invalid",
    )
    .await;
    assert_error(
        app.admin_call(
            Method::DELETE,
            &format!("/v1/admin/tenants/acme/users/{}", s.user_id),
            ADMIN_TOKEN,
            None,
        )
        .await,
        404,
        "user_not_found",
    )
    .await;
    // The address is free again; the other user is untouched.
    app.create_user("acme", "ada@example.com").await;
    let bob: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = $1::uuid")
        .bind(&other)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(bob, 1);
}
