//! Admin API keys: what they look like, how they are made, and how a presented one is recognised.
//!
//! A key is `eak_live_` + 64 lowercase hex digits (256 random bits) + 8 hex digits of CRC-32 over
//! those: the prefix makes a leaked key recognisable to a person or a secret scanner, and the check
//! digits let a scanner (and [`parse`]) tell a real key from a look-alike without asking us.
//!
//! Only `HMAC-SHA-256(pepper, key)` is stored. A fast keyed hash is enough here, unlike for
//! passwords: a key has 256 bits of entropy, so no amount of hashing speed makes guessing one from
//! its hash feasible, and a slow hash (argon2) would only cost every admin call tens of milliseconds
//! of CPU. The pepper comes from the key-encryption key, so a copy of the database alone cannot even
//! test a candidate key. The hash is looked up through a unique index: the lookup's timing depends
//! on the HMAC output, which tells nothing about the key.

use crate::error::ApiError;
use hmac::Mac as _;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox, SecretString};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

/// What every admin API key starts with.
pub const PREFIX: &str = "eak_live_";
const SECRET_BYTES: usize = 32;
const SECRET_HEX: usize = SECRET_BYTES * 2;
const CHECK_HEX: usize = 8;
/// The length of every key.
pub const KEY_LEN: usize = PREFIX.len() + SECRET_HEX + CHECK_HEX;
/// Characters of a key kept to tell keys apart in a list (they are check digits, not secret ones).
pub const HINT_CHARS: usize = 4;

/// What a key may do on its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Every `GET` under the tenant.
    Read,
    /// Every change under the tenant but admin keys.
    Write,
    /// Create and revoke the tenant's admin keys.
    ManageKeys,
}

impl Permission {
    pub const ALL: [Permission; 3] = [Permission::Read, Permission::Write, Permission::ManageKeys];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::ManageKeys => "manage_keys",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The key under which key hashes are computed (derived from the key-encryption key).
pub struct Pepper(SecretBox<[u8; 32]>);

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper([REDACTED])")
    }
}

impl Pepper {
    pub fn new(bytes: [u8; 32]) -> Self {
        Pepper(SecretBox::new(Box::new(bytes)))
    }

    /// What is stored for `key`.
    pub fn digest(&self, key: &str) -> [u8; 32] {
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(self.0.expose_secret())
                .expect("HMAC takes a key of any length");
        mac.update(key.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// A freshly made key: its value is shown once and never stored.
pub struct NewKey {
    pub value: SecretString,
    pub hash: [u8; 32],
    pub hint: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("value", &"[REDACTED]")
            .field("hint", &self.hint)
            .finish()
    }
}

fn check_digits(secret_hex: &str) -> String {
    format!("{:08x}", crc32fast::hash(secret_hex.as_bytes()))
}

/// Makes a key.
pub fn generate(pepper: &Pepper) -> NewKey {
    let mut secret = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let secret_hex = hex::encode(secret);
    let check = check_digits(&secret_hex);
    let value = format!("{PREFIX}{secret_hex}{check}");
    NewKey {
        hash: pepper.digest(&value),
        hint: check[CHECK_HEX - HINT_CHARS..].to_owned(),
        value: SecretString::from(value),
    }
}

/// Whether `token` is meant as an admin key (whatever its validity): it has the prefix.
pub fn has_prefix(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// Whether `token` has the shape and check digits of a key we could have made.
pub fn is_well_formed(token: &str) -> bool {
    let Some(rest) = token.strip_prefix(PREFIX) else {
        return false;
    };
    if token.len() != KEY_LEN
        || !rest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return false;
    }
    let (secret_hex, check) = rest.split_at(SECRET_HEX);
    check_digits(secret_hex) == check
}

/// A key that authenticated, as the request carries it on.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub id: Uuid,
    pub permissions: Vec<Permission>,
}

/// How often at most a key's `last_used_at` is written: one write a minute per key, not one per call.
const LAST_USED_GRANULARITY_SECS: f64 = 60.0;

#[derive(sqlx::FromRow)]
struct Presented {
    id: Uuid,
    permissions: Vec<String>,
    revoked: bool,
    expired: bool,
    stale: bool,
}

/// The tenant's unrevoked, unexpired key `token`: 401 `unauthorized` (not one of this tenant's
/// keys), `admin_key_revoked` or `admin_key_expired`. Expiry is judged on the database's clock.
pub(crate) async fn authenticate(
    db: &PgPool,
    pepper: &Pepper,
    tenant_id: Uuid,
    token: &str,
) -> Result<Authenticated, ApiError> {
    let presented: Option<Presented> = sqlx::query_as(
        "SELECT id, permissions, revoked_at IS NOT NULL AS revoked,
                COALESCE(expires_at <= now(), false) AS expired,
                COALESCE(last_used_at < now() - make_interval(secs => $3), true) AS stale
         FROM admin_api_keys WHERE tenant_id = $1 AND secret_hash = $2",
    )
    .bind(tenant_id)
    .bind(pepper.digest(token).as_slice())
    .bind(LAST_USED_GRANULARITY_SECS)
    .fetch_optional(db)
    .await?;
    let presented = presented.ok_or(ApiError::Unauthorized)?;
    if presented.revoked {
        return Err(ApiError::AdminKeyRevoked);
    }
    if presented.expired {
        return Err(ApiError::AdminKeyExpired);
    }
    if presented.stale {
        sqlx::query("UPDATE admin_api_keys SET last_used_at = now() WHERE id = $1")
            .bind(presented.id)
            .execute(db)
            .await?;
    }
    let permissions = presented
        .permissions
        .iter()
        .map(|p| Permission::parse(p))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("stored permission is unknown")))?;
    Ok(Authenticated {
        id: presented.id,
        permissions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_key_is_prefixed_well_formed_and_hinted_by_its_last_characters() {
        let pepper = Pepper::new([7; 32]);
        let key = generate(&pepper);
        let value = key.value.expose_secret();
        assert!(value.starts_with("eak_live_"));
        assert_eq!(value.len(), KEY_LEN);
        assert!(is_well_formed(value));
        assert!(value.ends_with(&key.hint));
        assert_eq!(key.hash, pepper.digest(value));
        assert_ne!(generate(&pepper).hash, key.hash);
    }

    #[test]
    fn look_alikes_fail_the_check_digits() {
        let key = generate(&Pepper::new([1; 32]));
        let value = key.value.expose_secret();
        // One secret digit changed: the CRC no longer matches.
        let mut changed = value.to_owned().into_bytes();
        let i = PREFIX.len() + 3;
        changed[i] = if changed[i] == b'0' { b'1' } else { b'0' };
        let changed = String::from_utf8(changed).unwrap();
        assert!(!is_well_formed(&changed));
        assert!(!is_well_formed(&value.to_uppercase()));
        assert!(!is_well_formed(&value[..value.len() - 1]));
        assert!(!is_well_formed("eak_live_"));
        assert!(!is_well_formed(&value.replacen(
            "eak_live_",
            "eak_test_",
            1
        )));
    }

    #[test]
    fn the_pepper_changes_the_digest() {
        let key = generate(&Pepper::new([1; 32]));
        let value = key.value.expose_secret();
        assert_ne!(
            Pepper::new([1; 32]).digest(value),
            Pepper::new([2; 32]).digest(value)
        );
    }

    #[test]
    fn permissions_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
        assert_eq!(Permission::parse("admin"), None);
    }
}
