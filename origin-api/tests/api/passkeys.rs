//! Every passkey ceremony driven by a software authenticator (passkey-rs) against real Postgres:
//! what succeeds, and what is refused without changing anything.

use crate::authenticator::{Options, SoftKey};
use crate::helpers::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use sqlx::PgPool;

/// The tenant's own site and its hosted pages, under one RP id.
const APP: &str = "https://app.example.com";
const PAGES: &str = "https://login.example.com";

impl TestApp {
    /// A tenant whose relying party is `example.com`, allowing its app and its hosted pages.
    async fn passkey_tenant(&self, slug: &str) {
        self.tenant(slug)
            .passkeys("example.com", &[APP, PAGES])
            .create()
            .await;
    }

    async fn post_bearer(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Starts the ceremony at `path`: `(ceremony_id, options)`.
    async fn start_ceremony(&self, path: &str, body: &Value) -> (String, Value) {
        let response = self.post_json(path, body).await;
        assert_eq!(response.status(), 200, "POST {path}");
        started(response).await
    }

    /// Brings a ceremony's credential back to `path`.
    async fn finish_ceremony(
        &self,
        path: &str,
        ceremony_id: &str,
        credential: &Value,
    ) -> reqwest::Response {
        self.post_json(
            path,
            &json!({ "ceremony_id": ceremony_id, "credential": credential }),
        )
        .await
    }

    /// Starts a passkey-first sign-up: `(ceremony_id, options)`.
    async fn start_sign_up(&self, slug: &str, email: &str) -> (String, Value) {
        let path = format!("/t/{slug}/v1/passkeys/sign-ups");
        self.start_ceremony(&path, &json!({ "email": email })).await
    }

    async fn finish_sign_up(
        &self,
        slug: &str,
        ceremony_id: &str,
        credential: &Value,
    ) -> reqwest::Response {
        let path = format!("/t/{slug}/v1/passkeys/sign-ups/finish");
        self.finish_ceremony(&path, ceremony_id, credential).await
    }

    /// Signs up with a new passkey on `key`; returns the token response.
    async fn passkey_sign_up(&self, slug: &str, email: &str, key: &mut SoftKey) -> Value {
        let (id, options) = self.start_sign_up(slug, email).await;
        let credential = key.create(PAGES, &options).await.unwrap();
        let response = self.finish_sign_up(slug, &id, &credential).await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Starts a passkey sign-in, by e-mail or username-less.
    async fn start_sign_in(&self, slug: &str, email: Option<&str>) -> (String, Value) {
        let body = match email {
            Some(e) => json!({ "email": e }),
            None => json!({}),
        };
        let path = format!("/t/{slug}/v1/passkeys/authentications");
        self.start_ceremony(&path, &body).await
    }

    async fn finish_sign_in(
        &self,
        slug: &str,
        ceremony_id: &str,
        credential: &Value,
    ) -> reqwest::Response {
        let path = format!("/t/{slug}/v1/passkeys/authentications/finish");
        self.finish_ceremony(&path, ceremony_id, credential).await
    }

    async fn passkey_sign_in(
        &self,
        slug: &str,
        email: Option<&str>,
        key: &mut SoftKey,
    ) -> reqwest::Response {
        let (id, options) = self.start_sign_in(slug, email).await;
        let credential = key.get(PAGES, &options).await.unwrap();
        self.finish_sign_in(slug, &id, &credential).await
    }

    async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&self.db).await.unwrap();
        n
    }

    async fn my_passkeys(&self, slug: &str, token: &str) -> Vec<Value> {
        let response = self
            .get_with_token(&format!("/t/{slug}/v1/passkeys"), token)
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["passkeys"].as_array().unwrap().clone()
    }
}

async fn started(response: reqwest::Response) -> (String, Value) {
    let body: Value = response.json().await.unwrap();
    (
        body["ceremony_id"].as_str().unwrap().to_owned(),
        body["options"].clone(),
    )
}

fn token(body: &Value) -> String {
    body["access_token"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn passkey_first_sign_up_creates_an_account_without_a_password_and_signs_it_in(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let mut key = SoftKey::new();

    let tokens = app
        .passkey_sign_up("acme", "ada@example.com", &mut key)
        .await;
    let me = app.me("acme", &token(&tokens)).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["email"], "ada@example.com");
    assert!(tokens["refresh_token"].is_string() && tokens["session_id"].is_string());
    let claims = jwt_part(&token(&tokens), 1);
    assert_eq!(claims["sid"], tokens["session_id"]);
    assert_eq!(jwt_part(&token(&tokens), 0)["typ"], "at+jwt");

    let (hash,): (Option<String>,) = sqlx::query_as("SELECT password_hash FROM users")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(hash.is_none());
    // No password to guess: every password answers like a wrong one.
    assert_error(
        app.post_session("acme", "ada@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    // The e-mail is taken now, for passkeys and passwords alike.
    let (id, options) = app.start_sign_up("acme", "ADA@example.com").await;
    let credential = SoftKey::new().create(PAGES, &options).await.unwrap();
    assert_error(
        app.finish_sign_up("acme", &id, &credential).await,
        409,
        "email_taken",
    )
    .await;
    assert_error(
        app.post_user("acme", "ada@example.com", PASSWORD).await,
        409,
        "email_taken",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM passkeys").await, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn registration_asks_for_a_discoverable_credential_and_user_verification(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let (_, options) = app.start_sign_up("acme", "ada@example.com").await;
    let selection = &options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required", "{options}");
    assert_eq!(selection["requireResidentKey"], true);
    assert_eq!(selection["userVerification"], "required");
    assert_eq!(options["publicKey"]["rp"]["id"], "example.com");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_signed_in_user_adds_a_passkey_and_signs_in_with_it_by_email(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    app.create_user("acme", "ada@example.com").await;
    let session = app.sign_in("acme", "ada@example.com").await;
    let access = token(&session);

    let start = app
        .post_bearer("/t/acme/v1/passkeys/registrations", &access, &json!({}))
        .await;
    assert_eq!(start.status(), 200);
    let (id, options) = started(start).await;
    let mut key = SoftKey::new();
    let credential = key.create(APP, &options).await.unwrap();
    let finish = app
        .post_bearer(
            "/t/acme/v1/passkeys/registrations/finish",
            &access,
            &json!({"ceremony_id": id, "credential": credential, "name": "Laptop"}),
        )
        .await;
    assert_eq!(finish.status(), 201);
    let view: Value = finish.json().await.unwrap();
    assert_eq!(view["name"], "Laptop");
    assert!(view["last_used_at"].is_null());

    // By e-mail: the account's passkey is the one allowed.
    let (id, options) = app.start_sign_in("acme", Some("ada@example.com")).await;
    let allowed = options["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let assertion = key.get(APP, &options).await.unwrap();
    let signed_in = app.finish_sign_in("acme", &id, &assertion).await;
    assert_eq!(signed_in.status(), 201);
    let tokens: Value = signed_in.json().await.unwrap();
    assert_eq!(app.me("acme", &token(&tokens)).await.status(), 200);
    // The same kind of session as a password sign-in: it is listed, and refreshes.
    let sessions = app
        .get_with_token("/t/acme/v1/sessions", &token(&tokens))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 2);
    let refreshed = app
        .refresh("acme", tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(refreshed.status(), 200);

    let listed = app.my_passkeys("acme", &access).await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["last_used_at"].is_string(), "{listed:?}");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn username_less_sign_in_finds_the_account_by_its_credential(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let mut ada = SoftKey::new();
    let mut bob = SoftKey::new();
    app.passkey_sign_up("acme", "ada@example.com", &mut ada)
        .await;
    let bob_tokens = app
        .passkey_sign_up("acme", "bob@example.com", &mut bob)
        .await;

    let (id, options) = app.start_sign_in("acme", None).await;
    assert_eq!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .map_or(0, Vec::len),
        0,
        "{options}"
    );
    let assertion = bob.get(PAGES, &options).await.unwrap();
    let response = app.finish_sign_in("acme", &id, &assertion).await;
    assert_eq!(response.status(), 201);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(
        jwt_part(&token(&tokens), 1)["sub"],
        jwt_part(&token(&bob_tokens), 1)["sub"]
    );

    // An e-mail without passkeys gets the same kind of answer as no e-mail at all.
    let (_, options) = app.start_sign_in("acme", Some("nobody@example.com")).await;
    assert_eq!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .map_or(0, Vec::len),
        0
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_synced_passkey_whose_counter_stays_zero_signs_in_again_and_again(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let mut key = SoftKey::new();
    app.passkey_sign_up("acme", "ada@example.com", &mut key)
        .await;
    for _ in 0..3 {
        let response = app.passkey_sign_in("acme", None, &mut key).await;
        assert_eq!(response.status(), 201);
    }
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 4);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_counter_is_persisted_and_a_cloned_authenticator_is_refused(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let counting = Options {
        counter: true,
        ..Options::default()
    };
    let mut key = SoftKey::with(counting, None);
    app.passkey_sign_up("acme", "ada@example.com", &mut key)
        .await;
    let clone = key.stored();
    let stored_before: (Value,) = sqlx::query_as("SELECT credential FROM passkeys")
        .fetch_one(&app.db)
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            app.passkey_sign_in("acme", Some("ada@example.com"), &mut key)
                .await
                .status(),
            201
        );
    }
    let stored_after: (Value,) = sqlx::query_as("SELECT credential FROM passkeys")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_ne!(
        stored_before.0, stored_after.0,
        "the new counter was stored"
    );

    // The copy still has the counter of before those sign-ins: it went backwards.
    let mut cloned = SoftKey::with(counting, clone);
    let response = app
        .passkey_sign_in("acme", Some("ada@example.com"), &mut cloned)
        .await;
    let message = assert_error(response, 401, "passkey_invalid").await;
    assert!(message.contains("counter"), "{message}");
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 3);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_replayed_finish_is_refused_and_opens_no_second_session(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let mut key = SoftKey::new();
    app.passkey_sign_up("acme", "ada@example.com", &mut key)
        .await;
    let (id, options) = app.start_sign_in("acme", None).await;
    let assertion = key.get(PAGES, &options).await.unwrap();
    assert_eq!(
        app.finish_sign_in("acme", &id, &assertion).await.status(),
        201
    );
    assert_error(
        app.finish_sign_in("acme", &id, &assertion).await,
        400,
        "ceremony_invalid",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 2);
    // Nor does a ceremony of one kind finish another.
    let (id, options) = app.start_sign_up("acme", "bob@example.com").await;
    let credential = SoftKey::new().create(PAGES, &options).await.unwrap();
    assert_error(
        app.finish_sign_in("acme", &id, &credential).await,
        422,
        "invalid_body",
    )
    .await;
    assert_error(
        app.finish_sign_in("acme", &id, &assertion).await,
        400,
        "ceremony_invalid",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_expired_ceremony_is_refused_and_changes_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let (id, options) = app.start_sign_up("acme", "ada@example.com").await;
    let credential = SoftKey::new().create(PAGES, &options).await.unwrap();
    sqlx::query("UPDATE passkey_ceremonies SET expires_at = now() - interval '1 second'")
        .execute(&app.db)
        .await
        .unwrap();
    assert_error(
        app.finish_sign_up("acme", &id, &credential).await,
        400,
        "ceremony_expired",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM passkey_ceremonies").await,
        0
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_ceremony_from_an_origin_the_tenant_does_not_allow_is_refused(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    // Under the RP id, so the browser would allow it, but not one of the tenant's origins.
    let (id, options) = app.start_sign_up("acme", "ada@example.com").await;
    let credential = SoftKey::new()
        .create("https://evil.example.com", &options)
        .await
        .unwrap();
    let message = assert_error(
        app.finish_sign_up("acme", &id, &credential).await,
        400,
        "passkey_rejected",
    )
    .await;
    assert!(message.contains("origin"), "{message}");
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);

    let mut key = SoftKey::new();
    app.passkey_sign_up("acme", "ada@example.com", &mut key)
        .await;
    let (id, options) = app.start_sign_in("acme", None).await;
    let assertion = key.get("https://evil.example.com", &options).await.unwrap();
    assert_error(
        app.finish_sign_in("acme", &id, &assertion).await,
        401,
        "passkey_invalid",
    )
    .await;
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_credential_made_for_another_rp_id_is_refused(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let (id, mut options) = app.start_sign_up("acme", "ada@example.com").await;
    // The page is an allowed origin, but the credential is bound to its own host, not the RP id.
    options["publicKey"]["rp"]["id"] = json!("login.example.com");
    let credential = SoftKey::new().create(PAGES, &options).await.unwrap();
    let message = assert_error(
        app.finish_sign_up("acme", &id, &credential).await,
        400,
        "passkey_rejected",
    )
    .await;
    assert!(message.contains("relying party id"), "{message}");
    assert_eq!(app.count("SELECT count(*) FROM passkeys").await, 0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_credential_registered_elsewhere_is_unknown_here(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    app.passkey_tenant("other").await;
    let mut key = SoftKey::new();
    // Same RP id, another tenant: the credential is not acme's.
    app.passkey_sign_up("other", "ada@example.com", &mut key)
        .await;
    let (id, options) = app.start_sign_in("acme", None).await;
    let assertion = key.get(PAGES, &options).await.unwrap();
    assert_error(
        app.finish_sign_in("acme", &id, &assertion).await,
        401,
        "passkey_unknown",
    )
    .await;
    assert_eq!(
        app.count("SELECT count(*) FROM sessions s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = 'acme'")
            .await,
        0
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_tampered_client_data_json_is_refused_and_records_no_use(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let mut key = SoftKey::new();
    app.passkey_sign_up("acme", "ada@example.com", &mut key)
        .await;
    let (id, options) = app.start_sign_in("acme", None).await;
    let mut assertion = key.get(PAGES, &options).await.unwrap();
    let field = &mut assertion["response"]["clientDataJSON"];
    let mut client_data: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(field.as_str().unwrap()).unwrap()).unwrap();
    client_data["challenge"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    *field = json!(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&client_data).unwrap()));
    let message = assert_error(
        app.finish_sign_in("acme", &id, &assertion).await,
        401,
        "passkey_invalid",
    )
    .await;
    assert!(message.contains("client data"), "{message}");
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM passkeys WHERE last_used_at IS NOT NULL")
            .await,
        0
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_assertion_without_user_verification_is_refused(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let mut key = SoftKey::new();
    app.passkey_sign_up("acme", "ada@example.com", &mut key)
        .await;
    // A client talked into not asking for verification: the authenticator signs with UV clear.
    let unverified = Options {
        no_user_verification: true,
        ..Options::default()
    };
    let mut careless = SoftKey::with(unverified, key.stored());
    let (id, mut options) = app.start_sign_in("acme", None).await;
    options["publicKey"]["userVerification"] = json!("discouraged");
    let assertion = careless.get(PAGES, &options).await.unwrap();
    let message = assert_error(
        app.finish_sign_in("acme", &id, &assertion).await,
        401,
        "passkey_invalid",
    )
    .await;
    assert!(message.contains("verif"), "{message}");
    assert_eq!(app.count("SELECT count(*) FROM sessions").await, 1);
    // Username-less: no account to name, only the method and the outcome.
    let failed: Vec<(String, Option<uuid::Uuid>, Value)> = sqlx::query_as(
        "SELECT outcome, subject_user_id, details FROM audit_events WHERE event_type = 'sign_in.failed'",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(
        failed,
        [("failure".to_owned(), None, json!({"method": "passkey"}))]
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_database_refuses_a_credential_id_registered_twice(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let mut key = SoftKey::new();
    app.passkey_sign_up("acme", "ada@example.com", &mut key)
        .await;
    let bob = app.create_user("acme", "bob@example.com").await;
    let (tenant_id, credential): (uuid::Uuid, Value) =
        sqlx::query_as("SELECT tenant_id, credential FROM passkeys")
            .fetch_one(&app.db)
            .await
            .unwrap();
    let passkey: webauthn_rs::prelude::Passkey = serde_json::from_value(credential).unwrap();
    let mut conn = app.db.acquire().await.unwrap();
    let again = origin_api::passkeys::credentials::insert(
        &mut conn,
        tenant_id,
        uuid::Uuid::parse_str(&bob).unwrap(),
        "Copied",
        &passkey,
        origin_api::passkeys::credentials::BackupFlags {
            eligible: false,
            backed_up: false,
        },
    )
    .await;
    assert!(
        matches!(again, Err(origin_api::ApiError::PasskeyExists)),
        "{again:?}"
    );
    assert_eq!(app.count("SELECT count(*) FROM passkeys").await, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn passkeys_are_listed_renamed_and_the_last_way_to_sign_in_is_kept_unless_confirmed(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let mut key = SoftKey::new();
    let tokens = app
        .passkey_sign_up("acme", "ada@example.com", &mut key)
        .await;
    let access = token(&tokens);
    let listed = app.my_passkeys("acme", &access).await;
    assert_eq!(listed.len(), 1);
    let id = listed[0]["id"].as_str().unwrap().to_owned();
    assert!(listed[0]["synced"].is_boolean() && listed[0]["created_at"].is_string());

    let rename = |name: Value| {
        app.client
            .patch(app.url(&format!("/t/acme/v1/passkeys/{id}")))
            .bearer_auth(&access)
            .json(&json!({ "name": name }))
            .send()
    };
    let renamed: Value = rename(json!("  Phone "))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renamed["name"], "Phone");
    assert_error(
        rename(json!("")).await.unwrap(),
        422,
        "passkey_name_invalid",
    )
    .await;
    assert_error(
        rename(json!("x".repeat(65))).await.unwrap(),
        422,
        "passkey_name_invalid",
    )
    .await;

    let delete = |query: &'static str| {
        app.client
            .delete(app.url(&format!("/t/acme/v1/passkeys/{id}{query}")))
            .bearer_auth(&access)
            .send()
    };
    assert_error(delete("").await.unwrap(), 409, "last_sign_in_method").await;
    assert_eq!(app.count("SELECT count(*) FROM passkeys").await, 1);
    assert_eq!(delete("?confirm_last=true").await.unwrap().status(), 204);
    assert_eq!(app.count("SELECT count(*) FROM passkeys").await, 0);
    assert_error(
        delete("?confirm_last=true").await.unwrap(),
        404,
        "passkey_not_found",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn another_users_passkey_cannot_be_seen_renamed_or_deleted(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let mut key = SoftKey::new();
    let ada = app
        .passkey_sign_up("acme", "ada@example.com", &mut key)
        .await;
    let ada_key = app.my_passkeys("acme", &token(&ada)).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_user("acme", "bob@example.com").await;
    let bob = token(&app.sign_in("acme", "bob@example.com").await);
    assert!(app.my_passkeys("acme", &bob).await.is_empty());
    let url = app.url(&format!("/t/acme/v1/passkeys/{ada_key}"));
    let renamed = app
        .client
        .patch(&url)
        .bearer_auth(&bob)
        .json(&json!({"name": "mine"}))
        .send()
        .await
        .unwrap();
    assert_error(renamed, 404, "passkey_not_found").await;
    let deleted = app
        .client
        .delete(&url)
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_error(deleted, 404, "passkey_not_found").await;
    assert_eq!(app.count("SELECT count(*) FROM passkeys").await, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_tenant_without_a_relying_party_answers_that_passkeys_are_not_configured(db: PgPool) {
    let mut config = test_config(None);
    // An IP address cannot be an RP id, so there is no default to take.
    config.pages_url = "http://127.0.0.1:9".to_owned();
    let app = spawn_with(db, config).await;
    let tenant = app.create_tenant("plain").await;
    assert!(tenant["passkeys"].is_null(), "{tenant}");
    let response = app
        .post_json("/t/plain/v1/passkeys/authentications", &json!({}))
        .await;
    assert_error(response, 409, "passkeys_not_configured").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn passkey_sign_up_addition_and_removal_are_in_the_audit_trail(db: PgPool) {
    let app = spawn_app(db).await;
    app.passkey_tenant("acme").await;
    let mut key = SoftKey::new();
    let tokens = app
        .passkey_sign_up("acme", "ada@example.com", &mut key)
        .await;
    let access = token(&tokens);
    let id = app.my_passkeys("acme", &access).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let delete = |query: &'static str| {
        app.client
            .delete(app.url(&format!("/t/acme/v1/passkeys/{id}{query}")))
            .bearer_auth(&access)
            .send()
    };
    assert_error(delete("").await.unwrap(), 409, "last_sign_in_method").await;
    assert_eq!(delete("?confirm_last=true").await.unwrap().status(), 204);
    let events: Vec<(String, Option<String>, Option<String>, Value)> = sqlx::query_as(
        "SELECT event_type, actor_id, subject_id, details FROM audit_events
         WHERE event_type LIKE 'passkey.%' OR event_type = 'user.signed_up' OR event_type LIKE 'sign_in.%'
         ORDER BY occurred_at",
    )
    .fetch_all(&app.db)
    .await
    .unwrap();
    let user_id = events[0].1.clone();
    assert!(user_id.is_some());
    assert_eq!(
        events,
        [
            (
                "passkey.added".to_owned(),
                user_id.clone(),
                Some(id.clone()),
                json!({})
            ),
            (
                "user.signed_up".to_owned(),
                user_id.clone(),
                None,
                json!({"method": "passkey"})
            ),
            (
                "sign_in.succeeded".to_owned(),
                user_id.clone(),
                None,
                json!({"via": "api"})
            ),
            // The refused delete left nothing; the confirmed one its event.
            ("passkey.removed".to_owned(), user_id, Some(id), json!({})),
        ]
    );
}
