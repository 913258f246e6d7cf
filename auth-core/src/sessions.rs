//! The per-tenant revocation ledger kept by the tenant's Durable Object.
//!
//! Pure state machine: the Durable Object shell loads entries from its storage, feeds commands in and
//! applies the [`StorageChange`]s that come out. Time is passed in.

use crate::claims::VerifiedClaims;
use crate::policy::Revocation;
use crate::reject::Rejection;
use crate::ttl_cache::TtlCache;
use std::collections::BTreeMap;

/// The unit of revocation: a session of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionKey<'c> {
    /// The tenant the token is bound to (`claims::TenantBinding`), else the issuer (a third-party
    /// issuer bound to none of our tenants is its own).
    pub tenant: &'c str,
    pub session: &'c str,
}

impl<'c> SessionKey<'c> {
    /// The session `sid` of a token bound to `tenant`, from `issuer`: an issuer bound to no
    /// tenant is its own.
    pub fn of(tenant: Option<&'c str>, issuer: &'c str, sid: &'c str) -> Self {
        SessionKey {
            tenant: tenant.unwrap_or(issuer),
            session: sid,
        }
    }

    /// The session's deny-entry key in the revocation store (Workers KV):
    /// `deny:{byte length of tenant}:{tenant}:{session}`.
    ///
    /// The length prefix fixes where the tenant ends, so no two (tenant, session) pairs share a key
    /// whatever characters either holds: `deny:{tenant}:{session}` would give `("a:b", "c")` and
    /// `("a", "b:c")` the same key, and either could then revoke the other.
    pub fn deny_entry_key(&self) -> String {
        format!(
            "deny:{}:{}:{}",
            self.tenant.len(),
            self.tenant,
            self.session
        )
    }
}

/// Which revocation stores a request must consult.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationCheck<'c> {
    /// The token has no session: nothing can revoke it before it expires.
    Nothing,
    /// The KV deny entry (eventual routes).
    DenyList(SessionKey<'c>),
    /// The tenant's Durable Object alone (strict routes). It holds every revocation the deny list
    /// does (a push records it there first, and keeps it longer), so reading KV too would only cost
    /// a read, and would let a broken ledger hide behind KV's answer.
    Ledger(SessionKey<'c>),
}

/// The revocation check a verified token needs on a route with `mode`. A token without `sid` cannot
/// be revoked, so strict routes refuse it rather than let it through unchecked.
pub fn revocation_check(
    mode: Revocation,
    claims: &VerifiedClaims,
) -> Result<RevocationCheck<'_>, Rejection> {
    let Some(session) = claims.session() else {
        return match mode {
            Revocation::Strict => Err(Rejection::ClaimsInvalid(
                "strict revocation needs a sid claim",
            )),
            Revocation::Eventual => Ok(RevocationCheck::Nothing),
        };
    };
    let key = SessionKey::of(claims.tenant(), claims.issuer(), session);
    Ok(match mode {
        Revocation::Strict => RevocationCheck::Ledger(key),
        Revocation::Eventual => RevocationCheck::DenyList(key),
    })
}

/// Recent answers of the deny list, per session, so that an isolate does not read the store on every
/// request of a busy session.
///
/// Bound: an answer is reused for at most `ttl_secs`, so on `eventual` routes a revocation can take
/// that much longer to be seen than the store itself needs (Workers KV: about a minute). Strict routes
/// still ask the tenant's ledger on every request. Both answers are kept: a revoked session stays
/// revoked, and remembering that spares the store a flood of replays of a revoked token.
#[derive(Debug)]
pub struct DenyListMemo {
    answers: TtlCache<String, bool>,
    ttl_secs: i64,
}

impl DenyListMemo {
    /// `ttl_secs` 0 (or `capacity` 0) remembers nothing.
    pub fn new(capacity: usize, ttl_secs: i64) -> Self {
        let capacity = if ttl_secs > 0 { capacity } else { 0 };
        DenyListMemo {
            answers: TtlCache::new(capacity),
            ttl_secs,
        }
    }

    /// Whether the session was denied, if the store was asked less than `ttl_secs` ago.
    pub fn answer(&mut self, session: &SessionKey<'_>, now: i64) -> Option<bool> {
        self.answers.get(&session.deny_entry_key(), now)
    }

    /// Remembers what the store answered at `now`.
    pub fn record(&mut self, session: &SessionKey<'_>, denied: bool, now: i64) {
        self.answers.insert(
            session.deny_entry_key(),
            denied,
            now.saturating_add(self.ttl_secs),
        );
    }

    /// Forgets a session's answer: a revocation was just recorded here.
    pub fn forget(&mut self, session: &SessionKey<'_>) {
        self.answers.remove(&session.deny_entry_key());
    }
}

/// What the shell must write to storage after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageChange {
    Upsert { session_id: String, expires_at: i64 },
    Delete { session_ids: Vec<String> },
}

/// Revoked sessions of one tenant, each with the instant after which it may be forgotten.
///
/// Invariant (issue 10 §1.1): that instant is the notice's `expires_at`
/// ([`RevocationNotice`](crate::notice::RevocationNotice)), which already lies past the last instant
/// any token of the session can pass validation at the edge (its expiry, the largest leeway, a skew
/// margin). The ledger keeps every entry until then, and forgets it only after: [`purge`](Self::purge)
/// runs on every revocation and from the object's alarm at [`next_purge`](Self::next_purge), so
/// storage holds only revocations that can still matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionLedger {
    revoked: BTreeMap<String, i64>,
}

impl SessionLedger {
    /// Rebuilds the ledger from stored entries.
    pub fn from_entries(entries: impl IntoIterator<Item = (String, i64)>) -> Self {
        SessionLedger {
            revoked: entries.into_iter().collect(),
        }
    }

    /// Records a revocation. Revoking twice keeps the later expiry; a no-op yields no change.
    pub fn revoke(&mut self, session_id: &str, expires_at: i64) -> Option<StorageChange> {
        let current = self.revoked.get(session_id).copied();
        if current.is_some_and(|c| c >= expires_at) {
            return None;
        }
        self.revoked.insert(session_id.to_owned(), expires_at);
        Some(StorageChange::Upsert {
            session_id: session_id.to_owned(),
            expires_at,
        })
    }

    /// Whether a session is revoked. An entry past its instant still answers `true` until purged:
    /// the ledger errs on the side of refusing.
    pub fn is_revoked(&self, session_id: &str) -> bool {
        self.revoked.contains_key(session_id)
    }

    /// Forgets revocations whose instant has passed.
    pub fn purge(&mut self, now: i64) -> Option<StorageChange> {
        let expired: Vec<String> = self
            .revoked
            .iter()
            .filter(|(_, &forget_after)| forget_after < now)
            .map(|(sid, _)| sid.clone())
            .collect();
        if expired.is_empty() {
            return None;
        }
        for sid in &expired {
            self.revoked.remove(sid);
        }
        Some(StorageChange::Delete {
            session_ids: expired,
        })
    }

    /// When the next [`purge`](Self::purge) has something to forget (Unix s): the shell's alarm.
    pub fn next_purge(&self) -> Option<i64> {
        self.revoked
            .values()
            .min()
            .map(|forget_after| forget_after.saturating_add(1))
    }

    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_different_sessions_never_share_a_deny_entry_key() {
        // Every pair of strings of up to three characters over an alphabet holding the separator, a
        // digit (the length prefix) and a multi-byte character: 85 * 85 pairs, 85 * 85 keys.
        let alphabet = [":", "1", "a", "é"];
        let mut words = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = words
                .iter()
                .flat_map(|w| alphabet.iter().map(move |c| format!("{w}{c}")))
                .collect();
            words.extend(longer);
        }
        words.sort();
        words.dedup();
        let mut seen = std::collections::HashMap::new();
        for tenant in &words {
            for session in &words {
                let key = SessionKey { tenant, session }.deny_entry_key();
                if let Some(other) = seen.insert(key.clone(), (tenant, session)) {
                    panic!(
                        "{key:?} is the key of {other:?} and of {:?}",
                        (tenant, session)
                    );
                }
            }
        }
        assert_eq!(seen.len(), 85 * 85);
        assert_eq!(
            SessionKey {
                tenant: "t1",
                session: "s:1"
            }
            .deny_entry_key(),
            "deny:2:t1:s:1"
        );
    }

    #[test]
    fn the_deny_list_memo_answers_for_its_ttl_only() {
        let alice = SessionKey {
            tenant: "t1",
            session: "s1",
        };
        let other_tenant = SessionKey {
            tenant: "t2",
            session: "s1",
        };
        let mut memo = DenyListMemo::new(16, 5);
        assert_eq!(memo.answer(&alice, 100), None);
        memo.record(&alice, false, 100);
        assert_eq!(memo.answer(&alice, 104), Some(false));
        assert_eq!(memo.answer(&alice, 105), None, "stale after ttl_secs");
        assert_eq!(memo.answer(&other_tenant, 101), None, "keyed by tenant too");
        memo.record(&alice, false, 200);
        memo.forget(&alice);
        assert_eq!(memo.answer(&alice, 201), None, "a local revocation forgets");
        memo.record(&alice, true, 300);
        assert_eq!(memo.answer(&alice, 301), Some(true));
    }

    #[test]
    fn a_zero_ttl_memo_remembers_nothing() {
        let alice = SessionKey {
            tenant: "t1",
            session: "s1",
        };
        let mut memo = DenyListMemo::new(16, 0);
        memo.record(&alice, false, 100);
        assert_eq!(memo.answer(&alice, 100), None);
    }

    #[test]
    fn a_revoked_session_stays_revoked_through_its_notices_instant_and_is_purged_after() {
        let mut ledger = SessionLedger::default();
        assert_eq!(ledger.next_purge(), None);
        assert_eq!(
            ledger.revoke("s1", 1_000),
            Some(StorageChange::Upsert {
                session_id: "s1".into(),
                expires_at: 1_000
            })
        );
        ledger.revoke("s2", 2_000);
        assert!(ledger.is_revoked("s1"));
        assert!(!ledger.is_revoked("s3"));
        assert_eq!(
            ledger.next_purge(),
            Some(1_001),
            "the alarm of the earliest"
        );
        assert_eq!(ledger.purge(1_000), None);
        assert!(ledger.is_revoked("s1"));
        assert_eq!(
            ledger.purge(1_001),
            Some(StorageChange::Delete {
                session_ids: vec!["s1".into()]
            })
        );
        assert!(!ledger.is_revoked("s1"));
        assert!(ledger.is_revoked("s2"));
        assert_eq!(ledger.next_purge(), Some(2_001));
    }

    /// Claims of `https://id.test` bound by `binding`, verified by a key of `key_tenant`'s set.
    fn bound_claims(
        extra: serde_json::Value,
        binding: serde_json::Value,
        key_tenant: Option<&str>,
    ) -> VerifiedClaims {
        let mut c =
            serde_json::json!({"iss": "https://id.test", "sub": "u", "aud": "api", "exp": 2_000});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        let policy: crate::IssuerPolicy = serde_json::from_value(serde_json::json!({
            "issuer": "https://id.test", "jwks_uri": "https://id.test/jwks", "audiences": ["api"],
            "tenant": binding,
        }))
        .unwrap();
        crate::claims::validate(c.as_object().unwrap().clone(), &policy, key_tenant, 1_000).unwrap()
    }

    fn claims(extra: serde_json::Value) -> VerifiedClaims {
        bound_claims(extra, serde_json::json!("none"), None)
    }

    #[test]
    fn strict_routes_refuse_tokens_without_a_session_and_name_the_ledger() {
        use crate::policy::Revocation::{Eventual, Strict};
        let none = claims(serde_json::json!({}));
        assert_eq!(
            revocation_check(Eventual, &none),
            Ok(RevocationCheck::Nothing)
        );
        assert_eq!(
            revocation_check(Strict, &none).unwrap_err().code(),
            "claims_invalid"
        );
        let ours = bound_claims(
            serde_json::json!({"sid": "s1", "tid": "t1"}),
            serde_json::json!("origin"),
            Some("t1"),
        );
        let key = SessionKey {
            tenant: "t1",
            session: "s1",
        };
        assert_eq!(
            revocation_check(Eventual, &ours),
            Ok(RevocationCheck::DenyList(key))
        );
        assert_eq!(
            revocation_check(Strict, &ours),
            Ok(RevocationCheck::Ledger(key))
        );
        // Issue 10 §1.5: a third-party token naming one of our tenants in `tid` is looked up under
        // its issuer, or under the tenant its configuration assigns, never under its `tid`.
        let third_party = claims(serde_json::json!({"sid": "s2", "tid": "t1"}));
        let key = SessionKey {
            tenant: "https://id.test",
            session: "s2",
        };
        assert_eq!(
            revocation_check(Eventual, &third_party),
            Ok(RevocationCheck::DenyList(key))
        );
        let assigned = bound_claims(
            serde_json::json!({"sid": "s2", "tid": "t1"}),
            serde_json::json!({"assigned": "partner"}),
            None,
        );
        assert_eq!(
            revocation_check(Strict, &assigned),
            Ok(RevocationCheck::Ledger(SessionKey {
                tenant: "partner",
                session: "s2"
            }))
        );
    }

    #[test]
    fn revoking_again_only_ever_extends_the_entry() {
        let mut ledger = SessionLedger::from_entries([("s1".to_owned(), 2_000)]);
        assert_eq!(ledger.revoke("s1", 1_500), None);
        assert_eq!(ledger.revoke("s1", 2_000), None);
        assert!(ledger.revoke("s1", 2_500).is_some());
        assert_eq!(ledger.len(), 1);
    }
}
