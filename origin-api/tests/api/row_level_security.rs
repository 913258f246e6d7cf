//! Tenant isolation enforced by Postgres (issue 13, `origin_api::db`, migration 0090): the app's
//! queries run as a role that cannot bypass row-level security, and a query that forgets its
//! `WHERE tenant_id` sees the current tenant's rows only.

use crate::helpers::{spawn_app, TestApp};
use origin_api::db::{self, APP_ROLE};
use sqlx::PgPool;
use uuid::Uuid;

/// Tables that belong to a tenant without a `tenant_id` column of their own (through a parent).
const OWNED_THROUGH_A_PARENT: [&str; 1] = ["refresh_tokens"];

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn every_table_with_a_tenant_id_has_forced_row_level_security(db: PgPool) {
    let tables: Vec<(String, bool, bool, i64)> = sqlx::query_as(
        "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            AND (EXISTS (SELECT FROM pg_attribute a
                          WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
                 OR c.relname = ANY($1))
          ORDER BY 1",
    )
    .bind(&OWNED_THROUGH_A_PARENT[..])
    .fetch_all(&db)
    .await
    .unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t.0.as_str()).collect();
    for expected in [
        "users",
        "sessions",
        "signing_keys",
        "audit_events",
        "refresh_tokens",
    ] {
        assert!(names.contains(&expected), "{expected} in {names:?}");
    }
    let unprotected: Vec<_> = tables
        .iter()
        .filter(|(_, enabled, forced, policies)| !(*enabled && *forced && *policies > 0))
        .collect();
    assert!(
        unprotected.is_empty(),
        "tenant-owned tables without enabled + forced row-level security and a policy (see the \
         pattern in migrations/0090_row_level_security.sql): {unprotected:?}"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_app_queries_as_a_role_that_can_bypass_nothing_and_owns_nothing(db: PgPool) {
    let app = spawn_app(db).await;
    let (user, superuser, bypass, owned): (String, bool, bool, i64) = sqlx::query_as(
        "SELECT current_user::text, r.rolsuper, r.rolbypassrls,
                (SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user)
           FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(app.state.db())
    .await
    .unwrap();
    assert_eq!(user, APP_ROLE);
    assert!(
        !superuser && !bypass,
        "superuser {superuser}, bypassrls {bypass}"
    );
    assert_eq!(
        owned, 0,
        "a table's owner bypasses its policies unless forced"
    );
}

/// Two tenants with a user and a session each; their ids.
async fn two_tenants(app: &TestApp) -> (Uuid, Uuid) {
    let mut ids = Vec::new();
    for slug in ["acme", "globex"] {
        let signed_in = app
            .signed_in(slug, &format!("someone@{slug}.example"))
            .await;
        ids.push(Uuid::parse_str(signed_in.tenant["id"].as_str().unwrap()).unwrap());
    }
    (ids[0], ids[1])
}

/// `SELECT tenant_id FROM {table}` with no `WHERE`: the deliberately unscoped query.
async fn unscoped(app: &TestApp, table: &str) -> Vec<Uuid> {
    sqlx::query_scalar(&format!("SELECT tenant_id FROM {table}"))
        .fetch_all(app.state.db())
        .await
        .unwrap()
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_query_that_forgets_its_where_tenant_id_sees_only_the_current_tenants_rows(db: PgPool) {
    let app = spawn_app(db).await;
    let (acme, globex) = two_tenants(&app).await;
    for table in ["users", "sessions", "signing_keys", "audit_events"] {
        // As the owner sees them: both tenants.
        let all: Vec<Uuid> = sqlx::query_scalar(&format!("SELECT tenant_id FROM {table}"))
            .fetch_all(&app.db)
            .await
            .unwrap();
        assert!(all.contains(&acme) && all.contains(&globex), "{table}");

        let seen = db::as_tenant(acme, unscoped(&app, table)).await;
        assert!(!seen.is_empty(), "{table}: acme's own rows");
        assert!(seen.iter().all(|t| *t == acme), "{table}: {seen:?}");
        let seen = db::as_tenant(globex, unscoped(&app, table)).await;
        assert!(
            !seen.is_empty() && seen.iter().all(|t| *t == globex),
            "{table}"
        );
        assert!(
            unscoped(&app, table).await.is_empty(),
            "{table}: no tenant, no rows"
        );
        assert_eq!(
            db::cross_tenant("test", unscoped(&app, table)).await.len(),
            all.len(),
            "{table}: the named way across tenants"
        );
    }
    // In a transaction too, and refresh tokens through their session.
    let (users, tokens): (i64, i64) = db::as_tenant(acme, async {
        let mut tx = app.state.db().begin().await.unwrap();
        let counts = sqlx::query_as(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM refresh_tokens)",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        counts
    })
    .await;
    assert_eq!((users, tokens), (1, 1));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_tenant_cannot_write_a_row_into_another_tenant(db: PgPool) {
    let app = spawn_app(db).await;
    let (acme, globex) = two_tenants(&app).await;
    let written = db::as_tenant(acme, async {
        sqlx::query("INSERT INTO users (id, tenant_id, email) VALUES ($1, $2, 'x@globex.example')")
            .bind(Uuid::new_v4())
            .bind(globex)
            .execute(app.state.db())
            .await
    })
    .await;
    let error = written.expect_err("the policy's WITH CHECK refuses it");
    assert!(error.to_string().contains("row-level security"), "{error}");
    let moved = db::as_tenant(acme, async {
        sqlx::query("UPDATE users SET tenant_id = $1")
            .bind(globex)
            .execute(app.state.db())
            .await
    })
    .await;
    assert!(moved.is_err(), "nor move its own rows to another tenant");
    let globex_users: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE tenant_id = $1")
        .bind(globex)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(globex_users, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_pooled_connection_never_carries_one_tenant_into_the_next_use(db: PgPool) {
    let app = spawn_app(db).await;
    let (acme, _) = two_tenants(&app).await;
    // More rounds than the pool has connections: each one is reused under another scope.
    for _ in 0..25 {
        assert!(!db::as_tenant(acme, unscoped(&app, "users"))
            .await
            .is_empty());
        assert!(unscoped(&app, "users").await.is_empty());
    }
}
