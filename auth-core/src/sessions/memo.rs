//! An isolate's recent KV answers, per session.

use super::{SessionKey, Standing};
use crate::ttl_cache::TtlCache;

/// Recent [`Standing`]s read from KV, per session, so that an isolate does not read the store on
/// every request of a busy session.
///
/// One entry per session holds all three levels (they are read together), so a hit costs one
/// lookup whatever the levels say. A session belongs to one user of one tenant, so its entry is the
/// whole answer for every token of it; the token's own `iat` is compared on each request.
///
/// Bound: an answer is reused for at most `ttl_secs`, so on `eventual` routes a revocation can take
/// that much longer to be seen than the store itself needs (Workers KV: about a minute). Strict routes
/// still ask the tenant's ledger on every request. Both kinds of answer are kept: a revoked session
/// stays revoked, and remembering that spares the store a flood of replays of a revoked token.
#[derive(Debug)]
pub struct RevocationMemo {
    answers: TtlCache<String, Standing>,
    ttl_secs: i64,
}

impl RevocationMemo {
    /// `ttl_secs` 0 (or `capacity` 0) remembers nothing.
    pub fn new(capacity: usize, ttl_secs: i64) -> Self {
        let capacity = if ttl_secs > 0 { capacity } else { 0 };
        RevocationMemo {
            answers: TtlCache::new(capacity),
            ttl_secs,
        }
    }

    /// What the store said about the session, if it was asked less than `ttl_secs` ago.
    pub fn answer(&mut self, session: &SessionKey<'_>, now: i64) -> Option<Standing> {
        self.answers.get(&session.deny_entry_key(), now)
    }

    /// Remembers what the store answered at `now`.
    pub fn record(&mut self, session: &SessionKey<'_>, standing: Standing, now: i64) {
        self.answers.insert(
            session.deny_entry_key(),
            standing,
            now.saturating_add(self.ttl_secs),
        );
    }

    /// Forgets a session's answer: its revocation was just recorded here.
    pub fn forget(&mut self, session: &SessionKey<'_>) {
        self.answers.remove(&session.deny_entry_key());
    }

    /// Forgets every answer: a not-before was just recorded here, and it may concern any session
    /// of its tenant (not-befores are rare; re-reading is cheaper than indexing sessions by user).
    pub fn forget_all(&mut self) {
        self.answers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: SessionKey<'static> = SessionKey {
        tenant: "t1",
        session: "s1",
    };

    #[test]
    fn the_memo_answers_for_its_ttl_only() {
        let other_tenant = SessionKey {
            tenant: "t2",
            session: "s1",
        };
        let clear = Standing::default();
        let mut memo = RevocationMemo::new(16, 5);
        assert_eq!(memo.answer(&ALICE, 100), None);
        memo.record(&ALICE, clear, 100);
        assert_eq!(memo.answer(&ALICE, 104), Some(clear));
        assert_eq!(memo.answer(&ALICE, 105), None, "stale after ttl_secs");
        assert_eq!(memo.answer(&other_tenant, 101), None, "keyed by tenant too");
        memo.record(&ALICE, clear, 200);
        memo.forget(&ALICE);
        assert_eq!(memo.answer(&ALICE, 201), None, "a local revocation forgets");
        let signed_out = Standing {
            user_not_before: Some(290),
            ..Standing::default()
        };
        memo.record(&ALICE, signed_out, 300);
        assert_eq!(memo.answer(&ALICE, 301), Some(signed_out));
        memo.record(&other_tenant, clear, 300);
        memo.forget_all();
        assert_eq!(memo.answer(&ALICE, 301), None, "a local not-before forgets");
        assert_eq!(memo.answer(&other_tenant, 301), None);
    }

    #[test]
    fn a_zero_ttl_memo_remembers_nothing() {
        let mut memo = RevocationMemo::new(16, 0);
        memo.record(&ALICE, Standing::default(), 100);
        assert_eq!(memo.answer(&ALICE, 100), None);
    }
}
