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
//! `eventual` routes read all three from Workers KV (deny entry, user not-before, tenant
//! not-before), and an isolate reuses each answer for `REVOCATION_CACHE_SECONDS`
//! ([`RevocationMemo`]: a request reads only the levels it does not hold); `strict` routes ask the
//! tenant's object, which holds all three. A token without `sid` is checked against its user's and
//! tenant's not-befores on `eventual` routes and refused on `strict` ones ([`revocation_check`]).

mod ledger;
mod memo;

pub use ledger::{
    LiveSession, NotBefore, NotBeforeScope, SessionEntry, StorageChange, TenantLedger,
    MAX_CLIENT_CHARS, MAX_LIVE_SESSIONS,
};
pub use memo::{KvRead, RevocationMemo};

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

/// What the revocation check knows about a verified token: its tenant, its session if it names
/// one, its user (`sub`) and when it was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationSubject<'c> {
    /// The tenant the token is bound to (`claims::TenantBinding`), else its issuer (a third-party
    /// issuer bound to none of our tenants is its own).
    pub tenant: &'c str,
    /// `sid`. Our origin puts one in every access token; most third-party access tokens carry none
    /// ([`revocation_check`]).
    pub session: Option<&'c str>,
    pub user: &'c str,
    /// `iat`; a token without one cannot show it was issued after a not-before.
    pub issued_at: Option<i64>,
}

impl<'c> RevocationSubject<'c> {
    /// The token's session, when it names one.
    pub fn session_key(&self) -> Option<SessionKey<'c>> {
        self.session.map(|session| SessionKey {
            tenant: self.tenant,
            session,
        })
    }
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
}

/// Which revocation store a request must consult.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationCheck<'c> {
    /// KV (eventual routes): the session's deny entry when the token names a session, and the
    /// not-befores of its user and its tenant, each remembered by the isolate for a while
    /// ([`RevocationMemo`]).
    DenyList(RevocationSubject<'c>),
    /// The tenant's Durable Object alone (strict routes), for a token that names its session. It
    /// holds every revocation KV does (a push records it there first, and keeps it longer), so
    /// reading KV too would only cost a read, and would let a broken ledger hide behind KV's answer.
    Ledger(RevocationSubject<'c>),
}

/// The revocation check a verified token needs on a route with `mode`.
///
/// A token without `sid`: strict routes refuse it (`claims_invalid`), since a strict route promises
/// that a revoked session is refused on its next request and such a token names no session.
/// Eventual routes check it against its user's and its tenant's not-befores, by `sub`, rather than
/// refuse it: third-party IdPs mostly issue access tokens without `sid` (Auth0, Okta, Entra ID,
/// Google, Cognito; Keycloak sends one), so refusing would lock them out of every eventual route,
/// and the not-befores are the revocation that reaches them. Our origin puts a `sid` in every
/// access token, so for its issuers the branch costs nothing, and a token without one (which the
/// origin never mints) is still refused by a sign out everywhere or a tenant not-before, as every
/// older token of the user must be.
pub fn revocation_check(
    mode: Revocation,
    claims: &VerifiedClaims,
) -> Result<RevocationCheck<'_>, Rejection> {
    let subject = RevocationSubject {
        tenant: claims.tenant().unwrap_or(claims.issuer()),
        session: claims.session(),
        user: claims.subject(),
        issued_at: claims.issued_at(),
    };
    match (mode, subject.session) {
        (Revocation::Eventual, _) => Ok(RevocationCheck::DenyList(subject)),
        (Revocation::Strict, Some(_)) => Ok(RevocationCheck::Ledger(subject)),
        (Revocation::Strict, None) => Err(Rejection::ClaimsInvalid(
            "strict revocation needs a sid claim",
        )),
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

    fn subject<'c>(tenant: &'c str, session: Option<&'c str>) -> RevocationSubject<'c> {
        RevocationSubject {
            tenant,
            session,
            user: "u",
            issued_at: Some(900),
        }
    }

    #[test]
    fn strict_routes_refuse_tokens_without_a_session_and_name_the_ledger() {
        use crate::policy::Revocation::{Eventual, Strict};
        let none = claims(serde_json::json!({}));
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
            Ok(RevocationCheck::DenyList(subject("t1", Some("s1"))))
        );
        assert_eq!(
            revocation_check(Strict, &ours),
            Ok(RevocationCheck::Ledger(subject("t1", Some("s1"))))
        );
        // Issue 10 §1.5: a third-party token naming one of our tenants in `tid` is looked up under
        // its issuer, or under the tenant its configuration assigns, never under its `tid`.
        let third_party = claims(serde_json::json!({"sid": "s2", "tid": "t1"}));
        assert_eq!(
            revocation_check(Eventual, &third_party),
            Ok(RevocationCheck::DenyList(subject(
                "https://id.test",
                Some("s2")
            )))
        );
        let assigned = bound_claims(
            serde_json::json!({"sid": "s2", "tid": "t1"}),
            serde_json::json!({"assigned": "partner"}),
            None,
        );
        assert_eq!(
            revocation_check(Strict, &assigned),
            Ok(RevocationCheck::Ledger(subject("partner", Some("s2"))))
        );
    }

    #[test]
    fn eventual_routes_check_a_token_without_a_session_against_its_users_and_tenants_not_befores() {
        use crate::policy::Revocation::Eventual;
        // A third-party access token without `sid` (Auth0's, Okta's, Entra ID's): looked up by
        // `sub` under its issuer, or under the tenant its configuration assigns.
        let third_party = claims(serde_json::json!({}));
        assert_eq!(
            revocation_check(Eventual, &third_party),
            Ok(RevocationCheck::DenyList(subject("https://id.test", None)))
        );
        let assigned = bound_claims(
            serde_json::json!({"tid": "t1"}),
            serde_json::json!({"assigned": "partner"}),
            None,
        );
        assert_eq!(
            revocation_check(Eventual, &assigned),
            Ok(RevocationCheck::DenyList(subject("partner", None)))
        );
        // One of our origin's issuers (its tokens always carry `sid`): a token without one is
        // looked up under the tenant the issuer belongs to, like its other tokens.
        let ours = bound_claims(
            serde_json::json!({"tid": "t1"}),
            serde_json::json!("origin"),
            Some("t1"),
        );
        let RevocationCheck::DenyList(found) = revocation_check(Eventual, &ours).unwrap() else {
            panic!("an eventual route reads KV");
        };
        assert_eq!(found, subject("t1", None));

        // What KV says of its user and tenant then decides, as for a token with a session.
        let mut memo = RevocationMemo::new(16, 5);
        let read = memo.standing(&found, 1_000).unwrap_err();
        assert_eq!(
            read.keys().collect::<Vec<_>>(),
            ["nbf:user:2:t1:u", "nbf:tenant:t1"],
            "no deny entry: the token names no session"
        );
        for (user_nbf, tenant_nbf, refused) in [
            (None, None, false),
            (Some("901"), None, true),
            (Some("900"), None, false),
            (None, Some("901"), true),
            (Some("800"), Some("950"), true),
        ] {
            let mut memo = RevocationMemo::new(16, 5);
            let read = memo.standing(&found, 1_000).unwrap_err();
            let standing = memo
                .complete(
                    read,
                    |key| match key {
                        "nbf:user:2:t1:u" => user_nbf.map(str::to_owned),
                        _ => tenant_nbf.map(str::to_owned),
                    },
                    1_000,
                )
                .unwrap();
            assert_eq!(
                standing.refuses(found.issued_at),
                refused,
                "iat 900, user not-before {user_nbf:?}, tenant not-before {tenant_nbf:?}"
            );
        }
    }
}
