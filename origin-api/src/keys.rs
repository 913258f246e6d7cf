//! Tenant signing keys: generation, encryption at rest and loading.
//!
//! Private keys are P-256 scalars sealed with AES-256-GCM under the key-encryption key (KEK). The
//! associated data binds a ciphertext to its tenant and `kid`, so a row moved to another tenant or
//! relabelled does not decrypt. The KEK lives only in the process configuration, never in Postgres.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use auth_core::encoding::{b64url_decode, b64url_encode};
use auth_core::{KeySet, VerificationKey};
use p256::ecdsa::{SigningKey, VerifyingKey};
use rand::rngs::OsRng;
use rand::RngCore as _;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret as _, SecretBox};
use sqlx::PgExecutor;
use std::sync::Arc;
use uuid::Uuid;

/// Random bytes in a `kid`: unguessable and never reused.
const KID_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;
/// Domain separation for the associated data, versioned in case the sealing scheme changes.
const AAD_LABEL: &[u8] = b"origin-api/signing-key/v1";

/// The AES-256 key that seals private signing keys at rest.
#[derive(Clone)]
pub struct KeyEncryptionKey(Arc<SecretBox<[u8; 32]>>);

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey([REDACTED])")
    }
}

impl KeyEncryptionKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        KeyEncryptionKey(Arc::new(SecretBox::new(Box::new(bytes))))
    }

    /// Parses 32 bytes written as unpadded base64url.
    pub fn from_base64url(text: &str) -> Option<Self> {
        let bytes = b64url_decode(text.trim())?;
        let bytes: [u8; 32] = bytes.try_into().ok()?;
        Some(Self::from_bytes(bytes))
    }

    /// A fresh random key (tests and first-time setup).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// A key for another purpose (e.g. the hosted pages' CSRF tokens), derived as
    /// HMAC-SHA256(key, label): one configured secret, and no two purposes share key material.
    pub fn derive(&self, label: &[u8]) -> [u8; 32] {
        use hmac::Mac as _;
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(self.0.expose_secret())
                .expect("HMAC takes a key of any length");
        mac.update(label);
        mac.finalize().into_bytes().into()
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.0.expose_secret().into())
    }
}

/// Why a stored signing key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("private key does not decrypt under this key-encryption key and associated data")]
    Decrypt,
    #[error("stored key material is malformed")]
    Malformed,
    #[error("the public key cannot be published")]
    Publish,
}

/// A freshly generated key, sealed and ready to insert.
#[derive(Debug)]
pub struct NewSigningKey {
    pub id: Uuid,
    pub kid: String,
    pub public_jwk: serde_json::Value,
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
}

fn associated_data(tenant_id: Uuid, kid: &str) -> Vec<u8> {
    // The uuid is fixed-length, so label || uuid || kid has a single reading.
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 16 + kid.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(tenant_id.as_bytes());
    aad.extend_from_slice(kid.as_bytes());
    aad
}

/// Generates a P-256 key for `tenant_id` and seals its private half.
pub fn generate(kek: &KeyEncryptionKey, tenant_id: Uuid) -> Result<NewSigningKey, KeyError> {
    let signing_key = SigningKey::random(&mut OsRng);
    let mut kid_bytes = [0u8; KID_BYTES];
    OsRng.fill_bytes(&mut kid_bytes);
    let kid = b64url_encode(&kid_bytes);
    let public_jwk = VerificationKey::from_p256(Some(kid.clone()), *signing_key.verifying_key())
        .map_err(|_| KeyError::Publish)?
        .to_public_jwk();
    let mut nonce = [0u8; NONCE_BYTES];
    OsRng.fill_bytes(&mut nonce);
    let scalar = signing_key.to_bytes();
    let ciphertext = kek
        .cipher()
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &scalar[..],
                aad: &associated_data(tenant_id, &kid),
            },
        )
        .map_err(|_| KeyError::Decrypt)?;
    Ok(NewSigningKey {
        id: Uuid::new_v4(),
        kid,
        public_jwk,
        ciphertext,
        nonce: nonce.to_vec(),
    })
}

/// Opens a sealed private key. Fails for a wrong KEK, tenant or `kid`, or a tampered ciphertext.
pub fn decrypt_signing_key(
    kek: &KeyEncryptionKey,
    tenant_id: Uuid,
    kid: &str,
    ciphertext: &[u8],
    nonce: &[u8],
) -> Result<SigningKey, KeyError> {
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| KeyError::Malformed)?;
    let scalar = Zeroizing::new(
        kek.cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &associated_data(tenant_id, kid),
                },
            )
            .map_err(|_| KeyError::Decrypt)?,
    );
    SigningKey::from_slice(&scalar).map_err(|_| KeyError::Malformed)
}

/// Stores a new key with the given status (`current`, `next` or `retired`).
pub async fn insert(
    executor: impl PgExecutor<'_>,
    tenant_id: Uuid,
    key: &NewSigningKey,
    status: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO signing_keys (id, tenant_id, kid, alg, public_jwk, private_key_ciphertext, nonce, status)
         VALUES ($1, $2, $3, 'ES256', $4, $5, $6, $7)",
    )
    .bind(key.id)
    .bind(tenant_id)
    .bind(&key.kid)
    .bind(&key.public_jwk)
    .bind(&key.ciphertext)
    .bind(&key.nonce)
    .bind(status)
    .execute(executor)
    .await?;
    Ok(())
}

/// The key a tenant currently signs with.
#[derive(Debug)]
pub struct CurrentKey {
    pub kid: String,
    pub signing_key: SigningKey,
}

/// Loads and decrypts the tenant's current signing key.
pub async fn current(
    executor: impl PgExecutor<'_>,
    kek: &KeyEncryptionKey,
    tenant_id: Uuid,
) -> anyhow::Result<CurrentKey> {
    use anyhow::Context as _;
    let (kid, ciphertext, nonce): (String, Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT kid, private_key_ciphertext, nonce FROM signing_keys WHERE tenant_id = $1 AND status = 'current'",
    )
    .bind(tenant_id)
    .fetch_optional(executor)
    .await
    .context("loading the current signing key")?
    .context("the tenant has no current signing key")?;
    let signing_key = decrypt_signing_key(kek, tenant_id, &kid, &ciphertext, &nonce)
        .with_context(|| format!("opening signing key {kid}"))?;
    Ok(CurrentKey { kid, signing_key })
}

/// The tenant's published keys (current, next and retired), as a verification key set.
pub async fn public_key_set(
    executor: impl PgExecutor<'_>,
    tenant_id: Uuid,
) -> anyhow::Result<KeySet> {
    use anyhow::Context as _;
    let rows: Vec<(serde_json::Value,)> = sqlx::query_as(
        "SELECT public_jwk FROM signing_keys WHERE tenant_id = $1 ORDER BY created_at, kid",
    )
    .bind(tenant_id)
    .fetch_all(executor)
    .await
    .context("loading public keys")?;
    let keys = rows
        .iter()
        .map(|(jwk,)| VerificationKey::from_jwk(jwk))
        .collect::<Result<Vec<_>, _>>()
        .context("a stored public key does not import")?;
    // Published for the tenant (the document's `tenant_id`): the edge binds the tenant's issuer to
    // it, so a token whose `tid` names another tenant never passes (issue 10 §1.5).
    Ok(KeySet::new(keys)
        .context("the stored public keys do not form a key set")?
        .published_for(&tenant_id.to_string()))
}

/// The public half of a signing key, as it is published.
pub fn public_key(signing_key: &SigningKey) -> VerifyingKey {
    *signing_key.verifying_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_for_its_tenant_kid_and_kek() {
        let kek = KeyEncryptionKey::generate();
        let tenant = Uuid::new_v4();
        let key = generate(&kek, tenant).unwrap();
        let opened =
            decrypt_signing_key(&kek, tenant, &key.kid, &key.ciphertext, &key.nonce).unwrap();
        let published = VerificationKey::from_jwk(&key.public_jwk).unwrap();
        assert_eq!(
            VerificationKey::from_p256(Some(key.kid.clone()), public_key(&opened))
                .unwrap()
                .to_public_jwk(),
            published.to_public_jwk()
        );

        let other_kek = KeyEncryptionKey::generate();
        assert_eq!(
            decrypt_signing_key(&other_kek, tenant, &key.kid, &key.ciphertext, &key.nonce)
                .unwrap_err(),
            KeyError::Decrypt
        );
        assert_eq!(
            decrypt_signing_key(&kek, Uuid::new_v4(), &key.kid, &key.ciphertext, &key.nonce)
                .unwrap_err(),
            KeyError::Decrypt
        );
        assert_eq!(
            decrypt_signing_key(&kek, tenant, "another-kid", &key.ciphertext, &key.nonce)
                .unwrap_err(),
            KeyError::Decrypt
        );
        let mut tampered = key.ciphertext.clone();
        tampered[0] ^= 1;
        assert_eq!(
            decrypt_signing_key(&kek, tenant, &key.kid, &tampered, &key.nonce).unwrap_err(),
            KeyError::Decrypt
        );
    }

    #[test]
    fn kids_are_random_and_opaque() {
        let kek = KeyEncryptionKey::generate();
        let a = generate(&kek, Uuid::new_v4()).unwrap();
        let b = generate(&kek, Uuid::new_v4()).unwrap();
        assert_ne!(a.kid, b.kid);
        assert_eq!(b64url_decode(&a.kid).unwrap().len(), KID_BYTES);
        assert_eq!(a.public_jwk["kid"], a.kid.as_str());
        assert!(a.public_jwk.get("d").is_none());
    }

    #[test]
    fn the_kek_parses_from_unpadded_base64url_only() {
        assert!(KeyEncryptionKey::from_base64url(&b64url_encode(&[7u8; 32])).is_some());
        assert!(KeyEncryptionKey::from_base64url(&b64url_encode(&[7u8; 31])).is_none());
        assert!(
            KeyEncryptionKey::from_base64url("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=")
                .is_none()
        );
        assert_eq!(
            format!("{:?}", KeyEncryptionKey::generate()),
            "KeyEncryptionKey([REDACTED])"
        );
    }
}
