//! Revoking sessions: in Postgres first, then at the edge.

use crate::edge_push::{self, Notice, OutboxEntry};
use crate::state::AppState;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// Sessions revoked in the current transaction, with the notices to push once it commits.
#[derive(Debug, Default)]
pub(crate) struct Revoked {
    /// Empty when pushes are disabled.
    pub pending: Vec<OutboxEntry>,
}

/// Marks a session of `user_id` and its refresh tokens revoked and, when pushes are enabled, queues
/// the edge notice. Call inside a transaction. Revoking a revoked session keeps its first
/// `revoked_at` and still queues a notice. Returns `None` when no such session exists.
pub(crate) async fn revoke_in_tx(
    conn: &mut PgConnection,
    state: &AppState,
    tenant_id: Uuid,
    user_id: Uuid,
    session_id: Uuid,
    now: OffsetDateTime,
) -> Result<Option<Revoked>, sqlx::Error> {
    let found = sqlx::query(
        "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $4)
         WHERE id = $1 AND tenant_id = $2 AND user_id = $3",
    )
    .bind(session_id)
    .bind(tenant_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    if !found {
        return Ok(None);
    }
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL",
    )
    .bind(session_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if state.edge().is_none() {
        return Ok(Some(Revoked::default()));
    }
    // The latest expiry of any access token the session could still hold: one minted just now.
    let expires_at = now
        .unix_timestamp()
        .saturating_add(state.access_token_ttl_secs());
    let pending = edge_push::enqueue(
        conn,
        Uuid::new_v4(),
        vec![Notice::session_revoked(tenant_id, session_id, expires_at)],
    )
    .await?;
    Ok(Some(Revoked { pending }))
}

/// Where the edge stands after a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EdgeOutcome {
    /// Pushes are disabled.
    Disabled,
    /// Every notice was acknowledged.
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
