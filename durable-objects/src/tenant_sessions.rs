//! `TenantSessions`: one object per tenant, the strongly consistent record of revoked sessions.
//!
//! Internal protocol (called only by the Worker through its binding, never by clients):
//! - `POST /revoke` with [`RevokeRequest`] → 204;
//! - `GET /sessions/{session_id}` → [`SessionStatus`].

use auth_core::sessions::{SessionLedger, StorageChange};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage,
    SqlStorageValue, State,
};

/// Body of `POST /revoke`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeRequest {
    pub session_id: String,
    pub expires_at: i64,
}

/// Answer of `GET /sessions/{session_id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionStatus {
    pub revoked: bool,
}

#[derive(Debug, Deserialize)]
struct Row {
    session_id: String,
    expires_at: i64,
}

#[durable_object]
#[derive(Debug)]
pub struct TenantSessions {
    sql: SqlStorage,
    ledger: RefCell<SessionLedger>,
}

impl DurableObject for TenantSessions {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        // SQLite storage is synchronous and local to the object: loading here is cheap, and the ledger
        // holds only revocations still inside retention.
        let ledger = load(&sql).unwrap_or_else(|e| {
            worker::console_error!("tenant_sessions.load_failed error={e}");
            SessionLedger::default()
        });
        TenantSessions {
            sql,
            ledger: RefCell::new(ledger),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Post, "/revoke") => {
                let body: RevokeRequest = match req.json().await {
                    Ok(b) => b,
                    Err(_) => return Response::error("malformed revoke request", 400),
                };
                let now = now_unix();
                let changes = {
                    let mut ledger = self.ledger.borrow_mut();
                    [
                        ledger.revoke(&body.session_id, body.expires_at),
                        ledger.purge(now),
                    ]
                };
                for change in changes.into_iter().flatten() {
                    apply(&self.sql, change)?;
                }
                Ok(Response::empty()?.with_status(204))
            }
            (Method::Get, p) if p.starts_with("/sessions/") => {
                let sid = p.trim_start_matches("/sessions/");
                let revoked = self.ledger.borrow().is_revoked(sid);
                Response::from_json(&SessionStatus { revoked })
            }
            _ => Response::error("not found", 404),
        }
    }
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
