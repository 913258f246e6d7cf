//! Password hashing with argon2id, off the async runtime and bounded.
//!
//! Each hash costs tens of milliseconds of CPU and 19 MiB of memory. Hashes run on the blocking pool,
//! one per core at most, so a burst of sign-ins cannot starve the runtime or the machine's memory.
//! The queue in front of them is bounded too: when it is full the caller is told at once
//! ([`HashError::Busy`], answered 503 with `Retry-After`) instead of waiting ever longer.

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
/// Requests that may wait for a hash, per worker. A hash takes ~40 ms, so a full queue is at most
/// ~160 ms of waiting; past that, telling the client to come back is better than holding it.
pub const QUEUE_PER_WORKER: usize = 4;

/// Why no hash was computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("every password hashing worker is busy and the queue is full")]
    Busy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

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

/// Hashes and verifies passwords on the blocking pool, a bounded number at a time behind a bounded
/// queue.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    /// One per worker: held while hashing.
    workers: Arc<Semaphore>,
    /// One per worker or queue place: held from admission to the end of the hash.
    admitted: Arc<Semaphore>,
}

impl Default for PasswordHasher {
    /// One worker per core the process may use.
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(workers, workers * QUEUE_PER_WORKER)
    }
}

impl PasswordHasher {
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        PasswordHasher {
            workers: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + queue)),
        }
    }

    /// Runs `work` on the blocking pool once a worker is free, or answers `Busy` at once when the
    /// queue is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashError> {
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        let _worker = self
            .workers
            .acquire()
            .await
            .context("the hashing semaphore is closed")?;
        Ok(tokio::task::spawn_blocking(work)
            .await
            .context("the hashing task failed")??)
    }

    /// Computes the dummy hash now, so the first sign-in of an unknown user does not take twice as
    /// long as every later one (`serve` calls this before listening).
    pub async fn warm_up(&self) -> anyhow::Result<()> {
        tokio::task::spawn_blocking(|| dummy_hash().map(|_| ()))
            .await
            .context("the warm-up task failed")?
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) for a new password.
    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        self.run(move || hash_blocking(password.expose_secret().as_bytes()))
            .await
    }

    /// Checks `password` against `stored`; with `None` (no such user) a dummy hash is checked
    /// and the answer is always `false`.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        self.run(move || verify_blocking(password.expose_secret().as_bytes(), stored.as_deref()))
            .await
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
    async fn a_full_queue_answers_busy_at_once_and_frees_up_afterwards() {
        let hasher = PasswordHasher::new(1, 1);
        // Both places taken, as by a hash running and one waiting.
        let held = hasher.admitted.clone().try_acquire_many_owned(2).unwrap();
        assert!(matches!(
            hasher.hash(secret("correct horse battery staple")).await,
            Err(HashError::Busy)
        ));
        drop(held);
        assert!(hasher
            .hash(secret("correct horse battery staple"))
            .await
            .is_ok());
    }

    #[test]
    fn the_default_pool_has_a_worker_per_core_and_a_bounded_queue() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let hasher = PasswordHasher::default();
        assert_eq!(hasher.workers.available_permits(), cores);
        assert_eq!(
            hasher.admitted.available_permits(),
            cores * (1 + QUEUE_PER_WORKER)
        );
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let hasher = PasswordHasher::default();
        let dummy = "a password nobody has, hashed to spend the same time";
        assert!(!hasher.verify(secret(dummy), None).await.unwrap());
    }
}
