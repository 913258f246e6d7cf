//! Signing keys that rotate: next → current → retired → gone, rotate-now, emergency revocation, kids
//! never reused, two instances racing, and EdDSA tenants.

use crate::helpers::{
    assert_error, jwt_part, spawn_app, spawn_app_with_edge, EdgeReceiver, TestApp, ADMIN_TOKEN,
    PUBLIC_URL,
};
use origin_api::audit::Actor;
use origin_api::key_rotation::{self, RotationPolicy};
use origin_api::keys::{self, KeyStatus, SigningAlgorithm};
use reqwest::Response;
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

impl TestApp {
    async fn admin_post(&self, path: &str) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
    }

    async fn rotate(&self, slug: &str) -> Response {
        self.admin_post(&format!("/v1/admin/tenants/{slug}/keys/rotate"))
            .await
    }

    async fn revoke_key(&self, slug: &str, kid: &str) -> Response {
        self.admin_post(&format!("/v1/admin/tenants/{slug}/keys/{kid}/revoke"))
            .await
    }

    /// `(kid, status)` of every key of the tenant, from the admin API.
    async fn keys_of(&self, slug: &str) -> Vec<(String, String)> {
        let response = self
            .client
            .get(self.url(&format!("/v1/admin/tenants/{slug}/keys")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                (
                    k["kid"].as_str().unwrap().to_owned(),
                    k["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    async fn kid_with(&self, slug: &str, status: &str) -> String {
        let keys = self.keys_of(slug).await;
        let found: Vec<_> = keys.iter().filter(|(_, s)| s == status).collect();
        assert_eq!(found.len(), 1, "one {status} key in {keys:?}");
        found[0].0.clone()
    }

    /// The kids the JWKS publishes, sorted.
    async fn published_kids(&self, slug: &str) -> Vec<String> {
        let set = self.key_set(slug).await;
        let mut kids: Vec<String> = set
            .keys()
            .iter()
            .map(|k| k.kid().unwrap().to_owned())
            .collect();
        kids.sort();
        kids
    }

    /// The `kid` of a fresh access token of the tenant's user.
    async fn signing_kid(&self, slug: &str, email: &str) -> String {
        let tokens = self.sign_in(slug, email).await;
        let token = tokens["access_token"].as_str().unwrap();
        assert_eq!(self.me(slug, token).await.status(), 200);
        jwt_part(token, 0)["kid"].as_str().unwrap().to_owned()
    }
}

fn sorted<const N: usize>(kids: [&String; N]) -> Vec<String> {
    let mut kids: Vec<String> = kids.into_iter().cloned().collect();
    kids.sort();
    kids
}

/// Outbox rows that revoke something (sign-ins also queue notices for the edge's session listing).
async fn outbox_count(db: &PgPool) -> i64 {
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM revocation_outbox WHERE kind <> 'session_seen'")
            .fetch_one(db)
            .await
            .unwrap();
    n
}

fn tenant_id(tenant: &Value) -> Uuid {
    Uuid::parse_str(tenant["id"].as_str().unwrap()).unwrap()
}

/// Makes every key of the tenant look `secs` older, as if the test had waited.
async fn age_keys(db: &PgPool, tenant: Uuid, secs: i64) {
    sqlx::query(
        "UPDATE signing_keys SET created_at = created_at - make_interval(secs => $2),
                                 signs_from = signs_from - make_interval(secs => $2)
         WHERE tenant_id = $1",
    )
    .bind(tenant)
    .bind(secs as f64)
    .execute(db)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_new_tenant_publishes_its_current_key_and_the_next_one_before_it_signs(db: PgPool) {
    let app = spawn_app(db).await;
    app.signed_in("acme", "ada@example.com").await;
    let current = app.kid_with("acme", "current").await;
    let next = app.kid_with("acme", "next").await;
    assert_ne!(current, next);
    assert_eq!(app.published_kids("acme").await, sorted([&current, &next]));
    assert_eq!(app.signing_kid("acme", "ada@example.com").await, current);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn keys_move_from_next_to_current_to_retired_to_gone_on_schedule(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    let s = app.signed_in("acme", "ada@example.com").await;
    let tenant = tenant_id(&s.tenant);
    let policy = RotationPolicy::default();
    let (a, b) = (
        app.kid_with("acme", "current").await,
        app.kid_with("acme", "next").await,
    );
    let t0 = OffsetDateTime::now_utc();
    let period = time::Duration::seconds(policy.period_secs);

    // Before the next key is due nothing changes, however often the schedule runs.
    for _ in 0..2 {
        key_rotation::settle_due(
            &db,
            &app.kek,
            &policy,
            t0 + period - time::Duration::seconds(5),
        )
        .await
        .unwrap();
    }
    assert_eq!(app.kid_with("acme", "current").await, a);

    // Due: b signs, a retires but stays published, a fresh next key is published.
    let due = t0 + period + time::Duration::seconds(1);
    assert_eq!(
        key_rotation::settle_due(&db, &app.kek, &policy, due)
            .await
            .unwrap(),
        1
    );
    assert_eq!(app.kid_with("acme", "current").await, b);
    assert_eq!(app.kid_with("acme", "retired").await, a);
    let c = app.kid_with("acme", "next").await;
    assert_eq!(app.published_kids("acme").await, sorted([&a, &b, &c]));
    assert_eq!(app.signing_kid("acme", "ada@example.com").await, b);
    // A token a signed still verifies while a is retired.
    assert_eq!(app.me("acme", &s.access_token).await.status(), 200);

    // The retired key is published until every token it signed has expired plus the max-age.
    let (published_until,): (OffsetDateTime,) =
        sqlx::query_as("SELECT published_until FROM signing_keys WHERE kid = $1")
            .bind(&a)
            .fetch_one(&db)
            .await
            .unwrap();
    let after_retirement = published_until.unix_timestamp() - due.unix_timestamp();
    assert_eq!(after_retirement, policy.retired_publication_secs());
    assert!(after_retirement >= 3600 + 300 + policy.jwks_max_age_secs);
    key_rotation::settle_due(
        &db,
        &app.kek,
        &policy,
        published_until - time::Duration::seconds(1),
    )
    .await
    .unwrap();
    assert_eq!(app.kid_with("acme", "retired").await, a);

    // Then it is gone: unpublished, its private half wiped; the token it signed no longer verifies.
    key_rotation::settle_due(&db, &app.kek, &policy, published_until)
        .await
        .unwrap();
    assert_eq!(app.kid_with("acme", "gone").await, a);
    let (ciphertext,): (Option<Vec<u8>>,) =
        sqlx::query_as("SELECT private_key_ciphertext FROM signing_keys WHERE kid = $1")
            .bind(&a)
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(ciphertext.is_none());
    assert_eq!(app.published_kids("acme").await, sorted([&b, &c]));
    assert_error(app.me("acme", &s.access_token).await, 401, "key_unknown").await;
    let _ = tenant;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn rotate_now_waits_until_the_next_key_has_been_published_for_the_max_age(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    let s = app.signed_in("acme", "ada@example.com").await;
    let (a, b) = (
        app.kid_with("acme", "current").await,
        app.kid_with("acme", "next").await,
    );

    // Published just now: it may sign only once edges caching the JWKS for its max-age have it.
    let response = app.rotate("acme").await;
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["rotated"], false);
    let signs_from = OffsetDateTime::parse(
        body["signs_from"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let wait = (signs_from - OffsetDateTime::now_utc()).whole_seconds();
    assert!(
        (RotationPolicy::default().jwks_max_age_secs - 5
            ..=RotationPolicy::default().jwks_max_age_secs)
            .contains(&wait),
        "takes over a max-age after it was published: {wait} s"
    );
    assert_eq!(app.kid_with("acme", "current").await, a);
    assert_eq!(app.signing_kid("acme", "ada@example.com").await, a);

    // Published long enough: it signs at once.
    age_keys(&db, tenant_id(&s.tenant), 600).await;
    let response = app.rotate("acme").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["rotated"], true);
    assert_eq!(app.signing_kid("acme", "ada@example.com").await, b);
    assert_eq!(app.kid_with("acme", "retired").await, a);
    assert_eq!(app.me("acme", &s.access_token).await.status(), 200);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_emergency_revocation_withdraws_the_key_at_once_and_pushes_it_to_the_edge(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let app = spawn_app_with_edge(db.clone(), &edge.url).await;
    let s = app.signed_in("acme", "ada@example.com").await;
    let (a, b) = (
        app.kid_with("acme", "current").await,
        app.kid_with("acme", "next").await,
    );

    let response = app.revoke_key("acme", &a).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["revoked"].as_str(), body["was"].as_str()),
        (Some(a.as_str()), Some("current"))
    );

    // Gone from the JWKS at once; the next key signs from now, though it was published just now.
    let published = app.published_kids("acme").await;
    assert!(!published.contains(&a), "{published:?}");
    assert_eq!(app.kid_with("acme", "revoked").await, a);
    assert_eq!(app.kid_with("acme", "current").await, b);
    let c = app.kid_with("acme", "next").await;
    assert_eq!(published, sorted([&b, &c]));
    assert_eq!(app.signing_kid("acme", "ada@example.com").await, b);
    assert_error(app.me("acme", &s.access_token).await, 401, "key_unknown").await;

    // The edge was told, before the answer.
    let notices = edge.key_notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].issuer, format!("{PUBLIC_URL}/t/acme"));
    assert_eq!(notices[0].kid, a);
    assert_eq!(outbox_count(&db).await, 0);

    // Its private half is gone; revoking it again is refused.
    let (ciphertext,): (Option<Vec<u8>>,) =
        sqlx::query_as("SELECT private_key_ciphertext FROM signing_keys WHERE kid = $1")
            .bind(&a)
            .fetch_one(&db)
            .await
            .unwrap();
    assert!(ciphertext.is_none());
    assert_error(app.revoke_key("acme", &a).await, 409, "key_already_revoked").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_undelivered_key_revocation_waits_in_the_outbox(db: PgPool) {
    let unreachable = format!(
        "http://{}/__auth/revocations",
        crate::helpers::unused_addr().await
    );
    let app = spawn_app_with_edge(db.clone(), &unreachable).await;
    app.signed_in("acme", "ada@example.com").await;
    let a = app.kid_with("acme", "current").await;
    let response = app.revoke_key("acme", &a).await;
    assert_eq!(response.status(), 202);
    assert_eq!(response.json::<Value>().await.unwrap()["edge"], "pending");
    assert!(!app.published_kids("acme").await.contains(&a));
    let (kind, kid): (String, String) = sqlx::query_as(
        "SELECT kind, payload->>'kid' FROM revocation_outbox WHERE kind <> 'session_seen'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!((kind.as_str(), kid), ("key_revoked", a));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn revoking_the_key_that_signs_never_leaves_the_tenant_without_one(db: PgPool) {
    let app = spawn_app(db).await;
    app.signed_in("acme", "ada@example.com").await;
    let mut revoked = Vec::new();
    for _ in 0..3 {
        let current = app.kid_with("acme", "current").await;
        assert_eq!(app.revoke_key("acme", &current).await.status(), 200);
        revoked.push(current);
        let signing = app.signing_kid("acme", "ada@example.com").await;
        assert!(!revoked.contains(&signing));
        let published = app.published_kids("acme").await;
        assert_eq!(published.len(), 2, "current and next: {published:?}");
        assert!(published.iter().all(|k| !revoked.contains(k)));
    }
    // The next key can be revoked too: a fresh one takes its place.
    let next = app.kid_with("acme", "next").await;
    assert_eq!(app.revoke_key("acme", &next).await.status(), 200);
    assert_ne!(app.kid_with("acme", "next").await, next);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn key_admin_refuses_unknown_tenants_and_kids_and_callers_without_the_token(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    assert_error(app.rotate("nope").await, 404, "tenant_not_found").await;
    assert_error(app.revoke_key("nope", "k").await, 404, "tenant_not_found").await;
    assert_error(
        app.revoke_key("acme", "no-such-kid").await,
        404,
        "key_not_found",
    )
    .await;
    assert_error(
        app.revoke_key("acme", &"k".repeat(300)).await,
        404,
        "key_not_found",
    )
    .await;
    // Another tenant's kid is not this tenant's.
    app.create_tenant("other").await;
    let theirs = app.kid_with("other", "current").await;
    assert_error(app.revoke_key("acme", &theirs).await, 404, "key_not_found").await;
    let anonymous = app
        .client
        .post(app.url("/v1/admin/tenants/acme/keys/rotate"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "unauthorized").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_kid_is_never_issued_twice_even_after_its_row_is_deleted(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    let tenant = app.create_tenant("acme").await;
    let tenant = tenant_id(&tenant);
    let kid = app.kid_with("acme", "next").await;
    sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
        .bind(&kid)
        .execute(&db)
        .await
        .unwrap();
    let mut again = keys::generate(&app.kek, tenant, SigningAlgorithm::Es256).unwrap();
    again.kid = kid;
    let refused = keys::insert(
        &db,
        tenant,
        &again,
        KeyStatus::Next,
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap_err();
    let constraint = refused
        .as_database_error()
        .and_then(|e| e.constraint())
        .map(str::to_owned);
    assert_eq!(constraint.as_deref(), Some("signing_kids_issued_pkey"));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn instances_racing_to_rotate_promote_exactly_once(db: PgPool) {
    let app = spawn_app(db.clone()).await;
    let s = app.signed_in("acme", "ada@example.com").await;
    let tenant = tenant_id(&s.tenant);
    let policy = RotationPolicy::default();
    let b = app.kid_with("acme", "next").await;
    age_keys(&db, tenant, 600).await;

    // Four instances, each with its own pool: two run the schedule at an instant the next key is
    // due, two ask to rotate now.
    let mut tasks = Vec::new();
    let due = OffsetDateTime::now_utc() + time::Duration::seconds(policy.period_secs);
    for i in 0..4 {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with((*db.connect_options()).clone())
            .await
            .unwrap();
        let kek = app.kek.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                key_rotation::settle_due(&pool, &kek, &policy, due)
                    .await
                    .map(|_| ())
            } else {
                key_rotation::rotate_now(
                    &pool,
                    &kek,
                    tenant,
                    &policy,
                    OffsetDateTime::now_utc(),
                    Actor::Admin,
                )
                .await
                .map(|_| ())
            }
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let keys = app.keys_of("acme").await;
    let count = |status: &str| keys.iter().filter(|(_, s)| s == status).count();
    assert_eq!(
        (count("current"), count("next"), count("retired")),
        (1, 1, 1),
        "one promotion, whoever won: {keys:?}"
    );
    assert_eq!(app.kid_with("acme", "current").await, b);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_eddsa_tenant_signs_with_ed25519_and_says_so(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app
        .post_tenant(
            &json!({"slug": "edwards", "name": "Edwards", "signing_alg": "EdDSA"}),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.json::<Value>().await.unwrap()["signing_alg"],
        "EdDSA"
    );
    let set = app.key_set("edwards").await;
    assert_eq!(set.keys().len(), 2);
    assert!(set
        .keys()
        .iter()
        .all(|k| k.algorithm() == auth_core::Algorithm::EdDsa));
    app.create_user("edwards", "ed@example.com").await;
    let tokens = app.sign_in("edwards", "ed@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_part(token, 0)["alg"], "EdDSA");
    assert_eq!(app.me("edwards", token).await.status(), 200);
    let discovery: Value = app
        .get("/t/edwards/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );

    let refused = app
        .post_tenant(
            &json!({"slug": "hmac", "name": "Hmac", "signing_alg": "HS256"}),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_error(refused, 422, "signing_alg_invalid").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_jwks_max_age_is_the_configured_one(db: PgPool) {
    let mut config = crate::helpers::test_config(None);
    config.key_rotation.jwks_max_age_secs = 42;
    let app = crate::helpers::spawn_with(db, config).await;
    app.create_tenant("acme").await;
    let response = app.get("/t/acme/.well-known/jwks.json").await;
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=42"
    );
}
