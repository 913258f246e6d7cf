//! What `TenantSessions` is asked and what it answers: one command per request, a typed JSON body
//! posted to [`URL`] (the stub picks the object; no id ever travels in a path, where a session id
//! holding `/`, `%` or `?` would need an encoding both sides agree on).
//!
//! | command | answer |
//! |---|---|
//! | [`Command::Revoke`] | 204 |
//! | [`Command::Status`] | 200 [`SessionStatus`] |
//! | a body that is no command | 400 |
//! | any, while the object's stored state could not be loaded | 503: the object never answers from a partial ledger |

use auth_core::sessions::{SessionLedger, StorageChange};
use serde::{Deserialize, Serialize};

/// Where every command is posted. The host names the protocol, not a place: the stub routes it.
pub const URL: &str = "https://tenant-sessions/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// The session is revoked; no token of it is valid after `expires_at` (Unix s) anyway.
    Revoke { session_id: String, expires_at: i64 },
    /// Is the session revoked?
    Status { session_id: String },
}

/// The answer to [`Command::Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionStatus {
    pub revoked: bool,
}

/// What the object answers, before it becomes an HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Revoked,
    Status(SessionStatus),
    /// The body was no command.
    Malformed,
    /// The object's stored state is not loaded (its storage failed): fail closed.
    Unavailable,
}

impl Reply {
    pub fn status(self) -> u16 {
        match self {
            Reply::Revoked => 204,
            Reply::Status(_) => 200,
            Reply::Malformed => 400,
            Reply::Unavailable => 503,
        }
    }
}

/// Runs a command against the tenant's ledger (`None`: its stored state could not be loaded) at
/// `now`; answers the reply and the storage changes the shell must write.
pub fn handle(
    ledger: Option<&mut SessionLedger>,
    command: Command,
    now: i64,
) -> (Reply, Vec<StorageChange>) {
    let Some(ledger) = ledger else {
        return (Reply::Unavailable, Vec::new());
    };
    match command {
        Command::Revoke {
            session_id,
            expires_at,
        } => {
            let changes = [ledger.revoke(&session_id, expires_at), ledger.purge(now)];
            (Reply::Revoked, changes.into_iter().flatten().collect())
        }
        Command::Status { session_id } => (
            Reply::Status(SessionStatus {
                revoked: ledger.is_revoked(&session_id),
            }),
            Vec::new(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A third-party `sid` may be any string.
    const AWKWARD_ID: &str = "a/b?c=%2F d#é";

    #[test]
    fn a_revoked_session_is_found_whatever_characters_its_id_holds() {
        let mut ledger = SessionLedger::default();
        let wire = serde_json::to_string(&Command::Revoke {
            session_id: AWKWARD_ID.into(),
            expires_at: 2_000,
        })
        .unwrap();
        let (reply, changes) = handle(
            Some(&mut ledger),
            serde_json::from_str(&wire).unwrap(),
            1_000,
        );
        assert_eq!(reply, Reply::Revoked);
        assert_eq!(changes.len(), 1, "the revocation is stored");
        let asked = |ledger: &mut SessionLedger, id: &str| {
            let command = Command::Status {
                session_id: id.into(),
            };
            let wire = serde_json::to_string(&command).unwrap();
            handle(Some(ledger), serde_json::from_str(&wire).unwrap(), 1_000).0
        };
        assert_eq!(
            asked(&mut ledger, AWKWARD_ID),
            Reply::Status(SessionStatus { revoked: true })
        );
        assert_eq!(
            asked(&mut ledger, "a%2Fb%3Fc%3D%252F%20d%23%C3%A9"),
            Reply::Status(SessionStatus { revoked: false }),
            "an encoded form is another id"
        );
    }

    #[test]
    fn an_object_whose_state_did_not_load_answers_unavailable_never_not_revoked() {
        for command in [
            Command::Status {
                session_id: "s1".into(),
            },
            Command::Revoke {
                session_id: "s1".into(),
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
                session_id: "s1".into()
            })
            .unwrap(),
            serde_json::json!({"command": "status", "session_id": "s1"})
        );
        for stray in [
            r#"{"command":"status","session_id":"s1","extra":1}"#,
            r#"{"command":"forget","session_id":"s1"}"#,
            r#"{"session_id":"s1"}"#,
        ] {
            assert!(serde_json::from_str::<Command>(stray).is_err(), "{stray}");
        }
    }
}
