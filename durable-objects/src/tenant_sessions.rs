//! `TenantSessions`: one object per tenant, the strongly consistent record of revoked sessions.
//!
//! Called only by the Worker through its binding, never by clients, with the commands of
//! [`protocol`] (sent by [`client::TenantSessionsClient`]). The rules are `auth_core::sessions`'
//! [`SessionLedger`]; this shell loads it from SQLite storage, runs commands through
//! [`protocol::handle`] and writes back what changed. Its one alarm is set to the ledger's next purge,
//! so revocations are forgotten once they can no longer matter (issue 10 §1.1) whether or not more
//! commands come; alarms may fire twice or late, and a purge is idempotent.

pub mod client;
pub mod protocol;

use auth_core::sessions::{SessionLedger, StorageChange};
use protocol::{Command, Reply};
use serde::Deserialize;
use std::cell::RefCell;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, ScheduledTime, SqlStorage,
    SqlStorageValue, State,
};

#[derive(Debug, Deserialize)]
struct Row {
    session_id: String,
    expires_at: i64,
}

#[durable_object]
#[derive(Debug)]
pub struct TenantSessions {
    state: State,
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
            state,
            sql,
            ledger: RefCell::new(ledger),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let Ok(command) = req.json::<Command>().await else {
            return answer(Reply::Malformed);
        };
        let (reply, next_purge) = {
            let mut ledger = self.ledger.borrow_mut();
            if ledger.is_none() {
                *ledger = load_logged(&self.sql);
            }
            let (reply, changes) = protocol::handle(ledger.as_mut(), command, now_unix());
            let changed = !changes.is_empty();
            for change in changes {
                apply(&self.sql, change)?;
            }
            (
                reply,
                ledger
                    .as_ref()
                    .filter(|_| changed)
                    .map(SessionLedger::next_purge),
            )
        };
        if let Some(next_purge) = next_purge {
            self.schedule(next_purge).await?;
        }
        answer(reply)
    }

    async fn alarm(&self) -> Result<Response> {
        let next_purge = {
            let mut ledger = self.ledger.borrow_mut();
            if ledger.is_none() {
                *ledger = load_logged(&self.sql);
            }
            // Not loaded: the runtime retries a failed alarm with backoff.
            let Some(ledger) = ledger.as_mut() else {
                return Err(worker::Error::RustError("session state unavailable".into()));
            };
            if let Some(change) = ledger.purge(now_unix()) {
                apply(&self.sql, change)?;
            }
            ledger.next_purge()
        };
        self.schedule(next_purge).await?;
        Response::empty()
    }
}

impl TenantSessions {
    /// Sets the object's alarm to `next_purge` (Unix s), or clears it when nothing is left to forget.
    async fn schedule(&self, next_purge: Option<i64>) -> Result<()> {
        let storage = self.state.storage();
        match next_purge {
            Some(at) => {
                let millis = at.saturating_mul(1000) as f64;
                storage
                    .set_alarm(ScheduledTime::new(worker::js_sys::Date::new(
                        &millis.into(),
                    )))
                    .await
            }
            None => storage.delete_alarm().await,
        }
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
