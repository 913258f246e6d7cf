//! Tenant isolation in Postgres itself: whose rows the origin's queries may see.
//!
//! Every tenant-owned table has row-level security, enabled and forced (migration
//! `0090_row_level_security.sql`): a row is visible, and may be written, only when its `tenant_id`
//! is the connection's `app.tenant_id` setting, or when the connection says it works across tenants
//! (`app.cross_tenant`). A query that forgets its `WHERE tenant_id = …` therefore returns nothing of
//! another tenant's instead of everything.
//!
//! The origin runs its queries as [`APP_ROLE`], neither superuser nor owner (both bypass row-level
//! security): [`app_pool`] builds the pool every handler uses, whose connections `SET ROLE` to it.
//! Migrations run on the owner's pool.
//!
//! Who a query acts for is a [`Scope`] kept per request task ([`request_scope`], a middleware around
//! every route) and set in one place: when the request's tenant is found ([`crate::tenants::find`],
//! or a tenant is created). The pool writes the task's scope into each connection as it hands it out
//! (its `after_connect` and `before_acquire` hooks), so no handler sets it, none can forget it, and a
//! pooled connection never carries one request's tenant into the next. A transaction begun before
//! the tenant was found gets it from the lookup itself ([`enter_tenant`] on that connection).
//!
//! Work across tenants — the outbox retries, key rotation's schedule, the maintenance purges — runs
//! inside [`cross_tenant`], named, and nothing else does.

use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::{Executor as _, PgPool};
use std::cell::Cell;
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

/// The role the origin's queries run as (created by migration 0090: no superuser, no
/// `BYPASSRLS`, owns nothing).
pub const APP_ROLE: &str = "edge_auth_app";

/// Whose rows a task's queries act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No tenant yet (or none at all): tenant-owned tables show nothing.
    Nobody,
    Tenant(Uuid),
    /// Work across tenants, named for the logs and `pg_stat_activity`'s settings.
    CrossTenant(&'static str),
}

tokio::task_local! {
    static SCOPE: Cell<Scope>;
}

/// The current task's scope (`Nobody` outside any).
pub fn current() -> Scope {
    SCOPE.try_with(Cell::get).unwrap_or(Scope::Nobody)
}

/// Runs one request with its own scope, `Nobody` until its tenant is found (middleware).
pub async fn request_scope(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    SCOPE
        .scope(Cell::new(Scope::Nobody), next.run(request))
        .await
}

/// Runs `work` across every tenant's rows: the one way around row-level security.
pub async fn cross_tenant<F: Future>(why: &'static str, work: F) -> F::Output {
    SCOPE.scope(Cell::new(Scope::CrossTenant(why)), work).await
}

/// Runs `work` as `tenant` (a task outside any request, e.g. a test or a tool acting for one
/// tenant).
pub async fn as_tenant<F: Future>(tenant: Uuid, work: F) -> F::Output {
    SCOPE.scope(Cell::new(Scope::Tenant(tenant)), work).await
}

/// The request acts for `tenant` from now on: later connections get it from the pool, and `conn`
/// (one already held, e.g. a transaction's) is told now. Inside work across tenants nothing changes.
pub async fn enter_tenant(conn: &mut PgConnection, tenant: Uuid) -> Result<(), sqlx::Error> {
    let scope = match current() {
        Scope::CrossTenant(_) => return Ok(()),
        _ => Scope::Tenant(tenant),
    };
    let _ = SCOPE.try_with(|s| s.set(scope));
    apply(conn, scope).await
}

/// The request acts for `tenant` from now on, its current connection told already (the tenant
/// lookup's own statement does so): later connections get it from the pool.
pub fn entered_tenant(tenant: Uuid) {
    if !matches!(current(), Scope::CrossTenant(_)) {
        let _ = SCOPE.try_with(|s| s.set(Scope::Tenant(tenant)));
    }
}

/// Writes `scope` into the connection's settings. Session-level, because the pool rewrites it on
/// every hand-out (a transaction-local value would end at the first commit of a connection used
/// for several).
async fn apply(conn: &mut PgConnection, scope: Scope) -> Result<(), sqlx::Error> {
    let (tenant, cross) = match scope {
        Scope::Nobody => (String::new(), ""),
        Scope::Tenant(id) => (id.to_string(), ""),
        Scope::CrossTenant(why) => (String::new(), why),
    };
    sqlx::query(
        "SELECT set_config('app.tenant_id', $1, false), set_config('app.cross_tenant', $2, false)",
    )
    .bind(tenant)
    .bind(cross)
    .execute(conn)
    .await
    .map(|_| ())
}

/// The pool the app's queries use: connections to the same database as `owner`'s, as
/// [`APP_ROLE`], each handed out with the current task's [`Scope`]. Closed when `owner` is (a test
/// database can only be dropped once nothing is connected to it). A query waits up to
/// `acquire_timeout` for a connection, then fails. Needs a Tokio runtime.
pub fn app_pool(owner: &PgPool, acquire_timeout: Duration) -> PgPool {
    let app =
        app_pool_options(acquire_timeout).connect_lazy_with((*owner.connect_options()).clone());
    let (owner, closing) = (owner.clone(), app.clone());
    tokio::spawn(async move {
        owner.close_event().await;
        closing.close().await;
    });
    app
}

fn app_pool_options(acquire_timeout: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(acquire_timeout)
        // `before_acquire` runs a statement on every hand-out: it is the liveness check too.
        .test_before_acquire(false)
        .after_connect(|conn, _meta| {
            let scope = current();
            Box::pin(async move {
                (&mut *conn)
                    .execute(format!("SET ROLE {APP_ROLE}").as_str())
                    .await?;
                apply(conn, scope).await
            })
        })
        .before_acquire(|conn, _meta| {
            let scope = current();
            Box::pin(async move { apply(conn, scope).await.map(|()| true) })
        })
}
