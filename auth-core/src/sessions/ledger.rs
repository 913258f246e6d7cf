//! The tenant's session state, as its Durable Object keeps it: live sessions, revoked sessions, and
//! the user and tenant not-befores.
//!
//! Pure state machine: the shell loads the stored entries, feeds commands in and writes the
//! [`StorageChange`]s that come out. Time is passed in.
//!
//! Growth is bounded:
//! - **live sessions** (opened or refreshed, not revoked) by [`MAX_LIVE_SESSIONS`]: at the bound the
//!   one least recently refreshed is dropped to make room. That loses only what the ledger knew about
//!   it (its listing, and the sweep of a later not-before, which refuses its tokens anyway); never a
//!   revocation;
//! - **revocations** (sessions and not-befores) by time alone: each is kept until its `expires_at`,
//!   past which no token it covers can pass validation at the edge (issue 10 §1.1), and never dropped
//!   earlier, whatever their number. So they number at most the revocations the origin made in the
//!   last access-token lifetime plus the edge's largest leeway and the skew margin (≤ 1 h + 6 min);
//! - every entry, live or not, is forgotten at its [`forget_after`](SessionEntry::forget_after) by
//!   [`purge`](TenantLedger::purge), which the shell runs on writes and from its alarm at
//!   [`next_purge`](TenantLedger::next_purge).

use super::Standing;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Live sessions one tenant's ledger holds at most. At about 300 bytes each in memory and in SQLite,
/// 10,000 cost ~3 MB, and loading them when the object wakes stays in the tens of milliseconds. A
/// tenant with more concurrent sessions loses the listing of its least recently refreshed ones (its
/// revocations are all kept).
pub const MAX_LIVE_SESSIONS: usize = 10_000;
/// Longest client description kept (the origin's `sessions.client` holds as much).
pub const MAX_CLIENT_CHARS: usize = 64;

/// A session as the origin described it when it opened or last refreshed it (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveSession {
    pub user_id: String,
    pub created_at: i64,
    pub last_refreshed_at: i64,
    /// When the session ends whatever its use.
    pub expires_at: i64,
    /// A short description of the client, e.g. "Firefox on Linux".
    pub client: String,
}

/// What the ledger knows about one session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionEntry {
    /// `None` when only the session's revocation reached the ledger.
    pub live: Option<LiveSession>,
    /// Set once revoked: the revocation's `expires_at`, until which the entry is kept.
    pub revoked_until: Option<i64>,
}

impl SessionEntry {
    pub fn is_revoked(&self) -> bool {
        self.revoked_until.is_some()
    }

    /// Counts against [`MAX_LIVE_SESSIONS`].
    fn is_live(&self) -> bool {
        self.live.is_some() && !self.is_revoked()
    }

    /// When the entry may be forgotten: a revoked session's once its revocation can no longer
    /// matter, a live one's when the session ends.
    pub fn forget_after(&self) -> i64 {
        match (self.revoked_until, &self.live) {
            (Some(until), _) => until,
            (None, Some(live)) => live.expires_at,
            (None, None) => i64::MIN,
        }
    }
}

/// Whose not-before.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotBeforeScope {
    /// Every token of the tenant.
    Tenant,
    /// Every token of one user (`sub`).
    User(String),
}

/// Tokens issued before `not_before` are refused; after `expires_at` none of them can pass anyway,
/// and the record may be forgotten. Both only ever move forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotBefore {
    pub not_before: i64,
    pub expires_at: i64,
}

impl NotBefore {
    fn merged(self, other: NotBefore) -> NotBefore {
        NotBefore {
            not_before: self.not_before.max(other.not_before),
            expires_at: self.expires_at.max(other.expires_at),
        }
    }
}

/// What the shell must write to storage after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageChange {
    PutSession {
        session_id: String,
        entry: SessionEntry,
    },
    DeleteSessions {
        session_ids: Vec<String>,
    },
    PutNotBefore {
        scope: NotBeforeScope,
        not_before: NotBefore,
    },
    DeleteNotBefores {
        scopes: Vec<NotBeforeScope>,
    },
}

/// One tenant's sessions and not-befores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantLedger {
    sessions: BTreeMap<String, SessionEntry>,
    users: BTreeMap<String, NotBefore>,
    tenant: Option<NotBefore>,
    /// Entries that are [`SessionEntry::is_live`].
    live: usize,
}

impl TenantLedger {
    /// Rebuilds the ledger from stored entries.
    pub fn from_stored(
        sessions: impl IntoIterator<Item = (String, SessionEntry)>,
        not_befores: impl IntoIterator<Item = (NotBeforeScope, NotBefore)>,
    ) -> Self {
        let mut ledger = TenantLedger::default();
        for (id, entry) in sessions {
            ledger.put(id, entry);
        }
        for (scope, not_before) in not_befores {
            match scope {
                NotBeforeScope::Tenant => ledger.tenant = Some(not_before),
                NotBeforeScope::User(user) => {
                    ledger.users.insert(user, not_before);
                }
            }
        }
        ledger
    }

    /// The origin opened or refreshed a session. A session already revoked stays revoked; one
    /// opened before a not-before of its user or tenant is recorded as swept by it (the origin
    /// revoked it then; this report came late). Ended sessions are not recorded.
    pub fn session_seen(
        &mut self,
        session_id: &str,
        mut seen: LiveSession,
        now: i64,
    ) -> Vec<StorageChange> {
        if seen.expires_at < now {
            return Vec::new();
        }
        if let Some((cut, _)) = seen.client.char_indices().nth(MAX_CLIENT_CHARS) {
            seen.client.truncate(cut);
        }
        let mut changes = Vec::new();
        let current = self.sessions.get(session_id);
        let mut entry = match current {
            Some(current) => {
                let mut entry = current.clone();
                if let Some(previous) = &current.live {
                    seen.last_refreshed_at = seen.last_refreshed_at.max(previous.last_refreshed_at);
                }
                entry.live = Some(seen);
                entry
            }
            None => {
                if self.live >= MAX_LIVE_SESSIONS {
                    changes.extend(self.evict_least_recently_refreshed());
                }
                SessionEntry {
                    live: Some(seen),
                    revoked_until: None,
                }
            }
        };
        if !entry.is_revoked() {
            if let Some(live) = &entry.live {
                entry.revoked_until = self
                    .covering_not_before(&live.user_id, live.created_at)
                    .map(|nb| nb.expires_at);
            }
        }
        if self.sessions.get(session_id) != Some(&entry) {
            changes.push(self.put(session_id.to_owned(), entry));
        }
        changes
    }

    /// Records a revocation kept until `expires_at`. Revoking twice keeps the later instant; a no-op
    /// yields no change.
    pub fn revoke(&mut self, session_id: &str, expires_at: i64) -> Option<StorageChange> {
        let mut entry = self.sessions.get(session_id).cloned().unwrap_or_default();
        if entry.revoked_until.is_some_and(|until| until >= expires_at) {
            return None;
        }
        entry.revoked_until = Some(expires_at);
        Some(self.put(session_id.to_owned(), entry))
    }

    /// Records a not-before and sweeps the live sessions it covers (opened before it) into revoked
    /// ones. Answers the not-before now in force, which is never earlier than one recorded before.
    pub fn set_not_before(
        &mut self,
        scope: NotBeforeScope,
        not_before: NotBefore,
    ) -> (NotBefore, Vec<StorageChange>) {
        let current = match &scope {
            NotBeforeScope::Tenant => self.tenant,
            NotBeforeScope::User(user) => self.users.get(user).copied(),
        };
        let merged = current.map_or(not_before, |c| c.merged(not_before));
        let mut changes = Vec::new();
        if current != Some(merged) {
            match &scope {
                NotBeforeScope::Tenant => self.tenant = Some(merged),
                NotBeforeScope::User(user) => {
                    self.users.insert(user.clone(), merged);
                }
            }
            changes.push(StorageChange::PutNotBefore {
                scope: scope.clone(),
                not_before: merged,
            });
        }
        let swept: Vec<(String, SessionEntry)> = self
            .sessions
            .iter()
            .filter(|(_, entry)| {
                entry.is_live()
                    && entry.live.as_ref().is_some_and(|live| {
                        live.created_at < merged.not_before
                            && match &scope {
                                NotBeforeScope::Tenant => true,
                                NotBeforeScope::User(user) => &live.user_id == user,
                            }
                    })
            })
            .map(|(id, entry)| {
                let mut entry = entry.clone();
                entry.revoked_until = Some(merged.expires_at);
                (id.clone(), entry)
            })
            .collect();
        for (id, entry) in swept {
            changes.push(self.put(id, entry));
        }
        (merged, changes)
    }

    /// The three levels for a token of `session_id` whose `sub` is `user`. An entry past its
    /// instant still counts until purged: the ledger errs on the side of refusing.
    pub fn standing(&self, session_id: &str, user: &str) -> Standing {
        Standing {
            session_revoked: self
                .sessions
                .get(session_id)
                .is_some_and(SessionEntry::is_revoked),
            user_not_before: self.users.get(user).map(|nb| nb.not_before),
            tenant_not_before: self.tenant.map(|nb| nb.not_before),
        }
    }

    /// A user's sessions the ledger knows about, revoked or not, most recently refreshed first.
    pub fn sessions_of(&self, user: &str) -> Vec<(&str, &SessionEntry)> {
        let mut found: Vec<(&str, &SessionEntry)> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.live.as_ref().is_some_and(|l| l.user_id == user))
            .map(|(id, e)| (id.as_str(), e))
            .collect();
        found.sort_by_key(|(id, e)| {
            let refreshed = e.live.as_ref().map_or(0, |l| l.last_refreshed_at);
            (std::cmp::Reverse(refreshed), *id)
        });
        found
    }

    /// Forgets every entry whose instant has passed.
    pub fn purge(&mut self, now: i64) -> Vec<StorageChange> {
        let mut changes = Vec::new();
        let expired: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, entry)| entry.forget_after() < now)
            .map(|(id, _)| id.clone())
            .collect();
        if !expired.is_empty() {
            for id in &expired {
                self.remove(id);
            }
            changes.push(StorageChange::DeleteSessions {
                session_ids: expired,
            });
        }
        let mut scopes: Vec<NotBeforeScope> = self
            .users
            .iter()
            .filter(|(_, nb)| nb.expires_at < now)
            .map(|(user, _)| NotBeforeScope::User(user.clone()))
            .collect();
        self.users.retain(|_, nb| nb.expires_at >= now);
        if self.tenant.is_some_and(|nb| nb.expires_at < now) {
            self.tenant = None;
            scopes.push(NotBeforeScope::Tenant);
        }
        if !scopes.is_empty() {
            changes.push(StorageChange::DeleteNotBefores { scopes });
        }
        changes
    }

    /// When the next [`purge`](Self::purge) has something to forget (Unix s): the shell's alarm.
    pub fn next_purge(&self) -> Option<i64> {
        let sessions = self.sessions.values().map(SessionEntry::forget_after);
        let not_befores = self
            .users
            .values()
            .chain(&self.tenant)
            .map(|nb| nb.expires_at);
        sessions
            .chain(not_befores)
            .min()
            .map(|at| at.saturating_add(1))
    }

    /// Sessions held, revoked or not.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.users.is_empty() && self.tenant.is_none()
    }

    /// Live sessions held (at most [`MAX_LIVE_SESSIONS`]).
    pub fn live_sessions(&self) -> usize {
        self.live
    }

    /// The latest not-before of the user's or the tenant's that a session opened at `created_at`
    /// falls under.
    fn covering_not_before(&self, user: &str, created_at: i64) -> Option<NotBefore> {
        [self.users.get(user).copied(), self.tenant]
            .into_iter()
            .flatten()
            .filter(|nb| created_at < nb.not_before)
            .max_by_key(|nb| nb.expires_at)
    }

    fn evict_least_recently_refreshed(&mut self) -> Option<StorageChange> {
        let oldest = self
            .sessions
            .iter()
            .filter(|(_, e)| e.is_live())
            .min_by_key(|(id, e)| (e.live.as_ref().map_or(0, |l| l.last_refreshed_at), *id))
            .map(|(id, _)| id.clone())?;
        self.remove(&oldest);
        Some(StorageChange::DeleteSessions {
            session_ids: vec![oldest],
        })
    }

    fn put(&mut self, session_id: String, entry: SessionEntry) -> StorageChange {
        if entry.is_live() {
            self.live += 1;
        }
        if let Some(previous) = self.sessions.insert(session_id.clone(), entry.clone()) {
            if previous.is_live() {
                self.live -= 1;
            }
        }
        StorageChange::PutSession { session_id, entry }
    }

    fn remove(&mut self, session_id: &str) {
        if let Some(previous) = self.sessions.remove(session_id) {
            if previous.is_live() {
                self.live -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(user: &str, at: i64) -> LiveSession {
        LiveSession {
            user_id: user.into(),
            created_at: at,
            last_refreshed_at: at,
            expires_at: at + 30 * 86_400,
            client: "Firefox on Linux".into(),
        }
    }

    fn user(id: &str) -> NotBeforeScope {
        NotBeforeScope::User(id.into())
    }

    #[test]
    fn a_revoked_session_stays_revoked_through_its_notices_instant_and_is_purged_after() {
        let mut ledger = TenantLedger::default();
        assert_eq!(ledger.next_purge(), None);
        assert_eq!(
            ledger.revoke("s1", 1_000),
            Some(StorageChange::PutSession {
                session_id: "s1".into(),
                entry: SessionEntry {
                    live: None,
                    revoked_until: Some(1_000)
                }
            })
        );
        ledger.revoke("s2", 2_000);
        assert!(ledger.standing("s1", "u").session_revoked);
        assert!(!ledger.standing("s3", "u").session_revoked);
        assert_eq!(
            ledger.next_purge(),
            Some(1_001),
            "the alarm of the earliest"
        );
        assert_eq!(ledger.purge(1_000), vec![]);
        assert!(ledger.standing("s1", "u").session_revoked);
        assert_eq!(
            ledger.purge(1_001),
            vec![StorageChange::DeleteSessions {
                session_ids: vec!["s1".into()]
            }]
        );
        assert!(!ledger.standing("s1", "u").session_revoked);
        assert!(ledger.standing("s2", "u").session_revoked);
        assert_eq!(ledger.next_purge(), Some(2_001));
    }

    #[test]
    fn revoking_again_only_ever_extends_the_entry() {
        let mut ledger = TenantLedger::default();
        ledger.revoke("s1", 2_000);
        assert_eq!(ledger.revoke("s1", 1_500), None);
        assert_eq!(ledger.revoke("s1", 2_000), None);
        assert!(ledger.revoke("s1", 2_500).is_some());
        assert_eq!(ledger.len(), 1);
    }

    #[test]
    fn an_opened_session_is_listed_refreshed_and_forgotten_when_it_ends() {
        let mut ledger = TenantLedger::default();
        let session = opened("alice", 100);
        let ends = session.expires_at;
        assert_eq!(ledger.session_seen("s1", session.clone(), 100).len(), 1);
        assert_eq!(ledger.live_sessions(), 1);
        let mut refreshed = session.clone();
        refreshed.last_refreshed_at = 400;
        ledger.session_seen("s1", refreshed, 400);
        let mut late = session.clone();
        late.last_refreshed_at = 200;
        assert_eq!(
            ledger.session_seen("s1", late, 401),
            vec![],
            "a report older than what is known changes nothing"
        );
        let listed = ledger.sessions_of("alice");
        assert_eq!(listed.len(), 1);
        let (id, entry) = listed[0];
        assert_eq!(id, "s1");
        assert_eq!(entry.live.as_ref().unwrap().last_refreshed_at, 400);
        assert!(!entry.is_revoked());
        assert!(ledger.sessions_of("bob").is_empty());
        assert!(!ledger.standing("s1", "alice").refuses(Some(400)));
        assert_eq!(ledger.next_purge(), Some(ends + 1));
        ledger.purge(ends + 1);
        assert!(ledger.is_empty());
        assert_eq!(ledger.live_sessions(), 0);
        assert_eq!(
            ledger.session_seen("s2", opened("alice", 0), ends + 1),
            vec![],
            "an ended session is not recorded"
        );
    }

    #[test]
    fn a_revoked_session_stays_revoked_when_a_late_report_of_it_arrives() {
        let mut ledger = TenantLedger::default();
        ledger.session_seen("s1", opened("alice", 100), 100);
        ledger.revoke("s1", 1_000);
        assert_eq!(ledger.live_sessions(), 0, "revoked sessions are not live");
        ledger.session_seen("s1", opened("alice", 100), 150);
        assert!(ledger.standing("s1", "alice").session_revoked);
        assert_eq!(ledger.live_sessions(), 0);
        assert_eq!(
            ledger.next_purge(),
            Some(1_001),
            "forgotten when its revocation can no longer matter, not when the session would end"
        );
    }

    #[test]
    fn a_users_not_before_refuses_older_tokens_of_that_user_only_and_sweeps_their_sessions() {
        let mut ledger = TenantLedger::default();
        ledger.session_seen("a1", opened("alice", 100), 100);
        ledger.session_seen("a2", opened("alice", 150), 150);
        ledger.session_seen("b1", opened("bob", 100), 100);
        let (in_force, changes) = ledger.set_not_before(
            user("alice"),
            NotBefore {
                not_before: 200,
                expires_at: 4_000,
            },
        );
        assert_eq!(in_force.not_before, 200);
        assert_eq!(
            changes.len(),
            3,
            "the not-before and both of alice's sessions"
        );
        for session in ["a1", "a2"] {
            let entry = ledger
                .sessions_of("alice")
                .into_iter()
                .find(|(id, _)| *id == session);
            assert_eq!(entry.unwrap().1.revoked_until, Some(4_000));
        }
        assert!(ledger.standing("x", "alice").refuses(Some(199)));
        assert!(!ledger.standing("x", "alice").refuses(Some(200)));
        assert!(!ledger.standing("b1", "bob").refuses(Some(100)));
        assert_eq!(ledger.live_sessions(), 1);

        // A session opened after the not-before works, and a late report of one opened before is
        // recorded as swept.
        ledger.session_seen("a3", opened("alice", 200), 200);
        assert!(!ledger.standing("a3", "alice").refuses(Some(200)));
        ledger.session_seen("a0", opened("alice", 50), 201);
        assert!(ledger.standing("a0", "alice").session_revoked);
    }

    #[test]
    fn a_not_before_only_moves_forward_and_is_forgotten_at_its_instant() {
        let mut ledger = TenantLedger::default();
        let later = NotBefore {
            not_before: 500,
            expires_at: 5_000,
        };
        ledger.set_not_before(NotBeforeScope::Tenant, later);
        let (in_force, changes) = ledger.set_not_before(
            NotBeforeScope::Tenant,
            NotBefore {
                not_before: 300,
                expires_at: 4_000,
            },
        );
        assert_eq!(
            in_force, later,
            "an older notice pushed late changes nothing"
        );
        assert!(changes.is_empty());
        let (in_force, _) = ledger.set_not_before(
            NotBeforeScope::Tenant,
            NotBefore {
                not_before: 600,
                expires_at: 4_500,
            },
        );
        assert_eq!(
            in_force,
            NotBefore {
                not_before: 600,
                expires_at: 5_000
            }
        );
        assert!(ledger.standing("s", "anyone").refuses(Some(599)));
        assert!(ledger.standing("s", "anyone").refuses(None));
        assert_eq!(ledger.next_purge(), Some(5_001));
        assert_eq!(
            ledger.purge(5_001),
            vec![StorageChange::DeleteNotBefores {
                scopes: vec![NotBeforeScope::Tenant]
            }]
        );
        assert!(!ledger.standing("s", "anyone").refuses(Some(1)));
    }

    #[test]
    fn at_the_bound_the_least_recently_refreshed_live_session_makes_room_and_no_revocation_does() {
        let mut ledger = TenantLedger::default();
        ledger.revoke("revoked", 10_000_000);
        for i in 0..MAX_LIVE_SESSIONS {
            let mut session = opened("u", 1_000);
            session.last_refreshed_at = 1_000 + i as i64;
            ledger.session_seen(&format!("s{i}"), session, 1_000);
        }
        assert_eq!(ledger.live_sessions(), MAX_LIVE_SESSIONS);
        let changes = ledger.session_seen("newest", opened("u", 900_000), 900_000);
        assert_eq!(
            changes[0],
            StorageChange::DeleteSessions {
                session_ids: vec!["s0".into()]
            }
        );
        assert_eq!(ledger.live_sessions(), MAX_LIVE_SESSIONS);
        assert_eq!(ledger.len(), MAX_LIVE_SESSIONS + 1);
        assert!(ledger.standing("revoked", "u").session_revoked);
    }

    #[test]
    fn a_stored_ledger_is_rebuilt_whole() {
        let mut ledger = TenantLedger::default();
        let mut writes = Vec::new();
        writes.extend(ledger.session_seen("s1", opened("alice", 100), 100));
        writes.extend(ledger.revoke("s2", 900));
        writes.extend(
            ledger
                .set_not_before(
                    user("bob"),
                    NotBefore {
                        not_before: 90,
                        expires_at: 800,
                    },
                )
                .1,
        );
        let mut sessions = BTreeMap::new();
        let mut not_befores = BTreeMap::new();
        for change in writes {
            match change {
                StorageChange::PutSession { session_id, entry } => {
                    sessions.insert(session_id, entry);
                }
                StorageChange::PutNotBefore { scope, not_before } => {
                    not_befores.insert(scope, not_before);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(TenantLedger::from_stored(sessions, not_befores), ledger);
    }

    #[test]
    fn a_long_client_description_is_cut_at_a_character_boundary() {
        let mut ledger = TenantLedger::default();
        let mut session = opened("alice", 100);
        session.client = "é".repeat(100);
        ledger.session_seen("s1", session, 100);
        let client = &ledger.sessions_of("alice")[0]
            .1
            .live
            .as_ref()
            .unwrap()
            .client;
        assert_eq!(client.chars().count(), MAX_CLIENT_CHARS);
    }
}
