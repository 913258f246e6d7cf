//! Tenant signing keys: generation, encryption at rest, loading, and signing with the current key.
//!
//! Private keys (P-256 scalars for ES256, Ed25519 seeds for EdDSA, 32 bytes each) are sealed with
//! AES-256-GCM under the key-encryption key (KEK). The associated data binds a ciphertext to its
//! tenant and `kid`, so a row moved to another tenant or relabelled does not decrypt. (A row whose
//! `alg` is relabelled would open into a key whose public half matches no published JWK: its tokens
//! verify nowhere.) The KEK lives only in the process configuration, never in Postgres.
//!
//! How keys move through `next → current → retired → gone` (and `revoked`) is
//! [`crate::key_rotation`]'s business; this module only makes, seals, opens and uses them.

use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use auth_core::encoding::{b64url_decode, b64url_encode};
use auth_core::{KeySet, VerificationKey};
use jwt_compact::alg::{Ed25519, Es256};
use jwt_compact::{AlgorithmExt as _, Claims, Header};
use rand::rngs::OsRng;
use rand::RngCore as _;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret as _, SecretBox};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use std::sync::Arc;
use time::OffsetDateTime;
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

/// The algorithms a tenant may sign with (`tenants.signing_alg`, `signing_keys.alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SigningAlgorithm {
    #[default]
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl SigningAlgorithm {
    /// The JOSE name, as stored and as published.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::EdDsa => "EdDSA",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(SigningAlgorithm::Es256),
            "EdDSA" => Some(SigningAlgorithm::EdDsa),
            _ => None,
        }
    }
}

/// The private half of a tenant signing key. Never printed.
#[derive(Clone)]
pub enum PrivateKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({}, [REDACTED])", self.algorithm().as_str())
    }
}

impl PrivateKey {
    /// A fresh random key.
    pub fn generate(alg: SigningAlgorithm) -> Self {
        match alg {
            SigningAlgorithm::Es256 => {
                PrivateKey::Es256(p256::ecdsa::SigningKey::random(&mut OsRng))
            }
            SigningAlgorithm::EdDsa => {
                let mut seed = Zeroizing::new([0u8; 32]);
                OsRng.fill_bytes(seed.as_mut());
                PrivateKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
        }
    }

    pub fn algorithm(&self) -> SigningAlgorithm {
        match self {
            PrivateKey::Es256(_) => SigningAlgorithm::Es256,
            PrivateKey::EdDsa(_) => SigningAlgorithm::EdDsa,
        }
    }

    /// The 32 secret bytes that are sealed at rest.
    fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        match self {
            PrivateKey::Es256(k) => Zeroizing::new(k.to_bytes().to_vec()),
            PrivateKey::EdDsa(k) => Zeroizing::new(k.to_bytes().to_vec()),
        }
    }

    fn from_secret_bytes(alg: SigningAlgorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        match alg {
            SigningAlgorithm::Es256 => p256::ecdsa::SigningKey::from_slice(bytes)
                .map(PrivateKey::Es256)
                .map_err(|_| KeyError::Malformed),
            SigningAlgorithm::EdDsa => {
                let seed: Zeroizing<[u8; 32]> =
                    Zeroizing::new(bytes.try_into().map_err(|_| KeyError::Malformed)?);
                Ok(PrivateKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(
                    &seed,
                )))
            }
        }
    }

    /// The public half as a verification key, as the JWKS publishes it.
    pub fn verification_key(&self, kid: &str) -> Result<VerificationKey, KeyError> {
        match self {
            PrivateKey::Es256(k) => {
                VerificationKey::from_p256(Some(kid.to_owned()), *k.verifying_key())
                    .map_err(|_| KeyError::Publish)
            }
            PrivateKey::EdDsa(k) => VerificationKey::from_jwk(&serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64url_encode(k.verifying_key().as_bytes()),
                "alg": "EdDSA",
                "use": "sig",
                "kid": kid,
            }))
            .map_err(|_| KeyError::Publish),
        }
    }

    /// A compact JWS of `claims` under `header` (whose `kid` the caller sets).
    pub fn sign<T: Serialize>(
        &self,
        header: &Header,
        claims: &Claims<T>,
    ) -> anyhow::Result<String> {
        use anyhow::Context as _;
        match self {
            PrivateKey::Es256(k) => Es256.token(header, claims, k),
            PrivateKey::EdDsa(k) => Ed25519.token(header, claims, k),
        }
        .context("signing a token")
    }
}

/// A freshly generated key, sealed and ready to insert.
#[derive(Debug)]
pub struct NewSigningKey {
    pub id: Uuid,
    pub kid: String,
    pub alg: SigningAlgorithm,
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

/// Generates a key of `alg` for `tenant_id` with a fresh random `kid`, and seals its private half.
pub fn generate(
    kek: &KeyEncryptionKey,
    tenant_id: Uuid,
    alg: SigningAlgorithm,
) -> Result<NewSigningKey, KeyError> {
    let private = PrivateKey::generate(alg);
    let mut kid_bytes = [0u8; KID_BYTES];
    OsRng.fill_bytes(&mut kid_bytes);
    let kid = b64url_encode(&kid_bytes);
    let public_jwk = private.verification_key(&kid)?.to_public_jwk();
    let mut nonce = [0u8; NONCE_BYTES];
    OsRng.fill_bytes(&mut nonce);
    let secret = private.secret_bytes();
    let ciphertext = kek
        .cipher()
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &secret,
                aad: &associated_data(tenant_id, &kid),
            },
        )
        .map_err(|_| KeyError::Decrypt)?;
    Ok(NewSigningKey {
        id: Uuid::new_v4(),
        kid,
        alg,
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
    alg: SigningAlgorithm,
    ciphertext: &[u8],
    nonce: &[u8],
) -> Result<PrivateKey, KeyError> {
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| KeyError::Malformed)?;
    let secret = Zeroizing::new(
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
    PrivateKey::from_secret_bytes(alg, &secret)
}

/// Where a key stands (`signing_keys.status`); see [`crate::key_rotation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Next,
    Current,
    Retired,
    Gone,
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Next => "next",
            KeyStatus::Current => "current",
            KeyStatus::Retired => "retired",
            KeyStatus::Gone => "gone",
            KeyStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(KeyStatus::Next),
            "current" => Some(KeyStatus::Current),
            "retired" => Some(KeyStatus::Retired),
            "gone" => Some(KeyStatus::Gone),
            "revoked" => Some(KeyStatus::Revoked),
            _ => None,
        }
    }
}

/// Stores a new key as `current` (signing from `signs_from`) or `next` (due to sign from it).
pub async fn insert(
    executor: impl PgExecutor<'_>,
    tenant_id: Uuid,
    key: &NewSigningKey,
    status: KeyStatus,
    signs_from: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO signing_keys (id, tenant_id, kid, alg, public_jwk, private_key_ciphertext, nonce, status, signs_from)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(key.id)
    .bind(tenant_id)
    .bind(&key.kid)
    .bind(key.alg.as_str())
    .bind(&key.public_jwk)
    .bind(&key.ciphertext)
    .bind(&key.nonce)
    .bind(status.as_str())
    .bind(signs_from)
    .execute(executor)
    .await?;
    Ok(())
}

/// The key a tenant currently signs with.
#[derive(Debug)]
pub struct CurrentKey {
    pub kid: String,
    pub key: PrivateKey,
}

impl CurrentKey {
    /// Signs `claims` as a JWT of type `typ` (`at+jwt`, `JWT` for ID tokens, ...), naming this key.
    /// Every token the origin signs goes through here, so rotation covers all of them. Invariant
    /// (`key_rotation`): no token signed here lives longer than
    /// [`crate::config::MAX_ACCESS_TOKEN_TTL_SECS`], or it would outlive its key's publication.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &Claims<T>) -> anyhow::Result<String> {
        let header = Header::empty().with_key_id(&self.kid).with_token_type(typ);
        self.key.sign(&header, claims)
    }
}

/// Loads and decrypts the tenant's current signing key: what every token is signed with.
pub async fn current(
    executor: impl PgExecutor<'_>,
    kek: &KeyEncryptionKey,
    tenant_id: Uuid,
) -> anyhow::Result<CurrentKey> {
    use anyhow::Context as _;
    let (kid, alg, ciphertext, nonce): (String, String, Option<Vec<u8>>, Option<Vec<u8>>) =
        sqlx::query_as(
            "SELECT kid, alg, private_key_ciphertext, nonce FROM signing_keys
             WHERE tenant_id = $1 AND status = 'current'",
        )
        .bind(tenant_id)
        .fetch_optional(executor)
        .await
        .context("loading the current signing key")?
        .context("the tenant has no current signing key")?;
    let alg = SigningAlgorithm::parse(&alg).context("unknown signing algorithm")?;
    let (Some(ciphertext), Some(nonce)) = (ciphertext, nonce) else {
        anyhow::bail!("the current signing key {kid} has no private half");
    };
    let key = decrypt_signing_key(kek, tenant_id, &kid, alg, &ciphertext, &nonce)
        .with_context(|| format!("opening signing key {kid}"))?;
    Ok(CurrentKey { kid, key })
}

/// The condition on `signing_keys` (aliased `k`) of a key the JWKS publishes at `$2`.
pub const PUBLISHED_AT: &str =
    "(k.status IN ('current', 'next') OR (k.status = 'retired' AND k.published_until > $2))";

/// The tenant's published keys (current, next, and retired ones still inside their publication),
/// as a verification key set. Gone and revoked keys are not in it.
pub async fn public_key_set(
    executor: impl PgExecutor<'_>,
    tenant_id: Uuid,
) -> anyhow::Result<KeySet> {
    use anyhow::Context as _;
    let rows: Vec<(serde_json::Value,)> = sqlx::query_as(&format!(
        "SELECT k.public_jwk FROM signing_keys k WHERE k.tenant_id = $1 AND {PUBLISHED_AT}
         ORDER BY k.created_at, k.kid"
    ))
    .bind(tenant_id)
    .bind(OffsetDateTime::now_utc())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_for_its_tenant_kid_and_kek() {
        let kek = KeyEncryptionKey::generate();
        let tenant = Uuid::new_v4();
        for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            a_sealed_key_of(alg, &kek, tenant);
        }
    }

    fn a_sealed_key_of(alg: SigningAlgorithm, kek: &KeyEncryptionKey, tenant: Uuid) {
        let key = generate(kek, tenant, alg).unwrap();
        let open = |kek: &KeyEncryptionKey, tenant: Uuid, kid: &str, ciphertext: &[u8]| {
            decrypt_signing_key(kek, tenant, kid, alg, ciphertext, &key.nonce)
        };
        let opened = open(kek, tenant, &key.kid, &key.ciphertext).unwrap();
        assert_eq!(opened.algorithm(), alg);
        let published = VerificationKey::from_jwk(&key.public_jwk).unwrap();
        assert_eq!(published.algorithm().name(), alg.as_str());
        assert_eq!(
            opened.verification_key(&key.kid).unwrap().to_public_jwk(),
            published.to_public_jwk()
        );

        let other_kek = KeyEncryptionKey::generate();
        assert_eq!(
            open(&other_kek, tenant, &key.kid, &key.ciphertext).unwrap_err(),
            KeyError::Decrypt
        );
        assert_eq!(
            open(kek, Uuid::new_v4(), &key.kid, &key.ciphertext).unwrap_err(),
            KeyError::Decrypt
        );
        assert_eq!(
            open(kek, tenant, "another-kid", &key.ciphertext).unwrap_err(),
            KeyError::Decrypt
        );
        let mut tampered = key.ciphertext.clone();
        tampered[0] ^= 1;
        assert_eq!(
            open(kek, tenant, &key.kid, &tampered).unwrap_err(),
            KeyError::Decrypt
        );
    }

    #[test]
    fn kids_are_random_and_opaque() {
        let kek = KeyEncryptionKey::generate();
        let a = generate(&kek, Uuid::new_v4(), SigningAlgorithm::Es256).unwrap();
        let b = generate(&kek, Uuid::new_v4(), SigningAlgorithm::EdDsa).unwrap();
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
