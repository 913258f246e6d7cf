//! Revoking sessions: in Postgres first, then at the edge.
//!
//! Every revocation — one session, all of a user's but one, all of a user's (sign out everywhere),
//! all of a tenant's before an instant, all acting for an organization — marks the sessions and
//! their refresh tokens revoked and queues one edge notice per session that may still hold a valid
//! access token, in one transaction.
//! Sign out everywhere and the tenant's not-before also queue a not-before notice
//! ([`queue_not_before`]): the edge then refuses every token of the user (or tenant) issued before
//! that second, whether or not it knows the token's session. The per-session notices still go: a
//! token minted earlier in the not-before's own second has an `iat` equal to it, and is refused by
//! its session's entry.

use crate::edge_push::{self, Notice, OutboxEntry};
use crate::state::AppState;
use auth_core::claims::MAX_LEEWAY_SECS;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// Seconds a revocation outlives the last instant a token of its session passes validation at the
/// edge, for the clocks that compute and that expire the edge's records to disagree by.
///
/// Invariant (issue 10 §1.1): a notice's `expires_at` is the session's last access-token expiry plus
/// the largest leeway an edge issuer may have (`MAX_LEEWAY_SECS`) plus this margin; the edge keeps
/// the revocation until then, and the outbox may drop an undelivered notice only after it.
pub const CLOCK_SKEW_MARGIN_SECS: i64 = 60;

/// When a revocation of a session whose last access token expires at `access_expires_at` (Unix s)
/// may be forgotten.
pub fn notice_expiry(access_expires_at: i64) -> i64 {
    access_expires_at
        .saturating_add(MAX_LEEWAY_SECS as i64)
        .saturating_add(CLOCK_SKEW_MARGIN_SECS)
}

/// Which sessions of a tenant to revoke.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// One session of a user, revoked or not (revoking again pushes again).
    One { user_id: Uuid, session_id: Uuid },
    /// Every live session of a user, but `except` if given.
    AllOfUser { user_id: Uuid, except: Option<Uuid> },
    /// Every live session of the tenant created before the instant.
    CreatedBefore(OffsetDateTime),
    /// Every live session acting for an organization (its tokens carry that `org_id`), of one user
    /// or of everyone.
    ActingFor { org_id: Uuid, user_id: Option<Uuid> },
}

/// Sessions revoked in the current transaction, with the notices to push once it commits.
#[derive(Debug, Default)]
pub(crate) struct Revoked {
    /// Sessions revoked (or, for [`Target::One`], found).
    pub count: usize,
    /// Empty when pushes are disabled or no token of them can pass any more.
    pub pending: Vec<OutboxEntry>,
    /// The latest [`notice_expiry`] of the sessions revoked, when any token of them may still pass.
    pub latest_notice_expiry: Option<i64>,
}

/// Revokes `target`'s sessions and their refresh tokens and queues their edge notices. Call inside
/// a transaction; a revoked session keeps its first `revoked_at`.
pub(crate) async fn revoke_in_tx(
    conn: &mut PgConnection,
    state: &AppState,
    tenant_id: Uuid,
    target: Target,
    now: OffsetDateTime,
) -> Result<Revoked, sqlx::Error> {
    let (condition, user_id, id) = match target {
        Target::One {
            user_id,
            session_id,
        } => ("user_id = $3 AND id = $4", Some(user_id), Some(session_id)),
        Target::AllOfUser { user_id, except } => (
            "user_id = $3 AND revoked_at IS NULL AND ($4::uuid IS NULL OR id <> $4)",
            Some(user_id),
            except,
        ),
        Target::ActingFor { org_id, user_id } => (
            "active_org_id = $4 AND revoked_at IS NULL AND ($3::uuid IS NULL OR user_id = $3)",
            user_id,
            Some(org_id),
        ),
        Target::CreatedBefore(before) => {
            return revoke_rows(
                conn,
                state,
                tenant_id,
                sqlx::query_as(
                    "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2)
                     WHERE tenant_id = $1 AND revoked_at IS NULL AND created_at < $3
                     RETURNING id, floor(extract(epoch FROM access_expires_at))::bigint",
                )
                .bind(tenant_id)
                .bind(now)
                .bind(before),
                now,
            )
            .await
        }
    };
    let sql = format!(
        "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2)
         WHERE tenant_id = $1 AND {condition}
         RETURNING id, floor(extract(epoch FROM access_expires_at))::bigint"
    );
    revoke_rows(
        conn,
        state,
        tenant_id,
        sqlx::query_as(&sql)
            .bind(tenant_id)
            .bind(now)
            .bind(user_id)
            .bind(id),
        now,
    )
    .await
}

type RevokedRows<'q> =
    sqlx::query::QueryAs<'q, sqlx::Postgres, (Uuid, i64), sqlx::postgres::PgArguments>;

async fn revoke_rows(
    conn: &mut PgConnection,
    state: &AppState,
    tenant_id: Uuid,
    update: RevokedRows<'_>,
    now: OffsetDateTime,
) -> Result<Revoked, sqlx::Error> {
    let sessions: Vec<(Uuid, i64)> = update.fetch_all(&mut *conn).await?;
    if sessions.is_empty() {
        return Ok(Revoked::default());
    }
    let ids: Vec<Uuid> = sessions.iter().map(|(id, _)| *id).collect();
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE session_id = ANY($1) AND revoked_at IS NULL",
    )
    .bind(&ids)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let count = sessions.len();
    // A session none of whose tokens can pass any more needs no notice.
    let live: Vec<(Uuid, i64)> = sessions
        .into_iter()
        .map(|(id, access_expires_at)| (id, notice_expiry(access_expires_at)))
        .filter(|(_, expires_at)| *expires_at > now.unix_timestamp())
        .collect();
    let latest_notice_expiry = live.iter().map(|(_, expires_at)| *expires_at).max();
    if state.edge().is_none() {
        return Ok(Revoked {
            count,
            pending: vec![],
            latest_notice_expiry,
        });
    }
    let notices: Vec<Notice> = live
        .into_iter()
        .map(|(id, expires_at)| Notice::session_revoked(tenant_id, id, expires_at))
        .collect();
    let pending = edge_push::enqueue(conn, Uuid::new_v4(), notices).await?;
    Ok(Revoked {
        count,
        pending,
        latest_notice_expiry,
    })
}

/// Queues the not-before notice of a sweep that has just revoked `revoked` in this transaction:
/// every token of `user_id` (or, with `None`, of the tenant) issued before `not_before`'s second is
/// refused at the edge.
///
/// Invariant (issue 10 §1.1): the notice lives as long as the latest per-session notice of the
/// sweep, so until no token issued before the not-before can pass validation: every such token
/// belongs to a session swept now (its expiry is in `latest_notice_expiry`) or revoked earlier (its
/// own notice covers it). When no swept session has a token left that can pass, none is queued.
pub(crate) async fn queue_not_before(
    conn: &mut PgConnection,
    state: &AppState,
    tenant_id: Uuid,
    user_id: Option<Uuid>,
    not_before: OffsetDateTime,
    revoked: &mut Revoked,
) -> Result<(), sqlx::Error> {
    let Some(expires_at) = revoked.latest_notice_expiry else {
        return Ok(());
    };
    if state.edge().is_none() {
        return Ok(());
    }
    let notice = Notice::not_before(tenant_id, user_id, not_before.unix_timestamp(), expires_at);
    let queued = edge_push::enqueue(conn, Uuid::new_v4(), vec![notice]).await?;
    revoked.pending.extend(queued);
    Ok(())
}

/// Pushes notices queued by a committed transaction without making the request wait: for notices
/// whose answer says nothing about the edge (a session opened or refreshed). What fails stays in
/// the outbox for the retry task, as for every push.
pub(crate) fn push_in_background(state: &AppState, pending: Vec<OutboxEntry>) {
    let Some(pusher) = state.edge().cloned() else {
        return;
    };
    if pending.is_empty() {
        return;
    }
    let db = state.db().clone();
    // A spawned task inherits no tenant scope: under row-level security it would see none of the
    // outbox rows it settles. The rows are named by id, so settling them across tenants is narrow.
    tokio::spawn(crate::db::cross_tenant(
        "background edge push",
        async move {
            if let Err(e) = edge_push::deliver_all(&db, &pusher, pending).await {
                tracing::warn!(error.cause = %e, "settling a background edge push failed; the outbox retries it");
            }
        },
    ));
}

/// Where the edge stands after a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EdgeOutcome {
    /// Pushes are disabled.
    Disabled,
    /// Every notice was acknowledged (or none was needed).
    Delivered,
    /// Some notices are left in the outbox for the retry task.
    Pending,
}

/// Pushes queued notices after their transaction committed.
pub(crate) async fn push_committed(
    state: &AppState,
    revoked: Revoked,
) -> Result<EdgeOutcome, sqlx::Error> {
    let Some(pusher) = state.edge() else {
        return Ok(EdgeOutcome::Disabled);
    };
    let delivery = edge_push::deliver_all(state.db(), pusher, revoked.pending).await?;
    Ok(if delivery.failed + delivery.deferred == 0 {
        EdgeOutcome::Delivered
    } else {
        EdgeOutcome::Pending
    })
}
