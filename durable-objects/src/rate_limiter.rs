//! `RateLimiter`: one object per rate limit and key (named by `auth_core::policy::LimitKey`), the
//! exact tier's decider and the approximate tier's meeting point.
//!
//! Called only by the Worker through its binding, with the commands of [`protocol`] (sent by
//! [`client::RateLimiterClient`]). The rules are `auth_core::ratelimit`'s [`Gcra`]; this shell
//! keeps it in memory, loads it once from SQLite storage and writes it back only when
//! [`protocol::needs_persisting`] says so (what eviction can lose is stated there).

pub mod client;
pub mod protocol;

use protocol::{Command, KeyState, Reply};
use std::cell::RefCell;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, State};

#[derive(Debug, serde::Deserialize)]
struct Row {
    state: String,
}

#[durable_object]
#[derive(Debug)]
pub struct RateLimiter {
    sql: SqlStorage,
    /// Outer `None` while the stored state could not be loaded (every command then answers 503 and
    /// the next one tries again); inner `None` for a key never seen.
    key: RefCell<Option<Option<KeyState>>>,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        let sql = state.storage().sql();
        let key = load_logged(&sql);
        RateLimiter {
            sql,
            key: RefCell::new(key),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let Ok(command) = req.json::<Command>().await else {
            return answer(Reply::Malformed);
        };
        let mut key = self.key.borrow_mut();
        if key.is_none() {
            *key = load_logged(&self.sql);
        }
        let (reply, write) = protocol::handle(key.as_mut(), command, now_ms());
        if let Some(state) = write {
            store(&self.sql, &state)?;
        }
        answer(reply)
    }
}

fn answer(reply: Reply) -> Result<Response> {
    match reply {
        Reply::Verdict(verdict) => Response::from_json(&verdict),
        Reply::State(gcra) => Response::from_json(&gcra),
        Reply::Malformed => Response::error("not a rate limiter command", reply.status()),
        Reply::Unavailable => Response::error("rate limit state unavailable", reply.status()),
    }
}

fn load_logged(sql: &SqlStorage) -> Option<Option<KeyState>> {
    load(sql)
        .map_err(|e| worker::console_error!("rate_limiter.load_failed error={e}"))
        .ok()
}

fn load(sql: &SqlStorage) -> Result<Option<KeyState>> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS key_state (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)",
        None,
    )?;
    let rows: Vec<Row> = sql
        .exec("SELECT state FROM key_state WHERE id = 1", None)?
        .to_array()?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let stored: KeyState = serde_json::from_str(&row.state)?;
    Ok(Some(KeyState::loaded(stored.rate, stored.gcra)))
}

fn store(sql: &SqlStorage, state: &KeyState) -> Result<()> {
    sql.exec(
        "INSERT INTO key_state (id, state) VALUES (1, ?) \
         ON CONFLICT(id) DO UPDATE SET state = excluded.state",
        vec![serde_json::to_string(state)?.into()],
    )?;
    Ok(())
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}
