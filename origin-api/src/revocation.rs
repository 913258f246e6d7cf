//! Revoking a session: in Postgres first, then at the edge.

use crate::edge_push::{self, OutboxEntry};
use crate::state::AppState;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// A session revoked in the current transaction, with the notice to push once it commits.
#[derive(Debug)]
pub(crate) struct Revoked {
    /// `None` when pushes are disabled.
    pub pending: Option<OutboxEntry>,
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
        return Ok(Some(Revoked { pending: None }));
    }
    // The latest expiry of any access token the session could still hold: one minted just now.
    let expires_at = now
        .unix_timestamp()
        .saturating_add(state.access_token_ttl_secs());
    let entry = edge_push::enqueue(&mut *conn, tenant_id, session_id, expires_at).await?;
    Ok(Some(Revoked {
        pending: Some(entry),
    }))
}

/// Where the edge stands after a revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EdgeOutcome {
    /// Pushes are disabled.
    Disabled,
    Delivered,
    /// Left in the outbox for the retry task.
    Pending,
}

/// Pushes a queued notice after its transaction committed.
pub(crate) async fn push_committed(
    state: &AppState,
    revoked: Revoked,
) -> Result<EdgeOutcome, sqlx::Error> {
    let (Some(pusher), Some(entry)) = (state.edge(), revoked.pending) else {
        return Ok(EdgeOutcome::Disabled);
    };
    let delivered =
        edge_push::deliver(state.db(), pusher, &entry, crate::state::now_unix()).await?;
    Ok(if delivered {
        EdgeOutcome::Delivered
    } else {
        EdgeOutcome::Pending
    })
}
