//! Emergency revocation of an issuer's signing key at the edge.
//!
//! The origin withdraws a compromised key from its JWKS and pushes a
//! [`KeyRevocationNotice`](auth_core::notice::KeyRevocationNotice) here
//! (`POST /__auth/key-revocations`). The edge then refuses every token verified by that key, fresh
//! or from the verified-token cache, with `key_revoked`:
//!
//! - the isolate that receives the push knows at once, and refetches the issuer's JWKS (so its set
//!   and the copy persisted for cold isolates lose the key);
//! - every other isolate learns it from a KV entry (in `REVOCATIONS`), which it reads for a key the
//!   first time the key verifies a token and then at most every `REVOCATION_CACHE_SECONDS`, and at
//!   most once a second when that is 0 ([`MIN_ANSWER_SECS`]).
//!
//! Bound: a token signed by a revoked key is refused everywhere within `REVOCATION_CACHE_SECONDS`
//! (at least a second) plus KV's propagation (about a minute on Cloudflare; immediate under
//! `wrangler dev`). The KV entry lives as long as any isolate's key set may still hold the key
//! (`auth_core::notice::key_deny_ttl`).
//!
//! The read happens only after a signature verified (or a cached verification matched), so a token
//! nobody signed with a real key costs nothing here.

use crate::isolate::{AdapterCall, Edge};
use auth_core::notice::{key_deny_ttl, KeyRevocationNotice};
use auth_core::ttl_cache::TtlCache;
use auth_core::Rejection;
use sha2::{Digest as _, Sha256};

/// Keys whose KV answer an isolate remembers.
const MEMO_CAPACITY: usize = 1024;
/// The shortest reuse of a "not revoked" answer, whatever `REVOCATION_CACHE_SECONDS` says. Every
/// token of an issuer shares its few keys, so with 0 the same entry would be read again on every
/// request: a second KV read per verification (in `cargo xtask bench edge`'s cache-off scenario,
/// 2026-12-01, a KV read costs ~68 µs of workerd CPU), for a bound KV's own propagation (~60 s)
/// already dwarfs. Session answers, one per token, keep the setting as it is.
pub const MIN_ANSWER_SECS: i64 = 1;

/// An isolate's recent answers about keys (`isolate::Edge::key_revocations`). A "revoked" answer is
/// kept for as long as the KV entry lives (a revocation is never undone); a "not revoked" one for
/// `REVOCATION_CACHE_SECONDS`, at least [`MIN_ANSWER_SECS`].
pub struct KeyRevocations {
    answers: TtlCache<String, bool>,
    ttl_secs: i64,
}

impl KeyRevocations {
    pub fn new(ttl_secs: i64) -> Self {
        KeyRevocations {
            answers: TtlCache::new(MEMO_CAPACITY),
            ttl_secs: ttl_secs.max(MIN_ANSWER_SECS),
        }
    }
}

/// The memo's name for a key: length-prefixed, so no two (issuer, kid) pairs share one.
fn memo_key(issuer: &str, kid: &str) -> String {
    format!("{}:{issuer}:{kid}", issuer.len())
}

/// The KV key of a revoked key. Hashed: an issuer url and a 256-byte `kid` may exceed KV's 512-byte
/// key limit.
fn entry_key(memo_key: &str) -> String {
    format!(
        "revoked-key:{}",
        hex::encode(Sha256::digest(memo_key.as_bytes()))
    )
}

/// Whether `issuer` has revoked its key `kid`. `KeysUnavailable` (503) when KV cannot answer: a key
/// that may be compromised is not trusted blindly.
pub async fn revoked(edge: &Edge, issuer: &str, kid: &str, now: i64) -> Result<bool, Rejection> {
    let memo = memo_key(issuer, kid);
    if let Some(answer) = edge.key_revocations.borrow_mut().answers.get(&memo, now) {
        return Ok(answer);
    }
    edge.count(AdapterCall::KeyRevocationRead);
    let found = edge
        .revocations
        .get(&entry_key(&memo))
        .await
        .map_err(|_| Rejection::KeysUnavailable)?
        .is_some();
    let mut memo_state = edge.key_revocations.borrow_mut();
    let ttl = if found {
        i64::MAX / 4
    } else {
        memo_state.ttl_secs
    };
    memo_state
        .answers
        .insert(memo, found, now.saturating_add(ttl));
    Ok(found)
}

/// Records a pushed key revocation: in this isolate at once, then in KV for the others.
pub async fn record(
    edge: &Edge,
    notice: &KeyRevocationNotice,
) -> Result<(), wasm_bindgen::JsValue> {
    let memo = memo_key(&notice.issuer, &notice.kid);
    edge.key_revocations
        .borrow_mut()
        .answers
        .insert(memo.clone(), true, i64::MAX / 2);
    // A template's tenants share the template's settings.
    let settings = crate::jwks::for_notice(edge, &notice.issuer)
        .map(|p| p.jwks_cache)
        .unwrap_or_default();
    let ttl = u64::try_from(key_deny_ttl(&settings)).unwrap_or(u64::MAX);
    edge.count(AdapterCall::DenyEntryWrite);
    edge.revocations.put(&entry_key(&memo), "1", ttl).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_different_issuers_and_kids_never_share_an_entry() {
        assert_ne!(memo_key("a:b", "c"), memo_key("a", "b:c"));
        let long = "k".repeat(256);
        let key = entry_key(&memo_key(&"https://issuer.example/".repeat(20), &long));
        assert!(key.len() < 512);
        assert_ne!(
            entry_key(&memo_key("i", "k1")),
            entry_key(&memo_key("i", "k2"))
        );
    }
}
