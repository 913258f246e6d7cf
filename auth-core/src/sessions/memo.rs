//! An isolate's recent KV answers: per session (its deny entry) and per not-before (a user's, a
//! tenant's).

use super::{
    tenant_not_before_key, user_not_before_key, MalformedNotBefore, RevocationSubject, SessionKey,
    Standing,
};
use crate::ttl_cache::TtlCache;

/// Recent answers of KV, so that an isolate does not read the store on every request.
///
/// Each level is remembered on its own key: a session's deny entry, a user's not-before, a tenant's
/// not-before. A tenant's not-before is the same answer for every token of the tenant, and a
/// user's for every token of the user, so a request of a session not seen lately still finds them
/// here and reads only what it lacks (a new session of a busy tenant: its deny entry and its user's
/// not-before). Both kinds of answer are kept: a revoked session stays revoked, and remembering that
/// spares the store a flood of replays of a revoked token.
///
/// Bound: an answer is reused for at most `ttl_secs`, so on `eventual` routes a revocation at any
/// level can take that much longer to be seen than the store itself needs (Workers KV: about a
/// minute). Strict routes still ask the tenant's ledger on every request.
#[derive(Debug)]
pub struct RevocationMemo {
    /// Deny-entry key → whether the entry exists.
    sessions: TtlCache<String, bool>,
    /// Not-before key (a user's or a tenant's) → its value, `None` for no such key.
    not_befores: TtlCache<String, Option<i64>>,
    ttl_secs: i64,
}

/// A subject's standing as far as the memo knows it, and the KV keys that would complete it
/// ([`RevocationMemo::complete`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvRead {
    known: Standing,
    missing: Vec<(Level, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Session,
    User,
    Tenant,
}

impl KvRead {
    /// The keys to read, in the order the memo asks for them.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.missing.iter().map(|(_, key)| key.as_str())
    }
}

impl RevocationMemo {
    /// At most `capacity` sessions and `capacity` not-befores; `ttl_secs` 0 (or `capacity` 0)
    /// remembers nothing.
    pub fn new(capacity: usize, ttl_secs: i64) -> Self {
        let capacity = if ttl_secs > 0 { capacity } else { 0 };
        RevocationMemo {
            sessions: TtlCache::new(capacity),
            not_befores: TtlCache::new(capacity),
            ttl_secs,
        }
    }

    /// The subject's standing when every level it needs was read less than `ttl_secs` ago (a
    /// session known to be revoked needs nothing else); otherwise what is known and what to read.
    pub fn standing(
        &mut self,
        subject: &RevocationSubject<'_>,
        now: i64,
    ) -> Result<Standing, KvRead> {
        let mut read = KvRead {
            known: Standing::default(),
            missing: Vec::new(),
        };
        if let Some(session) = subject.session_key() {
            let key = session.deny_entry_key();
            match self.sessions.get(&key, now) {
                Some(true) => {
                    return Ok(Standing {
                        session_revoked: true,
                        ..Standing::default()
                    })
                }
                Some(false) => {}
                None => read.missing.push((Level::Session, key)),
            }
        }
        let user = user_not_before_key(subject.tenant, subject.user);
        match self.not_befores.get(&user, now) {
            Some(value) => read.known.user_not_before = value,
            None => read.missing.push((Level::User, user)),
        }
        let tenant = tenant_not_before_key(subject.tenant);
        match self.not_befores.get(&tenant, now) {
            Some(value) => read.known.tenant_not_before = value,
            None => read.missing.push((Level::Tenant, tenant)),
        }
        if read.missing.is_empty() {
            Ok(read.known)
        } else {
            Err(read)
        }
    }

    /// The standing once KV answered `read`'s keys at `now` (`value_of(key)`, `None` for no such
    /// key); each answer is remembered. A garbled not-before is an error, remembered nowhere.
    pub fn complete(
        &mut self,
        read: KvRead,
        mut value_of: impl FnMut(&str) -> Option<String>,
        now: i64,
    ) -> Result<Standing, MalformedNotBefore> {
        let mut standing = read.known;
        let mut answers = Vec::with_capacity(read.missing.len());
        for (level, key) in read.missing {
            let value = value_of(&key);
            match level {
                Level::Session => standing.session_revoked = value.is_some(),
                Level::User => standing.user_not_before = parse_not_before(value.as_deref())?,
                Level::Tenant => standing.tenant_not_before = parse_not_before(value.as_deref())?,
            }
            answers.push((level, key));
        }
        let until = now.saturating_add(self.ttl_secs);
        for (level, key) in answers {
            match level {
                Level::Session => self.sessions.insert(key, standing.session_revoked, until),
                Level::User => self
                    .not_befores
                    .insert(key, standing.user_not_before, until),
                Level::Tenant => self
                    .not_befores
                    .insert(key, standing.tenant_not_before, until),
            }
        }
        Ok(standing)
    }

    /// Forgets a session's answer: its revocation was just recorded here.
    pub fn forget_session(&mut self, session: &SessionKey<'_>) {
        self.sessions.remove(&session.deny_entry_key());
    }

    /// Forgets a not-before's answer (`user` `None`: the tenant's): it was just recorded here.
    pub fn forget_not_before(&mut self, tenant: &str, user: Option<&str>) {
        let key = match user {
            Some(user) => user_not_before_key(tenant, user),
            None => tenant_not_before_key(tenant),
        };
        self.not_befores.remove(&key);
    }
}

/// A not-before as KV holds it: decimal Unix seconds.
fn parse_not_before(value: Option<&str>) -> Result<Option<i64>, MalformedNotBefore> {
    value
        .map(|v| v.trim().parse::<i64>().map_err(|_| MalformedNotBefore))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn alice(session: Option<&str>) -> RevocationSubject<'_> {
        RevocationSubject {
            tenant: "t1",
            session,
            user: "alice",
            issued_at: Some(100),
        }
    }

    /// Completes `read` from `kv`, counting the keys read.
    fn from_kv(
        memo: &mut RevocationMemo,
        subject: &RevocationSubject<'_>,
        kv: &HashMap<&str, &str>,
        now: i64,
    ) -> (Standing, usize) {
        match memo.standing(subject, now) {
            Ok(standing) => (standing, 0),
            Err(read) => {
                let reads = read.keys().len();
                let standing = memo
                    .complete(read, |k| kv.get(k).map(|v| v.to_string()), now)
                    .unwrap();
                (standing, reads)
            }
        }
    }

    #[test]
    fn a_new_session_of_a_known_tenant_reads_only_its_deny_entry_and_its_users_not_before() {
        let kv = HashMap::new();
        let mut memo = RevocationMemo::new(16, 5);
        let first = alice(Some("s1"));
        let read = memo.standing(&first, 100).unwrap_err();
        assert_eq!(
            read.keys().collect::<Vec<_>>(),
            ["deny:2:t1:s1", "nbf:user:2:t1:alice", "nbf:tenant:t1"]
        );
        assert_eq!(from_kv(&mut memo, &first, &kv, 100).1, 3);
        assert_eq!(from_kv(&mut memo, &first, &kv, 104).1, 0, "a hit");
        let bob = RevocationSubject {
            user: "bob",
            ..alice(Some("s2"))
        };
        let read = memo.standing(&bob, 104).unwrap_err();
        assert_eq!(
            read.keys().collect::<Vec<_>>(),
            ["deny:2:t1:s2", "nbf:user:2:t1:bob"],
            "the tenant's not-before is remembered for every session of it"
        );
        let second_of_alice = alice(Some("s3"));
        assert_eq!(
            memo.standing(&second_of_alice, 104)
                .unwrap_err()
                .keys()
                .collect::<Vec<_>>(),
            ["deny:2:t1:s3"]
        );
        assert_eq!(
            memo.standing(&first, 105).unwrap_err().keys().len(),
            3,
            "stale after ttl_secs"
        );
    }

    #[test]
    fn a_token_without_a_session_reads_its_users_and_tenants_not_befores_only() {
        let kv = HashMap::from([("nbf:user:2:t1:alice", "150")]);
        let mut memo = RevocationMemo::new(16, 5);
        let read = memo.standing(&alice(None), 100).unwrap_err();
        assert_eq!(
            read.keys().collect::<Vec<_>>(),
            ["nbf:user:2:t1:alice", "nbf:tenant:t1"]
        );
        let (standing, _) = from_kv(&mut memo, &alice(None), &kv, 100);
        assert_eq!(standing.user_not_before, Some(150));
        assert!(standing.refuses(Some(149)) && !standing.refuses(Some(150)));
        assert_eq!(from_kv(&mut memo, &alice(None), &kv, 101), (standing, 0));
    }

    #[test]
    fn every_level_is_answered_as_kv_said_and_a_revoked_session_needs_nothing_more() {
        let kv = HashMap::from([
            ("deny:2:t1:s1", "1"),
            ("nbf:user:2:t1:alice", "90"),
            ("nbf:tenant:t1", "80"),
        ]);
        let mut memo = RevocationMemo::new(16, 5);
        let (standing, reads) = from_kv(&mut memo, &alice(Some("s1")), &kv, 100);
        assert_eq!(reads, 3);
        assert_eq!(
            standing,
            Standing {
                session_revoked: true,
                user_not_before: Some(90),
                tenant_not_before: Some(80),
            }
        );
        let again = memo.standing(&alice(Some("s1")), 101).unwrap();
        assert!(again.session_revoked && again.refuses(Some(i64::MAX)));
    }

    #[test]
    fn a_garbled_not_before_is_an_error_and_is_not_remembered() {
        let kv = HashMap::from([("nbf:tenant:t1", "soon")]);
        let mut memo = RevocationMemo::new(16, 5);
        let read = memo.standing(&alice(Some("s1")), 100).unwrap_err();
        assert_eq!(
            memo.complete(read, |k| kv.get(k).map(|v| v.to_string()), 100),
            Err(MalformedNotBefore)
        );
        assert_eq!(
            memo.standing(&alice(Some("s1")), 100)
                .unwrap_err()
                .keys()
                .len(),
            3,
            "nothing of a failed answer is kept"
        );
    }

    #[test]
    fn a_local_push_forgets_the_level_it_wrote() {
        let kv = HashMap::new();
        let mut memo = RevocationMemo::new(16, 5);
        let other_tenant = RevocationSubject {
            tenant: "t2",
            ..alice(Some("s1"))
        };
        from_kv(&mut memo, &alice(Some("s1")), &kv, 100);
        from_kv(&mut memo, &other_tenant, &kv, 100);
        memo.forget_session(&SessionKey {
            tenant: "t1",
            session: "s1",
        });
        assert_eq!(
            memo.standing(&alice(Some("s1")), 101)
                .unwrap_err()
                .keys()
                .collect::<Vec<_>>(),
            ["deny:2:t1:s1"]
        );
        from_kv(&mut memo, &alice(Some("s1")), &kv, 101);
        memo.forget_not_before("t1", Some("alice"));
        assert_eq!(
            memo.standing(&alice(Some("s1")), 101)
                .unwrap_err()
                .keys()
                .collect::<Vec<_>>(),
            ["nbf:user:2:t1:alice"]
        );
        from_kv(&mut memo, &alice(Some("s1")), &kv, 101);
        memo.forget_not_before("t1", None);
        assert_eq!(
            memo.standing(&alice(Some("s1")), 101)
                .unwrap_err()
                .keys()
                .collect::<Vec<_>>(),
            ["nbf:tenant:t1"]
        );
        assert!(memo.standing(&other_tenant, 101).is_ok(), "keyed by tenant");
    }

    #[test]
    fn a_zero_ttl_memo_remembers_nothing() {
        let kv = HashMap::new();
        let mut memo = RevocationMemo::new(16, 0);
        from_kv(&mut memo, &alice(Some("s1")), &kv, 100);
        assert_eq!(
            memo.standing(&alice(Some("s1")), 100)
                .unwrap_err()
                .keys()
                .len(),
            3
        );
    }
}
