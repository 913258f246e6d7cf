//! Pushing notices to the edge, and retrying what the edge has not acknowledged.
//!
//! A revocation is committed together with its rows in `revocation_outbox`, each already claimed by
//! the request that wrote it; the request pushes right after commit and deletes a row on a 2xx.
//! Whatever is left is retried by [`run_outbox_retries`]: a pass *claims* rows (a committed lease on
//! the database's clock), then pushes them holding no lock and no transaction, then settles each
//! row. Two passes, on one instance or several, never push the same row at once; a claim whose
//! holder crashed lapses after [`CLAIM_LEASE`] and the row is retried. Notices are idempotent at the
//! edge (revoking twice keeps the later expiry), so a row pushed again after a lapse is harmless.

use crate::clock::now_unix;
use crate::config::EdgePushConfig;
use anyhow::Context as _;
use auth_core::notice::{
    self, KeyRevocationNotice, NotBeforeNotice, RevocationNotice, SessionNotice,
};
use auth_core::sessions::LiveSession;
use futures_util::stream::{self, StreamExt as _};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long one push may take before it counts as failed.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a claim on outbox rows holds. Invariant: a claimant starts no push later than
/// `CLAIM_LEASE - PUSH_TIMEOUT` after claiming, so every push it makes ends before its claim lapses
/// and nobody else can push the same row meanwhile.
pub const CLAIM_LEASE: Duration = Duration::from_secs(30);
/// Outbox rows claimed at a time by a retry pass.
const RETRY_BATCH: i64 = 100;
/// Batches a pass works through while the edge keeps acknowledging (a bulk revocation can leave
/// thousands of rows), before it yields until the next tick.
const BATCHES_PER_PASS: usize = 10;
/// Pushes in flight at once, per pass or per request.
const PUSH_CONCURRENCY: usize = 8;
/// `last_error` is for operators; keep it short.
const MAX_ERROR_CHARS: usize = 500;

/// Sends signed notices to the edge.
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

    /// Posts one notice body, signed at `now`. Only a 2xx counts as delivered.
    pub async fn push(&self, kind: NoticeKind, body: Vec<u8>, now: i64) -> Result<(), PushError> {
        let signature = notice::sign(self.secret.expose_secret().as_bytes(), now, &body);
        let response = self
            .client
            .post(self.url_for(kind))
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

    /// Where a kind of notice goes: session revocations to `EDGE_PUSH_URL` (the edge's
    /// `/__auth/revocations`), the others to its siblings `not-before`, `sessions` and
    /// `key-revocations`.
    fn url_for(&self, kind: NoticeKind) -> String {
        match kind {
            NoticeKind::SessionRevoked => self.url.clone(),
            NoticeKind::NotBefore => sibling(&self.url, "not-before"),
            NoticeKind::SessionSeen => sibling(&self.url, "sessions"),
            NoticeKind::KeyRevoked => sibling(&self.url, "key-revocations"),
        }
    }
}

/// `url` with its last path segment replaced by `segment`.
fn sibling(url: &str, segment: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) if base.len() > "http://".len() => format!("{base}/{segment}"),
        _ => format!("{}/{segment}", url.trim_end_matches('/')),
    }
}

/// The kinds of notice the outbox carries (its `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// A [`RevocationNotice`]: one session is revoked.
    SessionRevoked,
    /// A [`NotBeforeNotice`]: a user's or the tenant's tokens issued before an instant are refused.
    NotBefore,
    /// A [`SessionNotice`]: a session was opened or refreshed (the tenant object's listing).
    SessionSeen,
    /// A [`KeyRevocationNotice`]: a signing key is compromised.
    KeyRevoked,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::SessionRevoked => "session_revoked",
            NoticeKind::NotBefore => "not_before",
            NoticeKind::SessionSeen => "session_seen",
            NoticeKind::KeyRevoked => "key_revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "session_revoked" => Some(NoticeKind::SessionRevoked),
            "not_before" => Some(NoticeKind::NotBefore),
            "session_seen" => Some(NoticeKind::SessionSeen),
            "key_revoked" => Some(NoticeKind::KeyRevoked),
            _ => None,
        }
    }
}

/// How long an undelivered session notice stays worth pushing. It protects nothing (the listing
/// only), and the session's next refresh reports it again: an edge that was down for longer misses
/// the listing of sessions nobody used meanwhile, rather than being sent a backlog.
pub const SESSION_NOTICE_RETENTION_SECS: i64 = 600;

/// A notice for the edge, before it is queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub kind: NoticeKind,
    pub tenant_id: Uuid,
    /// The JSON body the edge receives.
    pub payload: Value,
    /// Unix seconds after which the notice protects nothing: the retry pass may drop it then.
    pub expires_at: i64,
}

impl Notice {
    pub fn session_revoked(tenant_id: Uuid, session_id: Uuid, expires_at: i64) -> Self {
        let body = RevocationNotice {
            tenant_id: tenant_id.to_string(),
            session_id: session_id.to_string(),
            expires_at,
        };
        Notice {
            kind: NoticeKind::SessionRevoked,
            tenant_id,
            payload: serde_json::json!(body),
            expires_at,
        }
    }
}

impl Notice {
    /// Tokens of `user_id` (or, with `None`, of the whole tenant) issued before `not_before` (Unix
    /// s) are refused; the edge may forget it after `expires_at`.
    pub fn not_before(
        tenant_id: Uuid,
        user_id: Option<Uuid>,
        not_before: i64,
        expires_at: i64,
    ) -> Self {
        let body = NotBeforeNotice {
            tenant_id: tenant_id.to_string(),
            user_id: user_id.map(|u| u.to_string()),
            not_before,
            expires_at,
        };
        Notice {
            kind: NoticeKind::NotBefore,
            tenant_id,
            payload: serde_json::json!(body),
            expires_at,
        }
    }

    /// The session was opened or refreshed at `now`.
    pub fn session_seen(tenant_id: Uuid, session_id: Uuid, session: LiveSession, now: i64) -> Self {
        let expires_at = session
            .expires_at
            .min(now.saturating_add(SESSION_NOTICE_RETENTION_SECS));
        let body = SessionNotice {
            tenant_id: tenant_id.to_string(),
            session_id: session_id.to_string(),
            session,
        };
        Notice {
            kind: NoticeKind::SessionSeen,
            tenant_id,
            payload: serde_json::json!(body),
            expires_at,
        }
    }
}

impl Notice {
    /// The issuer's key `kid` is revoked; worth pushing for as long as any edge may hold the key.
    pub fn key_revoked(tenant_id: Uuid, issuer: String, kid: String, now: i64) -> Self {
        Notice {
            kind: NoticeKind::KeyRevoked,
            tenant_id,
            payload: serde_json::json!(KeyRevocationNotice { issuer, kid }),
            expires_at: now.saturating_add(notice::KEY_NOTICE_RETENTION_SECS),
        }
    }
}

/// A queued notice, claimed by whoever holds it.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    pub id: i64,
    pub claim: Uuid,
    pub notice: Notice,
}

/// Queues notices claimed by `claim`; call inside the transaction that makes them true, then
/// [`deliver_all`] after it commits. Until the claim lapses, no retry pass pushes them.
pub async fn enqueue(
    conn: &mut sqlx::PgConnection,
    claim: Uuid,
    notices: Vec<Notice>,
) -> Result<Vec<OutboxEntry>, sqlx::Error> {
    let mut entries = Vec::with_capacity(notices.len());
    for notice in notices {
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO revocation_outbox (tenant_id, kind, payload, expires_at, claim, claimed_until)
             VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
             RETURNING id",
        )
        .bind(notice.tenant_id)
        .bind(notice.kind.as_str())
        .bind(Json(&notice.payload))
        .bind(notice.expires_at)
        .bind(claim)
        .bind(CLAIM_LEASE.as_secs_f64())
        .fetch_one(&mut *conn)
        .await?;
        entries.push(OutboxEntry { id, claim, notice });
    }
    Ok(entries)
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: i64,
    tenant_id: Uuid,
    kind: String,
    payload: Json<Value>,
    expires_at: i64,
}

/// Claims up to `limit` rows nobody holds (unclaimed, or whose claim lapsed), oldest first, and
/// commits the claim before returning: the caller pushes holding no lock.
pub async fn claim_pending(
    db: impl PgExecutor<'_>,
    claim: Uuid,
    limit: i64,
) -> Result<Vec<OutboxEntry>, sqlx::Error> {
    // SKIP LOCKED: a concurrent pass claiming the same rows is skipped rather than waited for; a row
    // it has claimed and committed no longer matches the lease condition when rechecked.
    let rows: Vec<ClaimedRow> = sqlx::query_as(
        "UPDATE revocation_outbox
         SET claim = $1, claimed_until = now() + make_interval(secs => $2)
         WHERE id IN (
             SELECT id FROM revocation_outbox
             WHERE claimed_until IS NULL OR claimed_until <= now()
             ORDER BY id LIMIT $3
             FOR UPDATE SKIP LOCKED)
         RETURNING id, tenant_id, kind, payload, expires_at",
    )
    .bind(claim)
    .bind(CLAIM_LEASE.as_secs_f64())
    .bind(limit)
    .fetch_all(db)
    .await?;
    let mut entries: Vec<OutboxEntry> = rows
        .into_iter()
        .filter_map(|row| {
            let Some(kind) = NoticeKind::parse(&row.kind) else {
                // The CHECK constraint makes this unreachable unless a newer schema wrote it.
                tracing::error!(outbox.id = row.id, outbox.kind = %row.kind, "outbox row of an unknown kind left claimed");
                return None;
            };
            Some(OutboxEntry {
                id: row.id,
                claim,
                notice: Notice {
                    kind,
                    tenant_id: row.tenant_id,
                    payload: row.payload.0,
                    expires_at: row.expires_at,
                },
            })
        })
        .collect();
    entries.sort_by_key(|e| e.id);
    Ok(entries)
}

/// What became of a batch of claimed notices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: usize,
    pub failed: usize,
    /// Released unpushed for a later pass: after a failure the edge is likely down, and near the end
    /// of the lease no push may start.
    pub deferred: usize,
}

enum Outcome {
    Delivered,
    Failed,
    Deferred,
}

/// Pushes claimed notices, a few at a time, and settles each row: deleted when delivered, its
/// attempt recorded and its claim released when not. Stops starting pushes after the first failure
/// or once the lease is too short for another, and releases the rest.
pub async fn deliver_all(
    db: &PgPool,
    pusher: &EdgePusher,
    entries: Vec<OutboxEntry>,
) -> Result<Delivery, sqlx::Error> {
    let claimed_at = Instant::now();
    let last_start = CLAIM_LEASE.saturating_sub(PUSH_TIMEOUT);
    let stop = AtomicBool::new(false);
    let outcomes: Vec<Result<Outcome, sqlx::Error>> = stream::iter(entries)
        .map(|entry| {
            let stop = &stop;
            async move {
                if stop.load(Ordering::Relaxed) || claimed_at.elapsed() >= last_start {
                    release(db, &entry).await?;
                    return Ok(Outcome::Deferred);
                }
                let delivered = deliver(db, pusher, &entry, now_unix()).await?;
                if delivered {
                    Ok(Outcome::Delivered)
                } else {
                    stop.store(true, Ordering::Relaxed);
                    Ok(Outcome::Failed)
                }
            }
        })
        .buffer_unordered(PUSH_CONCURRENCY)
        .collect()
        .await;
    let mut delivery = Delivery::default();
    for outcome in outcomes {
        match outcome? {
            Outcome::Delivered => delivery.delivered += 1,
            Outcome::Failed => delivery.failed += 1,
            Outcome::Deferred => delivery.deferred += 1,
        }
    }
    Ok(delivery)
}

/// Pushes one claimed notice and settles its row. Returns whether it was delivered.
pub async fn deliver(
    db: &PgPool,
    pusher: &EdgePusher,
    entry: &OutboxEntry,
    now: i64,
) -> Result<bool, sqlx::Error> {
    // A `Value` always serialises (its keys are strings).
    let body = serde_json::to_vec(&entry.notice.payload).unwrap_or_default();
    match pusher.push(entry.notice.kind, body, now).await {
        Ok(()) => {
            // Delivered is delivered, even if the claim lapsed meanwhile.
            sqlx::query("DELETE FROM revocation_outbox WHERE id = $1")
                .bind(entry.id)
                .execute(db)
                .await?;
            Ok(true)
        }
        Err(e) => {
            let message: String = e.to_string().chars().take(MAX_ERROR_CHARS).collect();
            tracing::warn!(
                tenant.id = %entry.notice.tenant_id,
                outbox.id = entry.id,
                outbox.kind = entry.notice.kind.as_str(),
                error.cause = %message,
                "edge push failed; left in the outbox"
            );
            // Only while the claim is still ours: after a lapse the row belongs to its new claimant.
            sqlx::query(
                "UPDATE revocation_outbox
                 SET attempts = attempts + 1, last_error = $3, claim = NULL, claimed_until = NULL
                 WHERE id = $1 AND claim = $2",
            )
            .bind(entry.id)
            .bind(entry.claim)
            .bind(message)
            .execute(db)
            .await?;
            Ok(false)
        }
    }
}

async fn release(db: &PgPool, entry: &OutboxEntry) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE revocation_outbox SET claim = NULL, claimed_until = NULL WHERE id = $1 AND claim = $2",
    )
    .bind(entry.id)
    .bind(entry.claim)
    .execute(db)
    .await?;
    Ok(())
}

/// What one retry pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryReport {
    pub delivered: usize,
    pub failed: usize,
    pub deferred: usize,
    /// Entries dropped undelivered because no token they protect against can pass validation anymore.
    pub expired: u64,
}

/// One pass over the outbox: drops moot entries, then claims batches of the rest, oldest first, and
/// pushes them, until the outbox is empty, a push fails or [`BATCHES_PER_PASS`] batches are done.
pub async fn retry_pending(db: &PgPool, pusher: &EdgePusher) -> anyhow::Result<RetryReport> {
    // Invariant (crate::revocation::notice_expiry): `expires_at` already covers the edge's largest
    // leeway and a clock-skew margin; past it no token the notice is about passes anywhere.
    let expired = sqlx::query("DELETE FROM revocation_outbox WHERE expires_at < $1")
        .bind(now_unix())
        .execute(db)
        .await
        .context("dropping moot outbox entries")?
        .rows_affected();
    if expired > 0 {
        tracing::warn!(
            outbox.expired = expired,
            "dropped notices the edge never acknowledged; they have lapsed"
        );
    }
    let mut report = RetryReport {
        expired,
        ..RetryReport::default()
    };
    for _ in 0..BATCHES_PER_PASS {
        let entries = claim_pending(db, Uuid::new_v4(), RETRY_BATCH)
            .await
            .context("claiming outbox entries")?;
        let claimed = entries.len();
        let delivery = deliver_all(db, pusher, entries)
            .await
            .context("settling outbox entries")?;
        report.delivered += delivery.delivered;
        report.failed += delivery.failed;
        report.deferred += delivery.deferred;
        if i64::try_from(claimed).unwrap_or(0) < RETRY_BATCH || delivery.delivered < claimed {
            break;
        }
    }
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
                    outbox.deferred = report.deferred,
                    "outbox retried"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error.cause = format!("{e:#}"), "outbox pass failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_revocations_go_beside_the_session_revocations() {
        assert_eq!(
            super::sibling("http://edge:8787/__auth/revocations", "key-revocations"),
            "http://edge:8787/__auth/key-revocations"
        );
        assert_eq!(
            super::sibling("http://edge:8787", "key-revocations"),
            "http://edge:8787/key-revocations"
        );
    }

    #[test]
    fn every_kind_survives_its_column() {
        use super::NoticeKind::*;
        for kind in [SessionRevoked, NotBefore, SessionSeen, KeyRevoked] {
            assert_eq!(super::NoticeKind::parse(kind.as_str()), Some(kind));
        }
    }
}
