//! An in-isolate, bounded cache of verified tokens, so a client repeating its bearer token costs no
//! signature check.
//!
//! Keyed by the SHA-256 of the token (the token itself is never stored); an entry lives no longer than
//! the token's `exp`, and is used only while the key that verified it is still in its issuer's current
//! key set, so a key withdrawn by its issuer stops its tokens here too. Revocation and policy are still
//! evaluated on every request.

use auth_core::VerifiedClaims;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

#[derive(Debug)]
struct Entry {
    claims: Rc<VerifiedClaims>,
    kid: String,
    expires_at: i64,
}

#[derive(Debug, Default)]
struct Cache {
    entries: HashMap<[u8; 32], Entry>,
    /// Insertion order, for eviction when full.
    order: VecDeque<[u8; 32]>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// The cache key of a token.
pub fn key_of(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A cached verification of the token hashed to `key`, if it has not expired at `now`, with the
/// `kid` of the key that verified it (the caller checks that key is still current).
pub fn get(key: &[u8; 32], now: i64) -> Option<(Rc<VerifiedClaims>, String)> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let entry = c.entries.get(key)?;
        if now < entry.expires_at {
            Some((entry.claims.clone(), entry.kid.clone()))
        } else {
            c.entries.remove(key);
            None
        }
    })
}

/// Forgets a cached verification (its key is no longer current).
pub fn remove(key: &[u8; 32]) {
    CACHE.with(|c| c.borrow_mut().entries.remove(key));
}

/// Remembers a verification. `capacity` 0 disables the cache.
pub fn put(key: [u8; 32], claims: Rc<VerifiedClaims>, kid: &str, capacity: usize) {
    if capacity == 0 {
        return;
    }
    let expires_at = claims.expires_at();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        while c.entries.len() >= capacity {
            match c.order.pop_front() {
                Some(old) => {
                    c.entries.remove(&old);
                }
                None => break,
            }
        }
        if c.entries
            .insert(
                key,
                Entry {
                    claims,
                    kid: kid.to_owned(),
                    expires_at,
                },
            )
            .is_none()
        {
            c.order.push_back(key);
        }
        // Entries removed on expiry leave stale keys in `order`; trim them so it stays bounded.
        if c.order.len() > capacity.saturating_mul(2) {
            let Cache { entries, order } = &mut *c;
            order.retain(|k| entries.contains_key(k));
        }
    })
}
