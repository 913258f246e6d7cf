//! Ceremonies in flight, kept in Postgres so a ceremony started on one origin instance finishes on
//! another.
//!
//! The client gets an opaque random id; only its SHA-256 is stored. [`take`] deletes the row as it
//! reads it, so a ceremony is finished at most once whatever the outcome, and a replayed finish
//! finds nothing. The library's state is serialised as it gives it (feature
//! `danger-allow-state-serialisation`): it never leaves the server.

use crate::error::ApiError;
use auth_core::encoding::b64url_encode;
use rand::rngs::OsRng;
use rand::RngCore as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// How long a ceremony may take, start to finish: the timeout the browser is given too. Invariant:
/// a row past it is refused (`ceremony_expired`) and purged.
pub const CEREMONY_TTL: std::time::Duration = std::time::Duration::from_secs(300);
const CEREMONY_ID_BYTES: usize = 32;

/// What a ceremony is for; a finish must name the kind its start had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A signed-in user adds a passkey.
    Registration,
    /// A new account is created with a passkey and an e-mail.
    SignUp,
    /// Sign-in by e-mail: the user's passkeys are allowed.
    Authentication,
    /// Username-less sign-in (autofill): any discoverable passkey of the tenant.
    Discoverable,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Registration => "registration",
            Kind::SignUp => "sign_up",
            Kind::Authentication => "authentication",
            Kind::Discoverable => "discoverable",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [
            Kind::Registration,
            Kind::SignUp,
            Kind::Authentication,
            Kind::Discoverable,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A ceremony as started: who it is for, and the library's state.
#[derive(Debug)]
pub struct Ceremony<S> {
    pub user_id: Option<Uuid>,
    pub email: Option<String>,
    pub state: S,
}

/// A ceremony as taken back: its kind, and its state still to be read as the kind's type.
#[derive(Debug)]
pub struct Taken {
    pub kind: Kind,
    pub ceremony: Ceremony<serde_json::Value>,
}

impl Taken {
    /// The library's state, as the type the ceremony's kind stored.
    pub fn state<S: DeserializeOwned>(&self) -> Result<S, ApiError> {
        serde_json::from_value(self.ceremony.state.clone()).map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("reading stored ceremony state"))
        })
    }
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// Stores a ceremony and returns the id the client finishes it with.
pub async fn store<S: Serialize>(
    db: &PgPool,
    tenant_id: Uuid,
    kind: Kind,
    ceremony: &Ceremony<S>,
) -> Result<String, ApiError> {
    let mut bytes = [0u8; CEREMONY_ID_BYTES];
    OsRng.fill_bytes(&mut bytes);
    let id = b64url_encode(&bytes);
    let state = serde_json::to_value(&ceremony.state)
        .map_err(|e| anyhow::Error::new(e).context("serialising ceremony state"))?;
    sqlx::query(
        "INSERT INTO passkey_ceremonies (id_hash, tenant_id, kind, user_id, email, state, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
    )
    .bind(hash(&id).as_slice())
    .bind(tenant_id)
    .bind(kind.as_str())
    .bind(ceremony.user_id)
    .bind(&ceremony.email)
    .bind(state)
    .bind(CEREMONY_TTL.as_secs_f64())
    .execute(db)
    .await?;
    Ok(id)
}

/// Takes (deletes and returns) the ceremony `id` if it is of one of `kinds`: 400 `ceremony_invalid`
/// when there is none (unknown, used, another tenant's or another kind's), 400 `ceremony_expired`
/// past its TTL.
pub async fn take(
    db: &PgPool,
    tenant_id: Uuid,
    kinds: &[Kind],
    id: &str,
) -> Result<Taken, ApiError> {
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    type Row = (
        String,
        Option<Uuid>,
        Option<String>,
        serde_json::Value,
        bool,
    );
    let row: Option<Row> = sqlx::query_as(
        "DELETE FROM passkey_ceremonies
         WHERE id_hash = $1 AND tenant_id = $2 AND kind = ANY($3)
         RETURNING kind, user_id, email, state, expires_at <= now()",
    )
    .bind(hash(id).as_slice())
    .bind(tenant_id)
    .bind(&kinds)
    .fetch_optional(db)
    .await?;
    let Some((kind, user_id, email, state, expired)) = row else {
        return Err(ApiError::CeremonyInvalid);
    };
    if expired {
        return Err(ApiError::CeremonyExpired);
    }
    let kind = Kind::parse(&kind)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("unknown ceremony kind {kind}")))?;
    Ok(Taken {
        kind,
        ceremony: Ceremony {
            user_id,
            email,
            state,
        },
    })
}

/// Deletes ceremonies past their TTL (spawned maintenance). Returns how many.
pub async fn purge_expired(db: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM passkey_ceremonies WHERE expires_at < now()")
            .execute(db)
            .await?
            .rows_affected(),
    )
}
