//! Sessions and their revocation at the edge: what a verified token is checked against, and the
//! per-tenant state machine its Durable Object runs ([`TenantLedger`]).
//!
//! A token is refused at three levels, whichever says so first:
//!
//! 1. its **session** (`sid`) is revoked;
//! 2. its **user's not-before** ("sign out everywhere") is later than its `iat`;
//! 3. its **tenant's not-before** (after a breach) is later than its `iat`.
//!
//! A not-before is a whole Unix second `T` and refuses every token whose `iat < T`. The origin sets
//! it to the second its sweep ran in and revokes every session of the user (or tenant) in the same
//! transaction, each with its own notice: a token minted earlier in that same second is refused by
//! its session's entry, and a session opened after the sweep keeps working from its first token.
//!
//! `eventual` routes read all three from Workers KV in one bulk read (deny entry, user not-before,
//! tenant not-before: [`SessionKey::kv_keys`]) and an isolate reuses the answer
//! ([`RevocationMemo`]); `strict` routes ask the tenant's object, which holds all three.

mod ledger;
mod memo;

pub use ledger::{
    LiveSession, NotBefore, NotBeforeScope, SessionEntry, StorageChange, TenantLedger,
    MAX_CLIENT_CHARS, MAX_LIVE_SESSIONS,
};
pub use memo::RevocationMemo;

use crate::claims::VerifiedClaims;
use crate::policy::Revocation;
use crate::reject::Rejection;

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

    /// The three KV keys an `eventual` route reads together for a token of this session and `user`:
    /// the deny entry, the user's not-before, the tenant's not-before.
    pub fn kv_keys(&self, user: &str) -> [String; 3] {
        [
            self.deny_entry_key(),
            user_not_before_key(self.tenant, user),
            tenant_not_before_key(self.tenant),
        ]
    }
}

/// A user's not-before in KV: `nbf:user:{byte length of tenant}:{tenant}:{user}` (length-prefixed
/// like deny entries, so no two (tenant, user) pairs share one). The value is the not-before in
/// decimal Unix seconds.
pub fn user_not_before_key(tenant: &str, user: &str) -> String {
    format!("nbf:user:{}:{tenant}:{user}", tenant.len())
}

/// A tenant's not-before in KV: `nbf:tenant:{tenant}`, valued like a user's.
pub fn tenant_not_before_key(tenant: &str) -> String {
    format!("nbf:tenant:{tenant}")
}

/// What the revocation check knows about a verified token: its session, its user (`sub`) and when
/// it was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationSubject<'c> {
    pub key: SessionKey<'c>,
    pub user: &'c str,
    /// `iat`; a token without one cannot show it was issued after a not-before.
    pub issued_at: Option<i64>,
}

/// What the stores say about a session, its user and its tenant: the three levels of revocation.
/// The decision for one token is [`refuses`](Self::refuses).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    pub session_revoked: bool,
    pub user_not_before: Option<i64>,
    pub tenant_not_before: Option<i64>,
}

/// A KV value that should hold a not-before and does not: the store's answer is unusable, and the
/// check fails closed (503), never open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stored not-before is not a Unix time")]
pub struct MalformedNotBefore;

impl Standing {
    /// Whether a token issued at `issued_at` is refused: its session is revoked, or a not-before
    /// lies after its `iat` (or it has no `iat` while a not-before exists).
    pub fn refuses(&self, issued_at: Option<i64>) -> bool {
        if self.session_revoked {
            return true;
        }
        let not_before = match (self.user_not_before, self.tenant_not_before) {
            (None, None) => return false,
            (a, b) => a.max(b),
        };
        match (issued_at, not_before) {
            (Some(iat), Some(nbf)) => iat < nbf,
            _ => true,
        }
    }

    /// The standing read from KV's values of [`SessionKey::kv_keys`], in that order (`None`: no
    /// such key).
    pub fn from_kv(
        deny_entry: Option<&str>,
        user_not_before: Option<&str>,
        tenant_not_before: Option<&str>,
    ) -> Result<Standing, MalformedNotBefore> {
        let parse = |value: Option<&str>| {
            value
                .map(|v| v.trim().parse::<i64>().map_err(|_| MalformedNotBefore))
                .transpose()
        };
        Ok(Standing {
            session_revoked: deny_entry.is_some(),
            user_not_before: parse(user_not_before)?,
            tenant_not_before: parse(tenant_not_before)?,
        })
    }
}

/// Which revocation stores a request must consult.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationCheck<'c> {
    /// The token has no session: nothing can revoke it before it expires.
    Nothing,
    /// KV: the deny entry and both not-befores, in one read (eventual routes).
    DenyList(RevocationSubject<'c>),
    /// The tenant's Durable Object alone (strict routes). It holds every revocation KV does (a push
    /// records it there first, and keeps it longer), so reading KV too would only cost a read, and
    /// would let a broken ledger hide behind KV's answer.
    Ledger(RevocationSubject<'c>),
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
    let subject = RevocationSubject {
        key: SessionKey::of(claims.tenant(), claims.issuer(), session),
        user: claims.subject(),
        issued_at: claims.issued_at(),
    };
    Ok(match mode {
        Revocation::Strict => RevocationCheck::Ledger(subject),
        Revocation::Eventual => RevocationCheck::DenyList(subject),
    })
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
                let user_key = user_not_before_key(tenant, session);
                assert!(
                    seen.insert(user_key.clone(), (tenant, session)).is_none(),
                    "{user_key:?} is taken"
                );
            }
            assert!(seen
                .insert(tenant_not_before_key(tenant), (tenant, tenant))
                .is_none());
        }
        assert_eq!(seen.len(), 85 * 85 * 2 + 85);
        assert_eq!(
            SessionKey {
                tenant: "t1",
                session: "s:1"
            }
            .kv_keys("u1"),
            ["deny:2:t1:s:1", "nbf:user:2:t1:u1", "nbf:tenant:t1"]
        );
    }

    #[test]
    fn each_level_refuses_what_it_covers_and_nothing_issued_from_its_instant_on() {
        let clear = Standing::default();
        assert!(!clear.refuses(Some(100)));
        assert!(!clear.refuses(None), "no not-before: iat is not needed");
        let session = Standing {
            session_revoked: true,
            ..Standing::default()
        };
        assert!(session.refuses(Some(i64::MAX)));
        for standing in [
            Standing {
                user_not_before: Some(100),
                ..Standing::default()
            },
            Standing {
                tenant_not_before: Some(100),
                ..Standing::default()
            },
            Standing {
                user_not_before: Some(40),
                tenant_not_before: Some(100),
                ..Standing::default()
            },
            Standing {
                user_not_before: Some(100),
                tenant_not_before: Some(40),
                ..Standing::default()
            },
        ] {
            assert!(standing.refuses(Some(99)), "{standing:?}: issued before");
            assert!(!standing.refuses(Some(100)), "{standing:?}: issued at T");
            assert!(!standing.refuses(Some(101)), "{standing:?}: issued after");
            assert!(standing.refuses(None), "{standing:?}: no iat, no proof");
        }
    }

    #[test]
    fn kv_values_make_a_standing_and_a_garbled_not_before_is_an_error_not_a_pass() {
        assert_eq!(
            Standing::from_kv(Some("1"), Some("100"), None),
            Ok(Standing {
                session_revoked: true,
                user_not_before: Some(100),
                tenant_not_before: None,
            })
        );
        assert_eq!(Standing::from_kv(None, None, None), Ok(Standing::default()));
        assert_eq!(
            Standing::from_kv(None, None, Some("soon")),
            Err(MalformedNotBefore)
        );
    }

    /// Claims of `https://id.test` bound by `binding`, verified by a key of `key_tenant`'s set.
    fn bound_claims(
        extra: serde_json::Value,
        binding: serde_json::Value,
        key_tenant: Option<&str>,
    ) -> VerifiedClaims {
        let mut c = serde_json::json!({"iss": "https://id.test", "sub": "u", "aud": "api",
            "exp": 2_000, "iat": 900});
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

    fn subject<'c>(tenant: &'c str, session: &'c str) -> RevocationSubject<'c> {
        RevocationSubject {
            key: SessionKey { tenant, session },
            user: "u",
            issued_at: Some(900),
        }
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
        assert_eq!(
            revocation_check(Eventual, &ours),
            Ok(RevocationCheck::DenyList(subject("t1", "s1")))
        );
        assert_eq!(
            revocation_check(Strict, &ours),
            Ok(RevocationCheck::Ledger(subject("t1", "s1")))
        );
        // Issue 10 §1.5: a third-party token naming one of our tenants in `tid` is looked up under
        // its issuer, or under the tenant its configuration assigns, never under its `tid`.
        let third_party = claims(serde_json::json!({"sid": "s2", "tid": "t1"}));
        assert_eq!(
            revocation_check(Eventual, &third_party),
            Ok(RevocationCheck::DenyList(subject("https://id.test", "s2")))
        );
        let assigned = bound_claims(
            serde_json::json!({"sid": "s2", "tid": "t1"}),
            serde_json::json!({"assigned": "partner"}),
            None,
        );
        assert_eq!(
            revocation_check(Strict, &assigned),
            Ok(RevocationCheck::Ledger(subject("partner", "s2")))
        );
    }
}
