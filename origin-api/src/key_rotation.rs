//! How tenant signing keys rotate: scheduled rotation, rotate-now, and emergency revocation.
//!
//! A key's life is `next → current → retired → gone`, with `revoked` reachable from each:
//!
//! - A tenant always has one `next` key, published in the JWKS from the moment it is made and due to
//!   sign from `signs_from` (one rotation period after the key it follows started signing, and never
//!   less than the JWKS max-age after it was made). So an edge that caches the JWKS for its max-age
//!   already holds a key before it signs anything.
//! - At `signs_from` it is promoted: the old `current` becomes `retired`, and stays published until
//!   every token it signed has expired (the longest token TTL plus the edge's largest leeway and a
//!   clock-skew margin) plus the JWKS max-age; then it is `gone` (no longer published, private half
//!   wiped). A fresh `next` is made in the same transaction.
//! - Emergency revocation withdraws a key from the JWKS at once and wipes its private half; if it was
//!   `current`, the `next` key signs at once (or, when there is none, a fresh key does).
//! - A `kid` is random and never reused (the schema records every kid ever issued).
//!
//! The decisions are [`plan`], a pure function of the tenant's keys and `now`; the database side
//! applies a plan inside one transaction that holds the tenant's row lock, re-reading the keys after
//! the lock is taken. Several origin instances may run the schedule at once: the one that gets the
//! lock applies the plan, the others skip the tenant (or, for rotate-now, wait and then find nothing
//! left to do).

use crate::audit::{self, Actor, Event, EventType};
use crate::config::MAX_ACCESS_TOKEN_TTL_SECS;
use crate::keys::{self, KeyEncryptionKey, KeyStatus, SigningAlgorithm};
use crate::revocation::CLOCK_SKEW_MARGIN_SECS;
use anyhow::Context as _;
use auth_core::claims::MAX_LEEWAY_SECS;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use std::time::Duration;
use time::OffsetDateTime;
use uuid::Uuid;

/// How often each origin instance looks for tenants whose keys are due for a step. A due promotion
/// happens at most this late; the old key keeps signing meanwhile, which is harmless.
pub const SCHEDULE_INTERVAL: Duration = Duration::from_secs(10);

/// The rotation settings (`ORIGIN_KEY_ROTATION_PERIOD_SECS`, `ORIGIN_JWKS_MAX_AGE_SECS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a key signs before the next one takes over.
    pub period_secs: i64,
    /// The `max-age` the JWKS is served with. Invariant: a `next` key is published at least this long
    /// before it signs (the period is configured no shorter).
    pub jwks_max_age_secs: i64,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        RotationPolicy {
            period_secs: 30 * 24 * 3600,
            jwks_max_age_secs: 300,
        }
    }
}

impl RotationPolicy {
    /// How long a retired key stays published after its last signature: every token it signed has
    /// expired where any edge checks it (the longest TTL the origin signs, the largest leeway an edge
    /// issuer may have, a clock-skew margin), and every cache of a JWKS that held it has refreshed.
    pub fn retired_publication_secs(&self) -> i64 {
        MAX_ACCESS_TOKEN_TTL_SECS as i64
            + MAX_LEEWAY_SECS as i64
            + CLOCK_SKEW_MARGIN_SECS
            + self.jwks_max_age_secs
    }
}

/// A key as the planner sees it (times in Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyState {
    pub id: Uuid,
    pub status: KeyStatus,
    pub created_at: i64,
    pub signs_from: Option<i64>,
    pub published_until: Option<i64>,
}

/// One change to a tenant's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `next` becomes current; the old current (if any) retires, published until `published_until`.
    Promote {
        next: Uuid,
        retire: Option<Uuid>,
        published_until: i64,
    },
    /// A new key: `current` at once (a tenant with nothing to sign with), or `next` due at `signs_from`.
    Create { status: KeyStatus, signs_from: i64 },
    /// A retired key whose publication ended: no longer published, private half wiped.
    Forget { id: Uuid },
}

/// What must change about a tenant's keys at `now`. Applying the steps and planning again yields
/// nothing: the plan is idempotent.
pub fn plan(keys: &[KeyState], now: i64, policy: &RotationPolicy) -> Vec<Step> {
    let mut steps: Vec<Step> = keys
        .iter()
        .filter(|k| k.status == KeyStatus::Retired && k.published_until.is_some_and(|u| u <= now))
        .map(|k| Step::Forget { id: k.id })
        .collect();
    let current = keys.iter().find(|k| k.status == KeyStatus::Current);
    let next = keys.iter().find(|k| k.status == KeyStatus::Next);
    let mut current_since = current.and_then(|c| c.signs_from).unwrap_or(now);
    let mut next_remains = next.is_some();
    match (current, next) {
        // Due, or nothing else can sign: the next key takes over.
        (_, Some(n)) if current.is_none() || n.signs_from.is_none_or(|s| s <= now) => {
            steps.push(Step::Promote {
                next: n.id,
                retire: current.map(|c| c.id),
                published_until: now + policy.retired_publication_secs(),
            });
            current_since = now;
            next_remains = false;
        }
        (None, None) => {
            steps.push(Step::Create {
                status: KeyStatus::Current,
                signs_from: now,
            });
            current_since = now;
        }
        _ => {}
    }
    if !next_remains {
        steps.push(Step::Create {
            status: KeyStatus::Next,
            signs_from: (current_since + policy.period_secs).max(now + policy.jwks_max_age_secs),
        });
    }
    steps
}

/// The earliest a `next` key made at `created_at` may sign when asked to rotate now.
pub fn earliest_takeover(created_at: i64, now: i64, policy: &RotationPolicy) -> i64 {
    (created_at + policy.jwks_max_age_secs).max(now)
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn at(secs: i64) -> anyhow::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).context("instant out of range")
}

fn rfc3339(secs: i64) -> anyhow::Result<String> {
    at(secs)?
        .format(&time::format_description::well_known::Rfc3339)
        .context("formatting an instant")
}

/// Takes the tenant's row lock for this transaction and returns the algorithm its new keys use, or
/// `None` if the tenant does not exist (or, with `skip_locked`, another instance holds the lock).
///
/// `FOR NO KEY UPDATE` serialises key changes of one tenant without blocking sign-ins (they take a
/// key-share lock on the tenant).
async fn lock_tenant(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    skip_locked: bool,
) -> anyhow::Result<Option<SigningAlgorithm>> {
    let sql = if skip_locked {
        "SELECT signing_alg FROM tenants WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED"
    } else {
        "SELECT signing_alg FROM tenants WHERE id = $1 FOR NO KEY UPDATE"
    };
    let row: Option<(String,)> = sqlx::query_as(sql)
        .bind(tenant_id)
        .fetch_optional(&mut *conn)
        .await
        .context("locking the tenant")?;
    row.map(|(alg,)| SigningAlgorithm::parse(&alg).context("unknown signing algorithm"))
        .transpose()
}

/// A `signing_keys` row as the planner reads it.
#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    status: String,
    created_at: OffsetDateTime,
    signs_from: Option<OffsetDateTime>,
    published_until: Option<OffsetDateTime>,
}

/// The tenant's keys that still take part in rotation (not gone, not revoked).
async fn live_keys(conn: &mut PgConnection, tenant_id: Uuid) -> anyhow::Result<Vec<KeyState>> {
    let rows: Vec<KeyRow> = sqlx::query_as(
        "SELECT id, status, created_at, signs_from, published_until FROM signing_keys
         WHERE tenant_id = $1 AND status IN ('next', 'current', 'retired')",
    )
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await
    .context("loading signing keys")?;
    rows.into_iter()
        .map(|row| {
            Ok(KeyState {
                id: row.id,
                status: KeyStatus::parse(&row.status).context("unknown key status")?,
                created_at: unix(row.created_at),
                signs_from: row.signs_from.map(unix),
                published_until: row.published_until.map(unix),
            })
        })
        .collect()
}

/// A step as applied, with the kids it concerned (what the audit trail names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub step: Step,
    /// The key promoted, created or unpublished.
    pub kid: Option<String>,
    /// For a promotion, the key it retired.
    pub retired_kid: Option<String>,
}

/// Applies `steps` to the tenant's keys (in the caller's transaction, holding the tenant's lock).
async fn apply(
    conn: &mut PgConnection,
    kek: &KeyEncryptionKey,
    tenant_id: Uuid,
    alg: SigningAlgorithm,
    steps: &[Step],
    now: OffsetDateTime,
) -> anyhow::Result<Vec<Applied>> {
    let mut applied = Vec::with_capacity(steps.len());
    for step in steps {
        let mut done = Applied {
            step: step.clone(),
            kid: None,
            retired_kid: None,
        };
        match step {
            Step::Forget { id } => {
                done.kid = sqlx::query_scalar(
                    "UPDATE signing_keys SET status = 'gone', private_key_ciphertext = NULL, nonce = NULL
                     WHERE id = $1 AND status = 'retired' RETURNING kid",
                )
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            }
            Step::Promote {
                next,
                retire,
                published_until,
            } => {
                // Retire first: one current per tenant is a unique index.
                if let Some(old) = retire {
                    done.retired_kid = sqlx::query_scalar(
                        "UPDATE signing_keys SET status = 'retired', retired_at = $2, published_until = $3
                         WHERE id = $1 AND status = 'current' RETURNING kid",
                    )
                    .bind(old)
                    .bind(now)
                    .bind(at(*published_until)?)
                    .fetch_optional(&mut *conn)
                    .await?;
                }
                done.kid = sqlx::query_scalar(
                    "UPDATE signing_keys SET status = 'current', signs_from = $2
                     WHERE id = $1 AND status = 'next' RETURNING kid",
                )
                .bind(next)
                .bind(now)
                .fetch_optional(&mut *conn)
                .await?;
            }
            Step::Create { status, signs_from } => {
                let key = keys::generate(kek, tenant_id, alg).map_err(anyhow::Error::new)?;
                keys::insert(&mut *conn, tenant_id, &key, *status, at(*signs_from)?).await?;
                done.kid = Some(key.kid);
            }
        }
        applied.push(done);
    }
    Ok(applied)
}

/// Records each applied step in the audit trail, in the transaction that applied it: who caused it
/// (the system's schedule, or the admin who rotated or revoked) and why.
async fn record_steps(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    actor: Actor,
    applied: &[Applied],
    cause: &'static str,
) -> anyhow::Result<()> {
    for done in applied {
        let event = match &done.step {
            Step::Promote { .. } => Event::new(tenant_id, actor, EventType::SigningKeyPromoted)
                .detail("retired", done.retired_kid.clone()),
            Step::Create { status, signs_from } => {
                Event::new(tenant_id, actor, EventType::SigningKeyCreated)
                    .detail("status", status.as_str())
                    .detail("signs_from", rfc3339(*signs_from)?)
            }
            Step::Forget { .. } => Event::new(tenant_id, actor, EventType::SigningKeyUnpublished),
        };
        let event = match &done.kid {
            Some(kid) => event.subject(kid),
            None => event,
        };
        audit::record(conn, event.detail("cause", cause))
            .await
            .context("recording a key rotation step")?;
    }
    Ok(())
}

/// Plans and applies what is due for the tenant at `now`, in the caller's transaction once the
/// tenant's lock is held.
async fn settle_locked(
    conn: &mut PgConnection,
    kek: &KeyEncryptionKey,
    tenant_id: Uuid,
    alg: SigningAlgorithm,
    policy: &RotationPolicy,
    now: OffsetDateTime,
) -> anyhow::Result<Vec<Applied>> {
    let keys = live_keys(conn, tenant_id).await?;
    let steps = plan(&keys, unix(now), policy);
    apply(conn, kek, tenant_id, alg, &steps, now).await
}

/// Gives a new tenant its first keys: a current one and its published successor. Call in the
/// transaction that creates the tenant.
pub async fn first_keys(
    conn: &mut PgConnection,
    kek: &KeyEncryptionKey,
    tenant_id: Uuid,
    alg: SigningAlgorithm,
    policy: &RotationPolicy,
    now: OffsetDateTime,
) -> anyhow::Result<()> {
    // Not audited step by step: the tenant's creation is the event.
    let steps = plan(&[], unix(now), policy);
    apply(conn, kek, tenant_id, alg, &steps, now).await?;
    Ok(())
}

/// One scheduled pass: every tenant with a step due at `now` gets it, each in its own transaction,
/// audited as the `system`'s. Tenants another instance is settling right now are skipped (it does
/// the same work). Returns the number of tenants changed.
pub async fn settle_due(
    db: &PgPool,
    kek: &KeyEncryptionKey,
    policy: &RotationPolicy,
    now: OffsetDateTime,
) -> anyhow::Result<usize> {
    let due: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT t.id FROM tenants t
         WHERE NOT EXISTS (SELECT 1 FROM signing_keys k WHERE k.tenant_id = t.id AND k.status = 'current')
            OR NOT EXISTS (SELECT 1 FROM signing_keys k WHERE k.tenant_id = t.id AND k.status = 'next')
            OR EXISTS (SELECT 1 FROM signing_keys k WHERE k.tenant_id = t.id
                       AND ((k.status = 'next' AND k.signs_from <= $1)
                            OR (k.status = 'retired' AND k.published_until <= $1)))",
    )
    .bind(now)
    .fetch_all(db)
    .await
    .context("finding tenants due for key rotation")?;
    let mut changed = 0;
    for (tenant_id,) in due {
        let mut tx = db.begin().await?;
        let Some(alg) = lock_tenant(&mut tx, tenant_id, true).await? else {
            continue;
        };
        let steps = settle_locked(&mut tx, kek, tenant_id, alg, policy, now).await?;
        record_steps(&mut tx, tenant_id, Actor::System, &steps, "scheduled").await?;
        tx.commit().await?;
        if !steps.is_empty() {
            changed += 1;
            log_steps(tenant_id, &steps, "scheduled");
        }
    }
    Ok(changed)
}

fn log_steps(tenant_id: Uuid, steps: &[Applied], why: &str) {
    for Applied { step, .. } in steps {
        match step {
            Step::Promote { .. } => {
                tracing::info!(tenant.id = %tenant_id, rotation.cause = why, "signing key promoted")
            }
            Step::Create { status, .. } => {
                tracing::info!(tenant.id = %tenant_id, rotation.cause = why, key.status = status.as_str(), "signing key created")
            }
            Step::Forget { .. } => {
                tracing::info!(tenant.id = %tenant_id, rotation.cause = why, "retired signing key unpublished")
            }
        }
    }
}

/// Runs [`settle_due`] every `every`, forever (spawned by `serve`).
pub async fn run_schedule(
    db: PgPool,
    kek: KeyEncryptionKey,
    policy: RotationPolicy,
    every: Duration,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(e) = settle_due(&db, &kek, &policy, OffsetDateTime::now_utc()).await {
            tracing::warn!(error.cause = format!("{e:#}"), "key rotation pass failed");
        }
    }
}

/// What rotate-now did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The next key signs from now.
    Rotated,
    /// The next key has not been published for the JWKS max-age yet; it takes over at this instant
    /// (Unix s), by the schedule.
    Scheduled { signs_from: i64 },
}

/// Rotates the tenant's keys now: the `next` key takes over at once if it has been published for
/// the JWKS max-age, else as soon as it has. `None` if the tenant does not exist. The request and
/// every step it caused are audited as `actor`'s, in the same transaction.
pub async fn rotate_now(
    db: &PgPool,
    kek: &KeyEncryptionKey,
    tenant_id: Uuid,
    policy: &RotationPolicy,
    now: OffsetDateTime,
    actor: Actor,
) -> anyhow::Result<Option<RotateOutcome>> {
    let mut tx = db.begin().await?;
    let Some(alg) = lock_tenant(&mut tx, tenant_id, false).await? else {
        return Ok(None);
    };
    // First whatever is due anyway (a missing next key, say), then bring the next key forward.
    let mut steps = settle_locked(&mut tx, kek, tenant_id, alg, policy, now).await?;
    let promoted = |steps: &[Applied]| steps.iter().any(|s| matches!(s.step, Step::Promote { .. }));
    let outcome = if promoted(&steps) {
        RotateOutcome::Rotated
    } else {
        let (id, created_at): (Uuid, OffsetDateTime) = sqlx::query_as(
            "SELECT id, created_at FROM signing_keys WHERE tenant_id = $1 AND status = 'next'",
        )
        .bind(tenant_id)
        .fetch_one(&mut *tx)
        .await
        .context("loading the next key")?;
        let takeover = earliest_takeover(unix(created_at), unix(now), policy);
        sqlx::query("UPDATE signing_keys SET signs_from = LEAST(signs_from, $2) WHERE id = $1")
            .bind(id)
            .bind(at(takeover)?)
            .execute(&mut *tx)
            .await?;
        let more = settle_locked(&mut tx, kek, tenant_id, alg, policy, now).await?;
        let rotated = promoted(&more);
        steps.extend(more);
        if rotated {
            RotateOutcome::Rotated
        } else {
            RotateOutcome::Scheduled {
                signs_from: takeover,
            }
        }
    };
    record_steps(&mut tx, tenant_id, actor, &steps, "rotate_now").await?;
    let requested = Event::new(tenant_id, actor, EventType::SigningKeysRotated);
    let requested = match outcome {
        RotateOutcome::Rotated => requested.detail("rotated", true),
        RotateOutcome::Scheduled { signs_from } => requested
            .detail("rotated", false)
            .detail("signs_from", rfc3339(signs_from)?),
    };
    audit::record(&mut tx, requested)
        .await
        .context("recording the rotation")?;
    tx.commit().await?;
    log_steps(tenant_id, &steps, "rotate_now");
    Ok(Some(outcome))
}

/// Why an emergency revocation was not done.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("no such key")]
    KeyNotFound,
    #[error("the key is already revoked")]
    AlreadyRevoked,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for RevokeError {
    fn from(e: sqlx::Error) -> Self {
        RevokeError::Internal(e.into())
    }
}

/// Emergency revocation of the tenant's key `kid`, in the caller's transaction: withdrawn from the
/// JWKS and its private half wiped; if it was signing, the next key signs from now (or a fresh key,
/// when there is no next), and a fresh next key is made. Any key may be revoked, retired and gone
/// ones too (an edge may still hold them in a stale set). The revocation and the steps it causes
/// are audited as `actor`'s.
pub async fn revoke_in_tx(
    conn: &mut PgConnection,
    kek: &KeyEncryptionKey,
    tenant_id: Uuid,
    kid: &str,
    policy: &RotationPolicy,
    now: OffsetDateTime,
    actor: Actor,
) -> Result<KeyStatus, RevokeError> {
    let alg = lock_tenant(conn, tenant_id, false)
        .await?
        .ok_or(RevokeError::KeyNotFound)?;
    let found: Option<(String,)> = sqlx::query_as(
        "SELECT status FROM signing_keys WHERE tenant_id = $1 AND kid = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(kid)
    .fetch_optional(&mut *conn)
    .await?;
    let status = found
        .and_then(|(s,)| KeyStatus::parse(&s))
        .ok_or(RevokeError::KeyNotFound)?;
    if status == KeyStatus::Revoked {
        return Err(RevokeError::AlreadyRevoked);
    }
    sqlx::query(
        "UPDATE signing_keys SET status = 'revoked', revoked_at = $3,
                private_key_ciphertext = NULL, nonce = NULL
         WHERE tenant_id = $1 AND kid = $2",
    )
    .bind(tenant_id)
    .bind(kid)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    audit::record(
        conn,
        Event::new(tenant_id, actor, EventType::SigningKeyRevoked)
            .subject(kid)
            .detail("was", status.as_str()),
    )
    .await?;
    let steps = settle_locked(conn, kek, tenant_id, alg, policy, now).await?;
    record_steps(conn, tenant_id, actor, &steps, "emergency_revocation").await?;
    log_steps(tenant_id, &steps, "emergency_revocation");
    Ok(status)
}

/// A key as the admin API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct KeyView {
    pub kid: String,
    /// `ES256` or `EdDSA`.
    pub alg: String,
    /// `next` (published, not signing yet), `current`, `retired` (still published) or `revoked`.
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub signs_from: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub retired_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub published_until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// Every key the tenant ever had, newest first.
pub async fn list(
    executor: impl sqlx::PgExecutor<'_>,
    tenant_id: Uuid,
) -> Result<Vec<KeyView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kid, alg, status, created_at, signs_from, retired_at, published_until, revoked_at
         FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at DESC, kid",
    )
    .bind(tenant_id)
    .fetch_all(executor)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RotationPolicy = RotationPolicy {
        period_secs: 1000,
        jwks_max_age_secs: 100,
    };

    fn key(status: KeyStatus, signs_from: Option<i64>, published_until: Option<i64>) -> KeyState {
        KeyState {
            id: Uuid::new_v4(),
            status,
            created_at: 0,
            signs_from,
            published_until,
        }
    }

    #[test]
    fn a_new_tenant_gets_a_current_key_and_a_next_one_due_a_period_later() {
        assert_eq!(
            plan(&[], 50, &POLICY),
            vec![
                Step::Create {
                    status: KeyStatus::Current,
                    signs_from: 50
                },
                Step::Create {
                    status: KeyStatus::Next,
                    signs_from: 1050
                },
            ]
        );
    }

    #[test]
    fn nothing_happens_before_the_next_key_is_due() {
        let keys = [
            key(KeyStatus::Current, Some(0), None),
            key(KeyStatus::Next, Some(1000), None),
        ];
        assert_eq!(plan(&keys, 999, &POLICY), vec![]);
    }

    #[test]
    fn a_due_next_key_takes_over_and_the_old_one_stays_published_past_every_token_it_signed() {
        let (current, next) = (
            key(KeyStatus::Current, Some(0), None),
            key(KeyStatus::Next, Some(1000), None),
        );
        let steps = plan(&[current.clone(), next.clone()], 1003, &POLICY);
        let published_until = 1003 + 3600 + 300 + 60 + 100;
        assert_eq!(
            steps,
            vec![
                Step::Promote {
                    next: next.id,
                    retire: Some(current.id),
                    published_until
                },
                Step::Create {
                    status: KeyStatus::Next,
                    signs_from: 2003
                },
            ]
        );
    }

    #[test]
    fn a_retired_key_goes_only_when_its_publication_ends() {
        let retired = key(KeyStatus::Retired, Some(0), Some(5000));
        let keys = [
            retired.clone(),
            key(KeyStatus::Current, Some(1000), None),
            key(KeyStatus::Next, Some(2000), None),
        ];
        assert_eq!(plan(&keys, 1999, &POLICY), vec![]);
        assert_eq!(
            plan(&keys[..], 5000, &POLICY)[0],
            Step::Forget { id: retired.id }
        );
    }

    #[test]
    fn without_a_current_key_the_next_one_signs_at_once_whatever_its_date() {
        let next = key(KeyStatus::Next, Some(10_000), None);
        let steps = plan(std::slice::from_ref(&next), 5, &POLICY);
        assert_eq!(
            steps[0],
            Step::Promote {
                next: next.id,
                retire: None,
                published_until: 5 + POLICY.retired_publication_secs()
            }
        );
        assert!(matches!(
            steps[1],
            Step::Create {
                status: KeyStatus::Next,
                ..
            }
        ));
    }

    #[test]
    fn a_next_key_is_never_due_sooner_than_the_jwks_max_age_after_it_is_made() {
        // A current key that has signed for longer than a period (the schedule was down).
        let keys = [key(KeyStatus::Current, Some(0), None)];
        assert_eq!(
            plan(&keys, 5000, &POLICY),
            vec![Step::Create {
                status: KeyStatus::Next,
                signs_from: 5100
            }]
        );
        assert_eq!(earliest_takeover(10, 20, &POLICY), 110);
        assert_eq!(earliest_takeover(10, 500, &POLICY), 500);
    }
}
