//! `TenantSessions`: one object per tenant, the strongly consistent record of its sessions: the live
//! ones the origin reported (opened or refreshed), the revoked ones, and the user and tenant
//! not-befores.
//!
//! Called only by the Worker through its binding, never by clients, with the commands of
//! [`protocol`] (sent by [`client::TenantSessionsClient`]). The rules are `auth_core::sessions`'
//! [`TenantLedger`] (its bounds are stated there); this shell loads it from SQLite storage, runs
//! commands through [`protocol::handle`] and writes back what changed. Its one alarm is set to the
//! ledger's next purge, so entries are forgotten once they can no longer matter (issue 10 §1.1)
//! whether or not more commands come; alarms may fire twice or late, and a purge is idempotent.

pub mod client;
pub mod protocol;

use auth_core::sessions::{
    LiveSession, NotBefore, NotBeforeScope, SessionEntry, StorageChange, TenantLedger,
};
use protocol::{Command, Reply};
use serde::Deserialize;
use std::cell::RefCell;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, ScheduledTime, SqlStorage,
    SqlStorageValue, State,
};

/// A `sessions` row: the live columns are all set or all null (only a revocation is known).
#[derive(Debug, Deserialize)]
struct SessionRow {
    session_id: String,
    user_id: Option<String>,
    created_at: Option<i64>,
    last_refreshed_at: Option<i64>,
    expires_at: Option<i64>,
    client: Option<String>,
    revoked_until: Option<i64>,
}

impl SessionRow {
    fn into_entry(self) -> (String, SessionEntry) {
        let live = match (
            self.user_id,
            self.created_at,
            self.last_refreshed_at,
            self.expires_at,
            self.client,
        ) {
            (
                Some(user_id),
                Some(created_at),
                Some(last_refreshed_at),
                Some(expires_at),
                Some(client),
            ) => Some(LiveSession {
                user_id,
                created_at,
                last_refreshed_at,
                expires_at,
                client,
            }),
            _ => None,
        };
        (
            self.session_id,
            SessionEntry {
                live,
                revoked_until: self.revoked_until,
            },
        )
    }
}

#[derive(Debug, Deserialize)]
struct NotBeforeRow {
    scope: String,
    not_before: i64,
    expires_at: i64,
}

/// How a not-before's scope is stored: `tenant`, or `user:{id}`.
fn scope_column(scope: &NotBeforeScope) -> String {
    match scope {
        NotBeforeScope::Tenant => "tenant".to_owned(),
        NotBeforeScope::User(user) => format!("user:{user}"),
    }
}

fn scope_of(column: &str) -> Option<NotBeforeScope> {
    match column {
        "tenant" => Some(NotBeforeScope::Tenant),
        other => other
            .strip_prefix("user:")
            .map(|user| NotBeforeScope::User(user.to_owned())),
    }
}

#[durable_object]
#[derive(Debug)]
pub struct TenantSessions {
    state: State,
    sql: SqlStorage,
    /// `None` while the stored state could not be loaded: every command then answers 503 (and the
    /// next one tries to load again), because an empty ledger would answer "not revoked" for
    /// sessions that are.
    ledger: RefCell<Option<TenantLedger>>,
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
                    .map(TenantLedger::next_purge),
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
            for change in ledger.purge(now_unix()) {
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
        Reply::NotBefore(in_force) => Response::from_json(&in_force),
        Reply::Sessions(list) => Response::from_json(&list),
        Reply::Done => Ok(Response::empty()?.with_status(reply.status())),
        Reply::Malformed => Response::error("not a tenant sessions command", reply.status()),
        Reply::Unavailable => Response::error("session state unavailable", reply.status()),
    }
}

fn load_logged(sql: &SqlStorage) -> Option<TenantLedger> {
    load(sql)
        .map_err(|e| worker::console_error!("tenant_sessions.load_failed error={e}"))
        .ok()
}

fn load(sql: &SqlStorage) -> Result<TenantLedger> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, user_id TEXT, \
         created_at INTEGER, last_refreshed_at INTEGER, expires_at INTEGER, client TEXT, \
         revoked_until INTEGER)",
        None,
    )?;
    sql.exec(
        "CREATE TABLE IF NOT EXISTS not_befores (scope TEXT PRIMARY KEY, \
         not_before INTEGER NOT NULL, expires_at INTEGER NOT NULL)",
        None,
    )?;
    // The first schema held revoked session ids only: carry them over once.
    sql.exec(
        "CREATE TABLE IF NOT EXISTS revoked_sessions (session_id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL)",
        None,
    )?;
    sql.exec(
        "INSERT OR IGNORE INTO sessions (session_id, revoked_until) \
         SELECT session_id, expires_at FROM revoked_sessions",
        None,
    )?;
    sql.exec("DROP TABLE revoked_sessions", None)?;
    let sessions: Vec<SessionRow> = sql
        .exec(
            "SELECT session_id, user_id, created_at, last_refreshed_at, expires_at, client, \
             revoked_until FROM sessions",
            None,
        )?
        .to_array()?;
    let not_befores: Vec<NotBeforeRow> = sql
        .exec(
            "SELECT scope, not_before, expires_at FROM not_befores",
            None,
        )?
        .to_array()?;
    Ok(TenantLedger::from_stored(
        sessions.into_iter().map(SessionRow::into_entry),
        not_befores.into_iter().filter_map(|row| {
            Some((
                scope_of(&row.scope)?,
                NotBefore {
                    not_before: row.not_before,
                    expires_at: row.expires_at,
                },
            ))
        }),
    ))
}

fn optional_i64(value: Option<i64>) -> Result<SqlStorageValue> {
    value.map_or(Ok(SqlStorageValue::Null), SqlStorageValue::try_from_i64)
}

fn apply(sql: &SqlStorage, change: StorageChange) -> Result<()> {
    match change {
        StorageChange::PutSession { session_id, entry } => {
            let live = entry.live.as_ref();
            sql.exec(
                "INSERT OR REPLACE INTO sessions (session_id, user_id, created_at, \
                 last_refreshed_at, expires_at, client, revoked_until) VALUES (?, ?, ?, ?, ?, ?, ?)",
                vec![
                    SqlStorageValue::String(session_id),
                    live.map_or(SqlStorageValue::Null, |l| {
                        SqlStorageValue::String(l.user_id.clone())
                    }),
                    optional_i64(live.map(|l| l.created_at))?,
                    optional_i64(live.map(|l| l.last_refreshed_at))?,
                    optional_i64(live.map(|l| l.expires_at))?,
                    live.map_or(SqlStorageValue::Null, |l| {
                        SqlStorageValue::String(l.client.clone())
                    }),
                    optional_i64(entry.revoked_until)?,
                ],
            )?;
        }
        StorageChange::DeleteSessions { session_ids } => {
            for id in session_ids {
                sql.exec(
                    "DELETE FROM sessions WHERE session_id = ?",
                    vec![SqlStorageValue::String(id)],
                )?;
            }
        }
        StorageChange::PutNotBefore { scope, not_before } => {
            sql.exec(
                "INSERT OR REPLACE INTO not_befores (scope, not_before, expires_at) VALUES (?, ?, ?)",
                vec![
                    SqlStorageValue::String(scope_column(&scope)),
                    SqlStorageValue::try_from_i64(not_before.not_before)?,
                    SqlStorageValue::try_from_i64(not_before.expires_at)?,
                ],
            )?;
        }
        StorageChange::DeleteNotBefores { scopes } => {
            for scope in scopes {
                sql.exec(
                    "DELETE FROM not_befores WHERE scope = ?",
                    vec![SqlStorageValue::String(scope_column(&scope))],
                )?;
            }
        }
    }
    Ok(())
}

fn now_unix() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}
