//! Password hashing with argon2id, off the async runtime and bounded.
//!
//! Each hash costs tens of milliseconds of CPU and 19 MiB of memory. Hashes run on the blocking pool
//! and at most [`MAX_CONCURRENT_HASHES`] at once, so a burst of sign-ins queues instead of starving
//! the runtime or the machine's memory.

use anyhow::Context as _;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret as _, SecretString};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PARALLELISM: u32 = 1;
/// Concurrent hashes allowed (Rauthy's bound): each holds 19 MiB and a core for ~40 ms.
pub const MAX_CONCURRENT_HASHES: usize = 2;

fn argon2() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &[u8]) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = argon2()?
        .hash_password(password, &salt)
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    Ok(hash.to_string())
}

/// A hash with the same parameters as real ones, checked when the user does not exist so that
/// "unknown user" and "wrong password" take the same time.
fn dummy_hash() -> anyhow::Result<&'static str> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_blocking(b"a password nobody has, hashed to spend the same time")?;
    Ok(DUMMY.get_or_init(|| hash))
}

fn verify_blocking(password: &[u8], stored: Option<&str>) -> anyhow::Result<bool> {
    let (stored, exists) = match stored {
        Some(s) => (s, true),
        None => (dummy_hash()?, false),
    };
    let parsed = PasswordHash::new(stored)
        .map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
    let matches = argon2()?.verify_password(password, &parsed).is_ok();
    Ok(exists && matches)
}

/// Hashes and verifies passwords on the blocking pool, a bounded number at a time.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new(MAX_CONCURRENT_HASHES)
    }
}

impl PasswordHasher {
    pub fn new(max_concurrent: usize) -> Self {
        PasswordHasher {
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        }
    }

    /// Computes the dummy hash now, so the first sign-in of an unknown user does not take twice as
    /// long as every later one (`serve` calls this before listening).
    pub async fn warm_up(&self) -> anyhow::Result<()> {
        tokio::task::spawn_blocking(|| dummy_hash().map(|_| ()))
            .await
            .context("the warm-up task failed")?
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) for a new password.
    pub async fn hash(&self, password: SecretString) -> anyhow::Result<String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .context("the hashing semaphore is closed")?;
        tokio::task::spawn_blocking(move || hash_blocking(password.expose_secret().as_bytes()))
            .await
            .context("the hashing task failed")?
    }

    /// Checks `password` against `stored`; with `None` (no such user) a dummy hash is checked
    /// and the answer is always `false`.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> anyhow::Result<bool> {
        let _permit = self
            .permits
            .acquire()
            .await
            .context("the hashing semaphore is closed")?;
        tokio::task::spawn_blocking(move || {
            verify_blocking(password.expose_secret().as_bytes(), stored.as_deref())
        })
        .await
        .context("the verification task failed")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let hasher = PasswordHasher::default();
        let hash = hasher
            .hash(secret("correct horse battery staple"))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher
            .verify(secret("correct horse battery staple"), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify(secret("correct horse battery stapler"), Some(hash))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let hasher = PasswordHasher::default();
        let dummy = "a password nobody has, hashed to spend the same time";
        assert!(!hasher.verify(secret(dummy), None).await.unwrap());
    }
}
