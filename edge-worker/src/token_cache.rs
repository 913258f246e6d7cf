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
use std::cell::RefCell;
use std::rc::Rc;

/// A cached verification: the claims and the `kid` of the key that verified them.
type Entry = (Rc<VerifiedClaims>, Rc<str>);

thread_local! {
    static CACHE: RefCell<TtlCache<[u8; 32], Entry>> = RefCell::new(TtlCache::new(0));
}

/// The cache key of a token.
pub fn key_of(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A cached verification of the token hashed to `key`, if it has not expired at `now`, with the
/// `kid` of the key that verified it (the caller checks that key is still current).
pub fn get(key: &[u8; 32], now: i64) -> Option<Entry> {
    CACHE.with(|c| c.borrow_mut().get(key, now))
}

/// Forgets a cached verification (its key is no longer current).
pub fn remove(key: &[u8; 32]) {
    CACHE.with(|c| c.borrow_mut().remove(key));
}

/// Remembers a verification until the token expires. `capacity` 0 disables the cache.
pub fn put(key: [u8; 32], claims: Rc<VerifiedClaims>, kid: &str, capacity: usize) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.capacity() != capacity {
            *c = TtlCache::new(capacity);
        }
        let expires_at = claims.expires_at();
        c.insert(key, (claims, Rc::from(kid)), expires_at);
    })
}
