//! Pushing revocations to the edge, and retrying what the edge has not acknowledged.
//!
//! A revocation is committed together with a row in `revocation_outbox`. The handler pushes right
//! after commit and deletes the row on a 2xx; whatever is left is retried by
//! [`run_outbox_retries`]. Notices are idempotent at the edge (revoking twice keeps the later
//! expiry), so a notice delivered twice — by the handler and a concurrent retry — is harmless.

use crate::config::EdgePushConfig;
use crate::state::now_unix;
use anyhow::Context as _;
use auth_core::notice::{self, RevocationNotice};
use auth_core::sessions::RETENTION_AFTER_EXPIRY_SECS;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::{PgExecutor, PgPool};
use std::time::Duration;
use uuid::Uuid;

/// How long one push may take before it counts as failed.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Outbox rows retried per pass. The pass holds their row locks while it pushes.
const RETRY_BATCH: i64 = 20;
/// `last_error` is for operators; keep it short.
const MAX_ERROR_CHARS: usize = 500;

/// Sends signed revocation notices to the edge.
#[derive(Debug, Clone)]
pub struct EdgePusher {
    client: reqwest::Client,
    url: String,
    secret: SecretString,
}

/// Why a push did not reach the edge or was refused by it.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("edge unreachable: {0}")]
    Transport(String),
    #[error("edge answered http {0}")]
    Status(u16),
}

impl EdgePusher {
    pub fn new(config: &EdgePushConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(PUSH_TIMEOUT)
            .connect_timeout(PUSH_TIMEOUT)
            .build()
            .context("building the edge push client")?;
        Ok(EdgePusher {
            client,
            url: config.url.clone(),
            secret: config.secret.clone(),
        })
    }

    /// Posts one notice, signed at `now`. Only a 2xx counts as delivered.
    pub async fn push(&self, revocation: &RevocationNotice, now: i64) -> Result<(), PushError> {
        let body =
            serde_json::to_vec(revocation).map_err(|e| PushError::Transport(e.to_string()))?;
        let signature = notice::sign(self.secret.expose_secret().as_bytes(), now, &body);
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(notice::TIMESTAMP_HEADER, now.to_string())
            .header(notice::SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await
            // Without the url: the message names the cause, the operator knows the url.
            .map_err(|e| PushError::Transport(e.without_url().to_string()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(PushError::Status(response.status().as_u16()))
        }
    }
}

/// A revocation waiting in the outbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxEntry {
    pub id: i64,
    pub tenant_id: Uuid,
    pub session_id: Uuid,
    pub expires_at: i64,
}

impl OutboxEntry {
    pub fn notice(&self) -> RevocationNotice {
        RevocationNotice {
            tenant_id: self.tenant_id.to_string(),
            session_id: self.session_id.to_string(),
            expires_at: self.expires_at,
        }
    }
}

/// Queues a notice; call inside the transaction that revokes the session.
pub async fn enqueue(
    executor: impl PgExecutor<'_>,
    tenant_id: Uuid,
    session_id: Uuid,
    expires_at: i64,
) -> Result<OutboxEntry, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO revocation_outbox (tenant_id, session_id, expires_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(tenant_id)
    .bind(session_id)
    .bind(expires_at)
    .fetch_one(executor)
    .await?;
    Ok(OutboxEntry {
        id,
        tenant_id,
        session_id,
        expires_at,
    })
}

/// Pushes one queued notice and settles its row: deleted when delivered, `attempts`/`last_error`
/// updated when not. Returns whether it was delivered.
pub async fn deliver(
    db: impl PgExecutor<'_>,
    pusher: &EdgePusher,
    entry: &OutboxEntry,
    now: i64,
) -> Result<bool, sqlx::Error> {
    match pusher.push(&entry.notice(), now).await {
        Ok(()) => {
            sqlx::query("DELETE FROM revocation_outbox WHERE id = $1")
                .bind(entry.id)
                .execute(db)
                .await?;
            Ok(true)
        }
        Err(e) => {
            let message: String = e.to_string().chars().take(MAX_ERROR_CHARS).collect();
            tracing::warn!(
                tenant.id = %entry.tenant_id,
                session.id = %entry.session_id,
                error.cause = %message,
                "revocation push failed; left in the outbox"
            );
            sqlx::query("UPDATE revocation_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
                .bind(entry.id)
                .bind(message)
                .execute(db)
                .await?;
            Ok(false)
        }
    }
}

/// What one retry pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryReport {
    pub delivered: usize,
    pub failed: usize,
    /// Entries dropped undelivered because no token of their session can pass validation anymore.
    pub expired: u64,
}

/// One pass over the outbox: drops moot entries, pushes up to a batch of the rest, oldest first.
/// Rows are locked with `SKIP LOCKED`, so several origin instances share the work without overlap.
pub async fn retry_pending(db: &PgPool, pusher: &EdgePusher) -> anyhow::Result<RetryReport> {
    let now = now_unix();
    let mut tx = db.begin().await.context("starting the outbox pass")?;
    // Invariant (auth_core::sessions): once `expires_at` plus the largest leeway has passed, no token
    // of the session validates anywhere, so the notice no longer protects anything.
    let expired = sqlx::query("DELETE FROM revocation_outbox WHERE expires_at < $1")
        .bind(now.saturating_sub(RETENTION_AFTER_EXPIRY_SECS))
        .execute(&mut *tx)
        .await
        .context("dropping moot outbox entries")?
        .rows_affected();
    if expired > 0 {
        tracing::warn!(
            outbox.expired = expired,
            "dropped revocations the edge never acknowledged; they have lapsed"
        );
    }
    let entries: Vec<OutboxEntry> = sqlx::query_as(
        "SELECT id, tenant_id, session_id, expires_at FROM revocation_outbox
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(RETRY_BATCH)
    .fetch_all(&mut *tx)
    .await
    .context("reading the outbox")?;
    let mut report = RetryReport {
        expired,
        ..RetryReport::default()
    };
    for entry in &entries {
        if deliver(&mut *tx, pusher, entry, now_unix())
            .await
            .context("settling an outbox entry")?
        {
            report.delivered += 1;
        } else {
            report.failed += 1;
        }
    }
    tx.commit().await.context("committing the outbox pass")?;
    Ok(report)
}

/// Retries the outbox every `every`, forever (spawned by `serve`).
pub async fn run_outbox_retries(db: PgPool, pusher: EdgePusher, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match retry_pending(&db, &pusher).await {
            Ok(report) if report.delivered > 0 => {
                tracing::info!(
                    outbox.delivered = report.delivered,
                    outbox.failed = report.failed,
                    "outbox retried"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error.cause = format!("{e:#}"), "outbox pass failed"),
        }
    }
}
