//! Registered passkeys as stored: one row per credential, the library's `Passkey` kept as it
//! serialises it, and the flags the account page shows beside it.

use crate::error::{is_unique_violation, ApiError};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;
use webauthn_rs::prelude::{AuthenticationResult, Passkey, RegisterPublicKeyCredential};

/// Longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// The backup flags of a credential (WebAuthn §6.1 authenticator data, bits BE and BS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupFlags {
    /// Backup eligible: a synced (multi-device) passkey rather than a device-bound one.
    pub eligible: bool,
    /// Currently backed up.
    pub backed_up: bool,
}

const FLAG_BACKUP_ELIGIBLE: u8 = 0x08;
const FLAG_BACKED_UP: u8 = 0x10;
/// Offset of the flags byte in authenticator data: after the 32-byte RP id hash.
const FLAGS_OFFSET: usize = 32;

/// The backup flags a registration reported. The library does not expose them on a `Passkey`, so
/// they are read from the attestation object the library has just verified (a CBOR map whose
/// `authData` holds them); `None` when it cannot be read, which only a malformed response causes.
pub fn registration_flags(credential: &RegisterPublicKeyCredential) -> Option<BackupFlags> {
    let object: ciborium::Value =
        ciborium::from_reader(credential.response.attestation_object.as_slice()).ok()?;
    let auth_data = object.as_map()?.iter().find_map(|(k, v)| {
        (k.as_text() == Some("authData"))
            .then(|| v.as_bytes())
            .flatten()
    })?;
    let flags = *auth_data.get(FLAGS_OFFSET)?;
    Some(BackupFlags {
        eligible: flags & FLAG_BACKUP_ELIGIBLE != 0,
        backed_up: flags & FLAG_BACKED_UP != 0,
    })
}

/// A passkey's name as given: trimmed, 1 to 64 printable characters; 422 `passkey_name_invalid`.
pub fn parse_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::FieldInvalid(
            "passkey_name_invalid",
            "a passkey name must be 1 to 64 printable characters",
        ));
    }
    Ok(name.to_owned())
}

fn decode(value: serde_json::Value) -> Result<Passkey, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("reading a stored passkey")))
}

fn encode(passkey: &Passkey) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(passkey)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("serialising a passkey")))
}

/// Every passkey of a user.
pub async fn of_user(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<Passkey>, ApiError> {
    let rows: Vec<(serde_json::Value,)> = sqlx::query_as(
        "SELECT credential FROM passkeys WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(|(v,)| decode(v)).collect()
}

/// A registered passkey found by credential id, locked for the update that follows a sign-in.
#[derive(Debug)]
pub struct Found {
    pub id: Uuid,
    pub user_id: Uuid,
    pub passkey: Passkey,
}

pub async fn find_for_update(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    credential_id: &[u8],
) -> Result<Option<Found>, ApiError> {
    let row: Option<(Uuid, Uuid, serde_json::Value)> = sqlx::query_as(
        "SELECT id, user_id, credential FROM passkeys
         WHERE tenant_id = $1 AND credential_id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(credential_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|(id, user_id, credential)| {
        Ok(Found {
            id,
            user_id,
            passkey: decode(credential)?,
        })
    })
    .transpose()
}

/// Stores a newly registered passkey; 409 `passkey_exists` when its credential id is registered
/// already (the constraint decides, so two concurrent registrations cannot both win).
pub async fn insert(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
    name: &str,
    passkey: &Passkey,
    flags: BackupFlags,
) -> Result<Uuid, ApiError> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO passkeys (id, tenant_id, user_id, credential_id, name, credential, backup_eligible, backed_up)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(user_id)
    .bind(passkey.cred_id().as_slice())
    .bind(name)
    .bind(encode(passkey)?)
    .bind(flags.eligible)
    .bind(flags.backed_up)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "passkeys_credential_id_key") {
            ApiError::PasskeyExists
        } else {
            e.into()
        }
    })?;
    crate::audit::record(
        conn,
        crate::audit::Event::new(
            tenant_id,
            crate::audit::Actor::User(user_id),
            crate::audit::EventType::PasskeyAdded,
        )
        .subject(id),
    )
    .await?;
    Ok(id)
}

/// After a sign-in: applies the result to the credential (`update_credential`: counter, backup
/// state) and stores it with the flags and the time of use.
pub async fn record_use(
    conn: &mut PgConnection,
    found: Found,
    result: &AuthenticationResult,
    now: OffsetDateTime,
) -> Result<(), ApiError> {
    let mut passkey = found.passkey;
    if passkey.update_credential(result).is_none() {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "the authentication result names another credential"
        )));
    }
    sqlx::query(
        "UPDATE passkeys SET credential = $2, backup_eligible = $3, backed_up = $4, last_used_at = $5
         WHERE id = $1",
    )
    .bind(found.id)
    .bind(encode(&passkey)?)
    .bind(result.backup_eligible())
    .bind(result.backup_state())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
