//! `TenantSessions`: one object per tenant, the strongly consistent record of revoked sessions.
//!
//! Called only by the Worker through its binding, never by clients, with the commands of
//! [`protocol`] (sent by [`client::TenantSessionsClient`]). The rules are `auth_core::sessions`'
//! [`SessionLedger`]; this shell loads it from SQLite storage, runs commands through
//! [`protocol::handle`] and writes back what changed.

pub mod client;
pub mod protocol;

use auth_core::sessions::{SessionLedger, StorageChange};
use protocol::{Command, Reply};
use serde::Deserialize;
use std::cell::RefCell;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

#[derive(Debug, Deserialize)]
struct Row {
    session_id: String,
    expires_at: i64,
}

#[durable_object]
#[derive(Debug)]
pub struct TenantSessions {
    sql: SqlStorage,
    /// `None` while the stored state could not be loaded: every command then answers 503 (and the
    /// next one tries to load again), because an empty ledger would answer "not revoked" for
    /// sessions that are.
    ledger: RefCell<Option<SessionLedger>>,
}

impl DurableObject for TenantSessions {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        // SQLite storage is synchronous and local to the object: loading here is cheap, and the ledger
        // holds only revocations still inside retention.
        let ledger = load_logged(&sql);
        TenantSessions {
            sql,
            ledger: RefCell::new(ledger),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let Ok(command) = req.json::<Command>().await else {
            return answer(Reply::Malformed);
        };
        let mut ledger = self.ledger.borrow_mut();
        if ledger.is_none() {
            *ledger = load_logged(&self.sql);
        }
        let (reply, changes) = protocol::handle(ledger.as_mut(), command, now_unix());
        for change in changes {
            apply(&self.sql, change)?;
        }
        answer(reply)
    }
}

fn answer(reply: Reply) -> Result<Response> {
    match reply {
        Reply::Status(status) => Response::from_json(&status),
        Reply::Revoked => Ok(Response::empty()?.with_status(reply.status())),
        Reply::Malformed => Response::error("not a tenant sessions command", reply.status()),
        Reply::Unavailable => Response::error("session state unavailable", reply.status()),
    }
}

fn load_logged(sql: &SqlStorage) -> Option<SessionLedger> {
    load(sql)
        .map_err(|e| worker::console_error!("tenant_sessions.load_failed error={e}"))
        .ok()
}

fn load(sql: &SqlStorage) -> Result<SessionLedger> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS revoked_sessions (session_id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
        None,
    )?;
    let rows: Vec<Row> = sql
        .exec("SELECT session_id, expires_at FROM revoked_sessions", None)?
        .to_array()?;
    Ok(SessionLedger::from_entries(
        rows.into_iter().map(|r| (r.session_id, r.expires_at)),
    ))
}

fn apply(sql: &SqlStorage, change: StorageChange) -> Result<()> {
    match change {
        StorageChange::Upsert {
            session_id,
            expires_at,
        } => {
            sql.exec(
                "INSERT INTO revoked_sessions (session_id, expires_at) VALUES (?, ?) \
                 ON CONFLICT(session_id) DO UPDATE SET expires_at = excluded.expires_at",
                vec![
                    SqlStorageValue::String(session_id),
                    SqlStorageValue::try_from_i64(expires_at)?,
                ],
            )?;
        }
        StorageChange::Delete { session_ids } => {
            for sid in session_ids {
                sql.exec(
                    "DELETE FROM revoked_sessions WHERE session_id = ?",
                    vec![SqlStorageValue::String(sid)],
                )?;
            }
        }
    }
    Ok(())
}

fn now_unix() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}
