//! The per-tenant revocation ledger kept by the tenant's Durable Object.
//!
//! Pure state machine: the Durable Object shell loads entries from its storage, feeds commands in and
//! applies the [`StorageChange`]s that come out. Time is passed in.

use crate::claims::MAX_LEEWAY_SECS;
use std::collections::BTreeMap;

/// Invariant: a revocation is kept until no token of its session can pass validation anymore, i.e.
/// the session's last token expiry plus the largest leeway any issuer may be configured with.
pub const RETENTION_AFTER_EXPIRY_SECS: i64 = MAX_LEEWAY_SECS as i64;

/// What the shell must write to storage after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageChange {
    Upsert { session_id: String, expires_at: i64 },
    Delete { session_ids: Vec<String> },
}

/// Revoked sessions of one tenant, each with the expiry after which it can be forgotten.
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

    /// Whether a session is revoked. An entry past retention still answers `true` until purged: the
    /// ledger errs on the side of refusing.
    pub fn is_revoked(&self, session_id: &str) -> bool {
        self.revoked.contains_key(session_id)
    }

    /// Forgets revocations past retention.
    pub fn purge(&mut self, now: i64) -> Option<StorageChange> {
        let expired: Vec<String> = self
            .revoked
            .iter()
            .filter(|(_, &exp)| exp.saturating_add(RETENTION_AFTER_EXPIRY_SECS) < now)
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
    fn a_revoked_session_stays_revoked_until_retention_passes() {
        let mut ledger = SessionLedger::default();
        assert_eq!(
            ledger.revoke("s1", 1_000),
            Some(StorageChange::Upsert {
                session_id: "s1".into(),
                expires_at: 1_000
            })
        );
        assert!(ledger.is_revoked("s1"));
        assert!(!ledger.is_revoked("s2"));
        assert_eq!(ledger.purge(1_000 + RETENTION_AFTER_EXPIRY_SECS), None);
        assert!(ledger.is_revoked("s1"));
        assert_eq!(
            ledger.purge(1_001 + RETENTION_AFTER_EXPIRY_SECS),
            Some(StorageChange::Delete {
                session_ids: vec!["s1".into()]
            })
        );
        assert!(!ledger.is_revoked("s1"));
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
