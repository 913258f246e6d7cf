//! The audit trail: append-only in Postgres itself, written with the change it records, readable
//! through the admin API, and never holding a secret.

use crate::helpers::{assert_error, spawn_app, TestApp, ADMIN_TOKEN, PASSWORD};
use origin_api::audit::{self, Actor, Event, EventType};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

impl TestApp {
    async fn audit_page(&self, slug: &str, query: &str) -> reqwest::Response {
        self.client
            .get(self.url(&format!("/v1/admin/tenants/{slug}/audit-events?{query}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// Every event of the tenant, newest first, following the cursor.
    async fn audit_events(&self, slug: &str, query: &str) -> Vec<Value> {
        self.audit_events_from(slug, query, None).await
    }

    /// The events after `cursor`, following it to the end.
    async fn audit_events_from(
        &self,
        slug: &str,
        query: &str,
        mut cursor: Option<String>,
    ) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let q = match &cursor {
                Some(c) => format!("{query}&cursor={c}"),
                None => query.to_owned(),
            };
            let response = self.audit_page(slug, &q).await;
            assert_eq!(response.status(), 200);
            let page: Value = response.json().await.unwrap();
            events.extend(page["events"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return events,
            }
        }
    }

    async fn tenant_id(&self, slug: &str) -> Uuid {
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1")
            .bind(slug)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

fn of_type<'a>(events: &'a [Value], t: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["type"] == t)
        .unwrap_or_else(|| panic!("no {t} event in {:?}", types(events)))
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_database_refuses_to_update_delete_or_truncate_an_event(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(before, 1, "the tenant's creation is recorded");
    for statement in [
        "UPDATE audit_events SET outcome = 'failure'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let error = sqlx::query(statement).execute(&app.db).await.unwrap_err();
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
    // Raising the purge's flag by hand deletes nothing within retention.
    let mut tx = app.db.begin().await.unwrap();
    sqlx::query("SELECT set_config('audit.purging', 'on', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    assert!(sqlx::query("DELETE FROM audit_events")
        .execute(&mut *tx)
        .await
        .is_err());
    drop(tx);
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(after, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_event_commits_or_rolls_back_with_its_change(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let tenant_id = app.tenant_id("acme").await;
    let count = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM audit_events WHERE event_type = 'admin.audit_retention_set'",
        )
        .fetch_one(&app.db)
        .await
        .unwrap()
    };
    // The event is written, then a later step of the same transaction fails.
    let mut tx = app.db.begin().await.unwrap();
    audit::record(
        &mut tx,
        Event::new(tenant_id, Actor::Admin, EventType::TenantAuditRetentionSet),
    )
    .await
    .unwrap();
    let failed = sqlx::query("UPDATE tenants SET audit_retention_days = 0 WHERE id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await;
    assert!(failed.is_err(), "the schema bounds the retention");
    drop(tx);
    assert_eq!(count().await, 0, "no event outlives its rolled-back change");

    // Through the API: a refused retention leaves no event, an accepted one leaves one.
    let put = |days: i64| {
        app.client
            .put(app.url("/v1/admin/tenants/acme/audit-retention"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "audit_retention_days": days }))
            .send()
    };
    assert_error(put(0).await.unwrap(), 422, "audit_retention_days_invalid").await;
    assert_error(
        put(3651).await.unwrap(),
        422,
        "audit_retention_days_invalid",
    )
    .await;
    assert_eq!(count().await, 0);
    assert_eq!(put(30).await.unwrap().status(), 200);
    assert_eq!(count().await, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn every_wired_action_leaves_an_event_with_its_actor_and_outcome(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let ada = app.create_user("acme", "ada@example.com").await;
    let first = app.sign_in("acme", "ada@example.com").await;
    let second = app.sign_in("acme", "ada@example.com").await;
    let third = app.sign_in("acme", "ada@example.com").await;
    let token = |v: &Value| v["access_token"].as_str().unwrap().to_owned();
    let sid = |v: &Value| v["session_id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.post_session("acme", "ada@example.com", "wrong password!")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.post_session("acme", "nobody@example.com", "wrong password!")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.delete_session("acme", &sid(&first), &token(&first))
            .await
            .status(),
        204
    );
    let others = app
        .client
        .delete(app.url("/t/acme/v1/sessions/others"))
        .bearer_auth(token(&second))
        .send()
        .await
        .unwrap();
    assert_eq!(others.status(), 200);
    let everywhere = app
        .client
        .delete(app.url("/t/acme/v1/sessions"))
        .bearer_auth(token(&second))
        .send()
        .await
        .unwrap();
    assert_eq!(everywhere.status(), 200);
    let _ = third;
    let admin_revoke = app
        .client
        .delete(app.url(&format!("/v1/admin/tenants/acme/users/{ada}/sessions")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin_revoke.status(), 200);
    let not_before = app
        .client
        .put(app.url("/v1/admin/tenants/acme/sessions/not-before"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_before.status(), 200);
    let client = app
        .client
        .post(app.url("/v1/admin/tenants/acme/clients"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "App", "redirect_uris": ["https://app.example.com/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(client.status(), 201);
    let client_id = client.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deleted = app
        .client
        .delete(app.url(&format!("/v1/admin/tenants/acme/clients/{client_id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);

    let events = app.audit_events("acme", "limit=3").await;
    assert_eq!(
        types(&events),
        [
            "admin.oauth_client_deleted",
            "admin.oauth_client_created",
            "admin.tenant_not_before_set",
            "admin.user_sessions_revoked",
            "session.signed_out_everywhere",
            "session.others_revoked",
            "session.revoked",
            "sign_in.failed",
            "sign_in.failed",
            "sign_in.succeeded",
            "sign_in.succeeded",
            "sign_in.succeeded",
            "user.signed_up",
            "admin.tenant_created",
        ],
        "newest first"
    );
    let user_actor = json!({"kind": "user", "id": ada});
    let admin_actor = json!({"kind": "admin", "id": "bootstrap"});
    let signed_up = of_type(&events, "user.signed_up");
    assert_eq!(signed_up["actor"], user_actor);
    assert_eq!(signed_up["user_id"], ada);
    assert_eq!(signed_up["details"], json!({"method": "password"}));
    let signed_in = of_type(&events, "sign_in.succeeded");
    assert_eq!(signed_in["outcome"], "success");
    assert_eq!(signed_in["session_id"], sid(&third));
    assert_eq!(signed_in["details"]["via"], "api");
    assert_eq!(signed_in["ip"], "127.0.0.1");
    assert_eq!(
        signed_in["user_agent"], "Unknown client",
        "reqwest sends no user agent"
    );
    // Failures: the existing account by id, the unknown one by its hash only.
    let failures: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "sign_in.failed")
        .collect();
    let (unknown, known) = (failures[0], failures[1]);
    for failure in [unknown, known] {
        assert_eq!(failure["outcome"], "failure");
        assert_eq!(failure["actor"], json!({"kind": "user", "id": null}));
        assert_eq!(failure["details"]["account"].as_str().unwrap().len(), 64);
        assert_eq!(failure["details"]["method"], "password");
    }
    assert_eq!(known["user_id"], ada);
    assert_eq!(unknown["user_id"], Value::Null);
    let revoked = of_type(&events, "session.revoked");
    assert_eq!(revoked["actor"], user_actor);
    assert_eq!(revoked["session_id"], sid(&first));
    assert_eq!(
        of_type(&events, "session.others_revoked")["details"]["revoked"],
        1
    );
    assert_eq!(
        of_type(&events, "session.signed_out_everywhere")["details"]["revoked"],
        1
    );
    let by_admin = of_type(&events, "admin.user_sessions_revoked");
    assert_eq!(by_admin["actor"], admin_actor);
    assert_eq!(by_admin["user_id"], ada);
    assert_eq!(
        of_type(&events, "admin.tenant_not_before_set")["actor"],
        admin_actor
    );
    assert_eq!(
        of_type(&events, "admin.oauth_client_created")["subject_id"],
        client_id
    );
    assert_eq!(
        of_type(&events, "admin.oauth_client_deleted")["subject_id"],
        client_id
    );
    assert_eq!(
        of_type(&events, "admin.tenant_created")["subject_id"],
        "acme"
    );

    // Filters: by user, by type, by time.
    let of_ada = app.audit_events("acme", &format!("user={ada}")).await;
    assert_eq!(of_ada.len(), 9);
    assert!(of_ada.iter().all(|e| e["user_id"] == ada));
    let failed = app.audit_events("acme", "type=sign_in.failed").await;
    assert_eq!(failed.len(), 2);
    let future = app.audit_events("acme", "from=2100-01-01T00:00:00Z").await;
    assert!(future.is_empty());
    let past = app.audit_events("acme", "to=2000-01-01T00:00:00Z").await;
    assert!(past.is_empty());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_failure_that_exhausts_the_free_attempts_records_a_lockout(db: PgPool) {
    let app = spawn_app(db).await;
    let created = app
        .post_tenant(
            &json!({"slug": "acme", "name": "Acme", "brute_force": {"account_failures": 2}}),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(created.status(), 201);
    let ada = app.create_user("acme", "ada@example.com").await;
    for _ in 0..2 {
        assert_eq!(
            app.post_session("acme", "ada@example.com", "wrong password!")
                .await
                .status(),
            401
        );
    }
    // Refused without a check: no further event (a flood of refusals writes nothing).
    for _ in 0..3 {
        assert_eq!(
            app.post_session("acme", "ada@example.com", PASSWORD)
                .await
                .status(),
            429
        );
    }
    let events = app.audit_events("acme", "").await;
    assert_eq!(
        types(&events),
        [
            "sign_in.lockout",
            "sign_in.failed",
            "sign_in.failed",
            "user.signed_up",
            "admin.tenant_created"
        ]
    );
    let lockout = &events[0];
    assert_eq!(lockout["actor"]["kind"], "system");
    assert_eq!(lockout["user_id"], ada);
    assert_eq!(lockout["details"]["scope"], "account");
    assert_eq!(
        lockout["details"]["account"],
        events[1]["details"]["account"]
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn no_password_token_or_unknown_email_is_ever_stored(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ada@example.com").await;
    let tokens = app.sign_in("acme", "ada@example.com").await;
    let wrong = "hunter2-the-wrong-password";
    app.post_session("acme", "ada@example.com", wrong).await;
    app.post_session("acme", "mallory-probe@example.com", wrong)
        .await;
    let refreshed: Value = app
        .refresh("acme", tokens["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    // Reuse: the session is revoked by the system.
    app.refresh("acme", tokens["refresh_token"].as_str().unwrap())
        .await;
    let rows: Vec<String> = sqlx::query_scalar("SELECT e::text FROM audit_events e")
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(rows
        .iter()
        .any(|r| r.contains("session.refresh_token_reused")));
    let secrets = [
        PASSWORD,
        wrong,
        "mallory-probe",
        "ada@example.com",
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
        refreshed["access_token"].as_str().unwrap(),
        refreshed["refresh_token"].as_str().unwrap(),
        ADMIN_TOKEN,
    ];
    for row in &rows {
        for secret in secrets {
            assert!(!row.contains(secret), "{secret} stored in {row}");
        }
    }
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn pages_are_stable_and_complete_newest_first(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_tenant("other").await;
    let tenant_id = app.tenant_id("acme").await;
    for i in 0..25 {
        let mut conn = app.db.acquire().await.unwrap();
        audit::record(
            &mut conn,
            Event::new(tenant_id, Actor::System, EventType::TenantNotBeforeSet).detail("i", i),
        )
        .await
        .unwrap();
    }
    let ids: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM audit_events WHERE tenant_id = $1 ORDER BY occurred_at DESC, id DESC",
    )
    .bind(tenant_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let first = app.audit_page("acme", "limit=7").await;
    let first: Value = first.json().await.unwrap();
    // An event appended while paging is newer than every cursor: it changes no later page.
    let mut conn = app.db.acquire().await.unwrap();
    audit::record(
        &mut conn,
        Event::new(tenant_id, Actor::System, EventType::TenantNotBeforeSet),
    )
    .await
    .unwrap();
    drop(conn);
    let mut seen: Vec<Uuid> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let rest = app
        .audit_events_from(
            "acme",
            "limit=7",
            first["next_cursor"].as_str().map(str::to_owned),
        )
        .await;
    seen.extend(
        rest.iter()
            .map(|e| e["id"].as_str().unwrap().parse::<Uuid>().unwrap()),
    );
    let expected: Vec<Uuid> = ids.into_iter().map(|(id,)| id).collect();
    assert_eq!(
        seen, expected,
        "every event once, in order, none of another tenant"
    );
    assert_eq!(expected.len(), 26);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn bad_filters_and_cursors_are_422_and_the_endpoint_needs_the_admin_token(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    for (query, code) in [
        ("limit=0", "limit_invalid"),
        ("limit=201", "limit_invalid"),
        ("limit=ten", "limit_invalid"),
        ("user=ada", "user_invalid"),
        ("type=sign_in", "type_invalid"),
        ("from=yesterday", "time_range_invalid"),
        (
            "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            "time_range_invalid",
        ),
        ("cursor=not-a-cursor", "cursor_invalid"),
        ("order=asc", "query_invalid"),
        ("limit=5&limit=6", "query_invalid"),
    ] {
        assert_error(app.audit_page("acme", query).await, 422, code).await;
    }
    assert_error(app.audit_page("nope", "").await, 404, "tenant_not_found").await;
    let anonymous = app.get("/v1/admin/tenants/acme/audit-events").await;
    assert_error(anonymous, 401, "unauthorized").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_purge_deletes_only_events_past_their_tenants_retention(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_tenant("other").await;
    let acme = app.tenant_id("acme").await;
    let other = app.tenant_id("other").await;
    // Back-dating needs the stamping trigger off: only a superuser can do that.
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_stamp")
        .execute(&app.db)
        .await
        .unwrap();
    for tenant in [acme, other] {
        sqlx::query(
            "INSERT INTO audit_events (tenant_id, actor_kind, event_type, outcome, occurred_at)
             VALUES ($1, 'system', 'test.old', 'success', now() - interval '40 days')",
        )
        .bind(tenant)
        .execute(&app.db)
        .await
        .unwrap();
    }
    sqlx::query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_stamp")
        .execute(&app.db)
        .await
        .unwrap();
    let retention = app
        .client
        .put(app.url("/v1/admin/tenants/acme/audit-retention"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"audit_retention_days": 30}))
        .send()
        .await
        .unwrap();
    assert_eq!(retention.status(), 200);
    assert_eq!(audit::purge_expired(&app.db).await.unwrap(), 1);
    let left: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT tenant_id, event_type FROM audit_events ORDER BY occurred_at")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(
        !left.contains(&(acme, "test.old".to_owned())),
        "acme keeps 30 days"
    );
    assert!(
        left.contains(&(other, "test.old".to_owned())),
        "other keeps the default 365 days"
    );
    assert_eq!(
        left.len(),
        4,
        "both creations and the retention change stay"
    );
}
