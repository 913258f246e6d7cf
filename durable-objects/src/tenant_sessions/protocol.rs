//! What `TenantSessions` is asked and what it answers: one command per request, a typed JSON body
//! posted to [`URL`] (the stub picks the object; no id ever travels in a path, where a session id
//! holding `/`, `%` or `?` would need an encoding both sides agree on).
//!
//! | command | answer |
//! |---|---|
//! | [`Command::Revoke`] | 204 |
//! | [`Command::NotBefore`] | 200 [`NotBefore`]: the not-before now in force |
//! | [`Command::Seen`] | 204 |
//! | [`Command::Status`] | 200 [`SessionStatus`] |
//! | [`Command::Sessions`] | 200 [`SessionList`] |
//! | a body that is no command | 400 |
//! | any, while the object's stored state could not be loaded | 503: the object never answers from a partial ledger |

use auth_core::sessions::{LiveSession, NotBefore, NotBeforeScope, StorageChange, TenantLedger};
use serde::{Deserialize, Serialize};

/// Where every command is posted. The host names the protocol, not a place: the stub routes it.
pub const URL: &str = "https://tenant-sessions/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// The session is revoked; no token of it is valid after `expires_at` (Unix s) anyway.
    Revoke { session_id: String, expires_at: i64 },
    /// Tokens of the user (or, without one, of the whole tenant) issued before `not_before` are
    /// refused; none of them is valid after `expires_at` anyway.
    NotBefore {
        user_id: Option<String>,
        not_before: i64,
        expires_at: i64,
    },
    /// The origin opened or refreshed a session.
    Seen {
        session_id: String,
        session: LiveSession,
    },
    /// Is a token of this session and user (`sub`), issued at `issued_at`, revoked at any level?
    Status {
        session_id: String,
        user_id: String,
        issued_at: Option<i64>,
    },
    /// The sessions the object knows of a user.
    Sessions { user_id: String },
}

/// The answer to [`Command::Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionStatus {
    pub revoked: bool,
}

/// The answer to [`Command::Sessions`], most recently refreshed first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionList {
    pub sessions: Vec<ListedSession>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedSession {
    pub session_id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_refreshed_at: i64,
    pub expires_at: i64,
    pub client: String,
    pub revoked: bool,
}

impl ListedSession {
    fn of(session_id: &str, session: &LiveSession, revoked: bool) -> Self {
        ListedSession {
            session_id: session_id.to_owned(),
            user_id: session.user_id.clone(),
            created_at: session.created_at,
            last_refreshed_at: session.last_refreshed_at,
            expires_at: session.expires_at,
            client: session.client.clone(),
            revoked,
        }
    }
}

/// What the object answers, before it becomes an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Done,
    NotBefore(NotBefore),
    Status(SessionStatus),
    Sessions(SessionList),
    /// The body was no command.
    Malformed,
    /// The object's stored state is not loaded (its storage failed): fail closed.
    Unavailable,
}

impl Reply {
    pub fn status(&self) -> u16 {
        match self {
            Reply::Done => 204,
            Reply::NotBefore(_) | Reply::Status(_) | Reply::Sessions(_) => 200,
            Reply::Malformed => 400,
            Reply::Unavailable => 503,
        }
    }
}

/// Runs a command against the tenant's ledger (`None`: its stored state could not be loaded) at
/// `now`; answers the reply and the storage changes the shell must write.
pub fn handle(
    ledger: Option<&mut TenantLedger>,
    command: Command,
    now: i64,
) -> (Reply, Vec<StorageChange>) {
    let Some(ledger) = ledger else {
        return (Reply::Unavailable, Vec::new());
    };
    let (reply, mut changes) = match command {
        Command::Revoke {
            session_id,
            expires_at,
        } => (
            Reply::Done,
            ledger.revoke(&session_id, expires_at).into_iter().collect(),
        ),
        Command::NotBefore {
            user_id,
            not_before,
            expires_at,
        } => {
            let scope = user_id.map_or(NotBeforeScope::Tenant, NotBeforeScope::User);
            let (in_force, changes) = ledger.set_not_before(
                scope,
                NotBefore {
                    not_before,
                    expires_at,
                },
            );
            (Reply::NotBefore(in_force), changes)
        }
        Command::Seen {
            session_id,
            session,
        } => (Reply::Done, ledger.session_seen(&session_id, session, now)),
        Command::Status {
            session_id,
            user_id,
            issued_at,
        } => {
            let revoked = ledger.standing(&session_id, &user_id).refuses(issued_at);
            return (Reply::Status(SessionStatus { revoked }), Vec::new());
        }
        Command::Sessions { user_id } => {
            let sessions = ledger
                .sessions_of(&user_id)
                .into_iter()
                .filter_map(|(id, entry)| {
                    let live = entry.live.as_ref()?;
                    Some(ListedSession::of(id, live, entry.is_revoked()))
                })
                .collect();
            return (Reply::Sessions(SessionList { sessions }), Vec::new());
        }
    };
    // Every write also forgets what has lapsed, so storage holds only what can still matter even
    // if an alarm is late.
    changes.extend(ledger.purge(now));
    (reply, changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A third-party `sid` may be any string.
    const AWKWARD_ID: &str = "a/b?c=%2F d#é";

    fn over_the_wire(ledger: &mut TenantLedger, command: Command, now: i64) -> Reply {
        let wire = serde_json::to_string(&command).unwrap();
        handle(Some(ledger), serde_json::from_str(&wire).unwrap(), now).0
    }

    fn status(ledger: &mut TenantLedger, session: &str, user: &str, iat: i64) -> Reply {
        let command = Command::Status {
            session_id: session.into(),
            user_id: user.into(),
            issued_at: Some(iat),
        };
        over_the_wire(ledger, command, 1_000)
    }

    const REVOKED: Reply = Reply::Status(SessionStatus { revoked: true });
    const NOT_REVOKED: Reply = Reply::Status(SessionStatus { revoked: false });

    #[test]
    fn a_revoked_session_is_found_whatever_characters_its_id_holds() {
        let mut ledger = TenantLedger::default();
        let command = Command::Revoke {
            session_id: AWKWARD_ID.into(),
            expires_at: 2_000,
        };
        assert_eq!(over_the_wire(&mut ledger, command, 1_000), Reply::Done);
        assert_eq!(ledger.len(), 1, "the revocation is stored");
        assert_eq!(status(&mut ledger, AWKWARD_ID, "u", 900), REVOKED);
        assert_eq!(
            status(&mut ledger, "a%2Fb%3Fc%3D%252F%20d%23%C3%A9", "u", 900),
            NOT_REVOKED,
            "an encoded form is another id"
        );
    }

    #[test]
    fn the_object_answers_all_three_levels_and_the_not_before_in_force() {
        let mut ledger = TenantLedger::default();
        let user_nbf = Command::NotBefore {
            user_id: Some("alice".into()),
            not_before: 500,
            expires_at: 5_000,
        };
        assert_eq!(
            over_the_wire(&mut ledger, user_nbf, 1_000),
            Reply::NotBefore(NotBefore {
                not_before: 500,
                expires_at: 5_000
            })
        );
        assert_eq!(status(&mut ledger, "s1", "alice", 499), REVOKED);
        assert_eq!(status(&mut ledger, "s1", "alice", 500), NOT_REVOKED);
        assert_eq!(status(&mut ledger, "s1", "bob", 499), NOT_REVOKED);
        let tenant_nbf = Command::NotBefore {
            user_id: None,
            not_before: 700,
            expires_at: 5_000,
        };
        over_the_wire(&mut ledger, tenant_nbf, 1_000);
        assert_eq!(status(&mut ledger, "s1", "bob", 699), REVOKED);
        assert_eq!(status(&mut ledger, "s1", "bob", 700), NOT_REVOKED);
    }

    #[test]
    fn seen_sessions_are_listed_with_their_revocation() {
        let mut ledger = TenantLedger::default();
        let session = LiveSession {
            user_id: "alice".into(),
            created_at: 900,
            last_refreshed_at: 950,
            expires_at: 100_000,
            client: "curl".into(),
        };
        for id in ["s1", "s2"] {
            let seen = Command::Seen {
                session_id: id.into(),
                session: session.clone(),
            };
            assert_eq!(over_the_wire(&mut ledger, seen, 1_000), Reply::Done);
        }
        let revoke = Command::Revoke {
            session_id: "s2".into(),
            expires_at: 2_000,
        };
        over_the_wire(&mut ledger, revoke, 1_000);
        let list = over_the_wire(
            &mut ledger,
            Command::Sessions {
                user_id: "alice".into(),
            },
            1_000,
        );
        let Reply::Sessions(list) = list else {
            panic!("{list:?}")
        };
        let flags: Vec<(&str, bool)> = list
            .sessions
            .iter()
            .map(|s| (s.session_id.as_str(), s.revoked))
            .collect();
        assert_eq!(flags, [("s1", false), ("s2", true)]);
        assert_eq!(
            serde_json::to_value(&list.sessions[0]).unwrap(),
            serde_json::json!({"session_id": "s1", "user_id": "alice", "created_at": 900,
                "last_refreshed_at": 950, "expires_at": 100_000, "client": "curl", "revoked": false})
        );
    }

    #[test]
    fn a_write_forgets_what_has_lapsed() {
        let mut ledger = TenantLedger::default();
        over_the_wire(
            &mut ledger,
            Command::Revoke {
                session_id: "old".into(),
                expires_at: 1_000,
            },
            900,
        );
        let (_, changes) = handle(
            Some(&mut ledger),
            Command::Revoke {
                session_id: "new".into(),
                expires_at: 3_000,
            },
            1_001,
        );
        assert_eq!(changes.len(), 2, "the new entry and the purge of the old");
        assert_eq!(ledger.len(), 1);
    }

    #[test]
    fn an_object_whose_state_did_not_load_answers_unavailable_never_not_revoked() {
        for command in [
            Command::Status {
                session_id: "s1".into(),
                user_id: "u".into(),
                issued_at: Some(1),
            },
            Command::Revoke {
                session_id: "s1".into(),
                expires_at: 2_000,
            },
            Command::NotBefore {
                user_id: None,
                not_before: 1,
                expires_at: 2_000,
            },
        ] {
            let (reply, changes) = handle(None, command, 1_000);
            assert_eq!(reply, Reply::Unavailable);
            assert_eq!(reply.status(), 503);
            assert!(
                changes.is_empty(),
                "nothing written over state it never read"
            );
        }
    }

    #[test]
    fn the_wire_format_is_a_tagged_object_and_refuses_strays() {
        assert_eq!(
            serde_json::to_value(Command::Status {
                session_id: "s1".into(),
                user_id: "u".into(),
                issued_at: Some(5),
            })
            .unwrap(),
            serde_json::json!({"command": "status", "session_id": "s1", "user_id": "u", "issued_at": 5})
        );
        for stray in [
            r#"{"command":"status","session_id":"s1","user_id":"u","issued_at":1,"extra":1}"#,
            r#"{"command":"forget","session_id":"s1"}"#,
            r#"{"session_id":"s1"}"#,
        ] {
            assert!(serde_json::from_str::<Command>(stray).is_err(), "{stray}");
        }
    }
}
