//! Brute-force protection: progressive delays per account and per client address, kept in Postgres
//! so that every origin instance applies the same count.
//!
//! A handler reserves an attempt for each of its keys *before* any password hash or token lookup
//! runs ([`reserve`]); the reservation counts as a failure unless the handler settles it otherwise
//! ([`Reservation::succeeded`], [`Reservation::release`]). The keys of one attempt are locked in one
//! short transaction, in a fixed order, so concurrent attempts serialise on them and never deadlock.
//! The rule itself is pure: [`policy`]. A refusal's answer is held for a moment: [`tarpit`].
//!
//! Accounts are keyed by tenant and normalised e-mail whether or not the account exists, and a
//! blocked attempt answers the same for both, so the limit reveals nothing about existence.

pub mod policy;
pub mod tarpit;

use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::tenants::{Tenant, ThrottleSettings};
use policy::{Decision, Policy, Record};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Client addresses: locked first.
    Ip,
    /// Accounts (tenant + normalised e-mail).
    Account,
}

impl Scope {
    /// The stored scope, and the policy name in the RateLimit fields.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ip => "ip",
            Scope::Account => "account",
        }
    }

    fn policy(self, settings: &ThrottleSettings) -> Policy {
        let allowed_failures = match self {
            Scope::Ip => settings.ip_failures,
            Scope::Account => settings.account_failures,
        };
        Policy {
            allowed_failures: u32::try_from(allowed_failures).unwrap_or(1),
            window_secs: i64::from(settings.window_secs),
            max_delay_secs: i64::from(settings.max_delay_secs),
        }
    }
}

/// One counted thing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    scope: Scope,
    value: String,
}

impl Key {
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The account an e-mail names, existing or not: trimmed and lowercased, and stored only as its
    /// SHA-256 so the table does not collect the addresses attackers try.
    pub fn account(email: &str) -> Key {
        let normalised = email.trim().to_lowercase();
        Key {
            scope: Scope::Account,
            value: hex::encode(Sha256::digest(normalised.as_bytes())),
        }
    }

    /// The stored value: the address, or the account's SHA-256 (hex), which the audit trail also
    /// records for a failure so that the two can be matched without the address in clear.
    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn ip(client: ClientIp) -> Key {
        Key {
            scope: Scope::Ip,
            value: client.key(),
        }
    }
}

/// A refused attempt: which limit, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub scope: Scope,
    pub allowed_failures: u32,
    pub window_secs: i64,
    pub retry_after_secs: i64,
}

impl Throttled {
    /// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers-11, a Structured Fields list).
    pub fn policy_field(&self) -> String {
        format!(
            "\"{}\";q={};w={}",
            self.scope.as_str(),
            self.allowed_failures,
            self.window_secs
        )
    }

    /// `RateLimit`: nothing remains until the delay has passed.
    pub fn limit_field(&self) -> String {
        format!(
            "\"{}\";r=0;t={}",
            self.scope.as_str(),
            self.retry_after_secs
        )
    }
}

/// Attempts reserved for one request; dropping it leaves them counted as failures.
#[derive(Debug)]
#[must_use = "settle the reservation, or its attempts stay counted as failures"]
pub struct Reservation {
    tenant_id: Uuid,
    keys: Vec<Key>,
    /// Keys this attempt uses the last free failure of: if it fails, they must wait.
    exhausted: Vec<Key>,
}

/// Reserves one attempt on every key, or refuses with the first limit in force. Nothing is counted
/// when the attempt is refused.
pub async fn reserve(
    db: &PgPool,
    tenant: &Tenant,
    mut keys: Vec<Key>,
) -> Result<Reservation, ApiError> {
    keys.sort();
    keys.dedup();
    // Fast path, one query without locks or writes: during a flood nearly every attempt is refused
    // here. Refusing on what this read shows is sound (the keys were blocked at that instant); an
    // attempt it lets through is decided again below, under the rows' locks.
    if let Some(throttled) = blocked_now(db, tenant, &keys).await? {
        return Err(ApiError::TooManyAttempts(throttled));
    }
    let mut tx = db.begin().await?;
    let mut exhausted = Vec::new();
    for key in &keys {
        // The no-op update locks the row (created if absent) and returns it with the database's
        // clock, which every instance shares: the clock read once the lock is held, not `now()`
        // (the transaction's start, which can precede the failure the lock holder just wrote).
        let (failures, last_failure_at, now): (i32, i64, i64) = sqlx::query_as(
            "INSERT INTO attempt_throttles (tenant_id, scope, key) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, scope, key) DO UPDATE SET failures = attempt_throttles.failures
             RETURNING failures, floor(extract(epoch FROM last_failure_at))::bigint,
                       floor(extract(epoch FROM clock_timestamp()))::bigint",
        )
        .bind(tenant.id)
        .bind(key.scope.as_str())
        .bind(&key.value)
        .fetch_one(&mut *tx)
        .await?;
        let policy = key.scope.policy(&tenant.throttle);
        let record = Record {
            failures: u32::try_from(failures).unwrap_or(0),
            last_failure_at,
        };
        match policy.decide(Some(record), now) {
            Decision::Blocked { retry_after_secs } => {
                tx.rollback().await?;
                return Err(ApiError::TooManyAttempts(Throttled {
                    scope: key.scope,
                    allowed_failures: policy.allowed_failures,
                    window_secs: policy.window_secs,
                    retry_after_secs,
                }));
            }
            Decision::Reserved { record, remaining } => {
                if remaining == 0 {
                    exhausted.push(key.clone());
                }
                sqlx::query(
                    "UPDATE attempt_throttles SET failures = $4, last_failure_at = now()
                     WHERE tenant_id = $1 AND scope = $2 AND key = $3",
                )
                .bind(tenant.id)
                .bind(key.scope.as_str())
                .bind(&key.value)
                .bind(i32::try_from(record.failures).unwrap_or(i32::MAX))
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    tx.commit().await?;
    Ok(Reservation {
        tenant_id: tenant.id,
        keys,
        exhausted,
    })
}

/// Refuses when one of `keys` must wait now, counting nothing: for the start of a ceremony, whose
/// finish is where an attempt is reserved.
pub async fn check(db: &PgPool, tenant: &Tenant, mut keys: Vec<Key>) -> Result<(), ApiError> {
    keys.sort();
    keys.dedup();
    match blocked_now(db, tenant, &keys).await? {
        Some(throttled) => Err(ApiError::TooManyAttempts(throttled)),
        None => Ok(()),
    }
}

/// The first of `keys` (in lock order) that must wait at the database's `now`, if any.
async fn blocked_now(
    db: &PgPool,
    tenant: &Tenant,
    keys: &[Key],
) -> Result<Option<Throttled>, sqlx::Error> {
    let scopes: Vec<&str> = keys.iter().map(|k| k.scope.as_str()).collect();
    let values: Vec<&str> = keys.iter().map(|k| k.value.as_str()).collect();
    let rows: Vec<(String, String, i32, i64, i64)> = sqlx::query_as(
        "SELECT a.scope, a.key, a.failures, floor(extract(epoch FROM a.last_failure_at))::bigint,
                floor(extract(epoch FROM clock_timestamp()))::bigint
         FROM attempt_throttles a
         JOIN unnest($2::text[], $3::text[]) AS k (scope, key) ON k.scope = a.scope AND k.key = a.key
         WHERE a.tenant_id = $1",
    )
    .bind(tenant.id)
    .bind(&scopes)
    .bind(&values)
    .fetch_all(db)
    .await?;
    for key in keys {
        let Some((_, _, failures, last_failure_at, now)) = rows
            .iter()
            .find(|(scope, value, ..)| scope == key.scope.as_str() && value == &key.value)
        else {
            continue;
        };
        let policy = key.scope.policy(&tenant.throttle);
        let record = Record {
            failures: u32::try_from(*failures).unwrap_or(0),
            last_failure_at: *last_failure_at,
        };
        if let Decision::Blocked { retry_after_secs } = policy.decide(Some(record), *now) {
            return Ok(Some(Throttled {
                scope: key.scope,
                allowed_failures: policy.allowed_failures,
                window_secs: policy.window_secs,
                retry_after_secs,
            }));
        }
    }
    Ok(None)
}

impl Reservation {
    /// The keys a failure of this attempt puts under a delay (a lockout starts or grows).
    pub fn exhausted(&self) -> &[Key] {
        &self.exhausted
    }

    /// The attempt succeeded: the account's count is reset; a client address gets its attempt back
    /// (a shared address where someone signs in keeps counting the others' failures).
    pub async fn succeeded(self, db: &PgPool) -> Result<(), sqlx::Error> {
        let of = |scope: Scope| -> Vec<&str> {
            self.keys
                .iter()
                .filter(|k| k.scope == scope)
                .map(|k| k.value.as_str())
                .collect()
        };
        // One statement: this runs on every successful sign-in.
        sqlx::query(
            "WITH reset AS (
                 DELETE FROM attempt_throttles
                 WHERE tenant_id = $1 AND scope = 'account' AND key = ANY($2))
             UPDATE attempt_throttles SET failures = greatest(failures - 1, 0)
             WHERE tenant_id = $1 AND scope = 'ip' AND key = ANY($3)",
        )
        .bind(self.tenant_id)
        .bind(of(Scope::Account))
        .bind(of(Scope::Ip))
        .execute(db)
        .await?;
        Ok(())
    }

    /// The attempt never ran (e.g. no hashing capacity): every key gets its attempt back.
    pub async fn release(self, db: &PgPool) -> Result<(), sqlx::Error> {
        for key in &self.keys {
            refund(db, self.tenant_id, key).await?;
        }
        Ok(())
    }
}

async fn refund(db: &PgPool, tenant_id: Uuid, key: &Key) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE attempt_throttles SET failures = greatest(failures - 1, 0)
         WHERE tenant_id = $1 AND scope = $2 AND key = $3",
    )
    .bind(tenant_id)
    .bind(key.scope.as_str())
    .bind(&key.value)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes counts that no longer matter: past their tenant's longest delay plus its window (by the
/// rule in [`policy`], such a count is forgotten anyway). Returns how many were deleted.
pub async fn purge_forgotten(db: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "DELETE FROM attempt_throttles a USING tenants t
         WHERE t.id = a.tenant_id
           AND a.last_failure_at < now() - make_interval(secs => t.throttle_window_secs + t.throttle_max_delay_secs)",
    )
    .execute(db)
    .await?
    .rows_affected())
}
