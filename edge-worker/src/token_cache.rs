//! An in-isolate, bounded cache of verified tokens, so a client repeating its bearer token costs no
//! signature check.
//!
//! Keyed by the SHA-256 of the token (the token itself is never stored); an entry lives no longer than
//! the token's `exp`, and is used only while the key that verified it is still in its issuer's current
//! key set, so a key withdrawn by its issuer stops its tokens here too. Revocation and policy are still
//! evaluated on every request.

use auth_core::ttl_cache::TtlCache;
use auth_core::VerifiedClaims;
use sha2::{Digest, Sha256};
use std::rc::Rc;

/// A cached verification: the claims and the `kid` of the key that verified them.
pub type Entry = (Rc<VerifiedClaims>, Rc<str>);

/// The cache of one isolate (`isolate::Edge::tokens`). Capacity 0 keeps nothing.
pub struct TokenCache {
    entries: TtlCache<[u8; 32], Entry>,
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            entries: TtlCache::new(capacity),
        }
    }

    /// Whether the cache keeps anything.
    pub fn enabled(&self) -> bool {
        self.entries.capacity() > 0
    }

    /// The cache key of a token.
    pub fn key_of(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// A cached verification of the token hashed to `key`, if it has not expired at `now`, with the
    /// `kid` of the key that verified it (the caller checks that key is still current).
    pub fn get(&mut self, key: &[u8; 32], now: i64) -> Option<Entry> {
        self.entries.get(key, now)
    }

    /// Forgets a cached verification (its key is no longer current).
    pub fn remove(&mut self, key: &[u8; 32]) {
        self.entries.remove(key);
    }

    /// Remembers a verification until the token expires.
    pub fn put(&mut self, key: [u8; 32], claims: Rc<VerifiedClaims>, kid: &str) {
        let expires_at = claims.expires_at();
        self.entries
            .insert(key, (claims, Rc::from(kid)), expires_at);
    }
}
