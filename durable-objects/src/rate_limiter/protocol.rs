//! What `RateLimiter` is asked and what it answers: one command per request, a typed JSON body
//! posted to [`URL`] (the stub picks the object, one per limit and key).
//!
//! | command | answer |
//! |---|---|
//! | [`Command::Take`] (exact tier) | 200 [`Verdict`] |
//! | [`Command::Report`] (approximate tier) | 200 [`Gcra`]: the key's state after recording the report |
//! | a body that is no command | 400 |
//! | any, while the object's stored state could not be loaded | 503: the limit's `on_error` decides |
//!
//! State and storage. The object keeps its key's [`Gcra`] in memory and writes it to storage only
//! when losing it could matter ([`needs_persisting`]): once the key's backlog outlasts
//! [`EVICTION_IDLE_MS`] (an object is evicted only after that long without requests, so a shorter
//! backlog has drained by then anyway), and then only when the state has moved on by a twentieth
//! of the period since the last write. What eviction loses is therefore at most a twentieth of the
//! limit's amount (plus one request), and it errs towards admitting. A key's state written under
//! another rate (the policy changed) is dropped: the key starts idle.

use auth_core::ratelimit::{Gcra, Rate, Verdict};
use serde::{Deserialize, Serialize};

/// Where every command is posted. The host names the protocol, not a place: the stub routes it.
pub const URL: &str = "https://rate-limiter/";

/// Cloudflare evicts an idle Durable Object after 70–140 s without requests; a backlog shorter than
/// this has drained before its object can be evicted, so it never needs writing.
pub const EVICTION_IDLE_MS: u64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Admit one request now under `rate`, or refuse it (exact tier).
    Take { rate: Rate },
    /// Record `cost` requests an isolate admitted, the first at `since_ms` (approximate tier).
    Report {
        rate: Rate,
        cost: u32,
        since_ms: u64,
    },
}

/// What the object answers, before it becomes an HTTP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Verdict(Verdict),
    State(Gcra),
    /// The body was no command.
    Malformed,
    /// The object's stored state is not loaded (its storage failed).
    Unavailable,
}

impl Reply {
    pub fn status(self) -> u16 {
        match self {
            Reply::Verdict(_) | Reply::State(_) => 200,
            Reply::Malformed => 400,
            Reply::Unavailable => 503,
        }
    }
}

/// The key's state: under which rate it was counted, the live value, and what storage holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    pub rate: Rate,
    pub gcra: Gcra,
    #[serde(skip)]
    pub stored: Gcra,
}

impl KeyState {
    /// The state as loaded from storage.
    pub fn loaded(rate: Rate, gcra: Gcra) -> KeyState {
        KeyState {
            rate,
            gcra,
            stored: gcra,
        }
    }
}

/// Runs `command` at `now_ms` against the key's state (`None`: not loaded). Answers the reply, and
/// the state to write when it needs persisting.
pub fn handle(
    state: Option<&mut Option<KeyState>>,
    command: Command,
    now_ms: u64,
) -> (Reply, Option<KeyState>) {
    let Some(state) = state else {
        return (Reply::Unavailable, None);
    };
    let rate = match &command {
        Command::Take { rate } | Command::Report { rate, .. } => *rate,
    };
    let key = match state {
        Some(s) if s.rate == rate => s,
        _ => state.insert(KeyState {
            rate,
            gcra: Gcra::default(),
            stored: Gcra::default(),
        }),
    };
    let reply = match command {
        Command::Take { .. } => Reply::Verdict(key.gcra.take(&rate, now_ms, 1)),
        Command::Report { cost, since_ms, .. } => {
            key.gcra.record(&rate, since_ms.min(now_ms), cost);
            Reply::State(key.gcra)
        }
    };
    if needs_persisting(key, now_ms) {
        key.stored = key.gcra;
        return (reply, Some(*key));
    }
    (reply, None)
}

/// Whether the key's state must be written now: see the module's doc.
pub fn needs_persisting(key: &KeyState, now_ms: u64) -> bool {
    let rate = &key.rate;
    let backlog_ms = key.gcra.ahead_ms(rate, now_ms);
    let unwritten_ms = key.gcra.lead_ms(rate, &key.stored);
    backlog_ms > EVICTION_IDLE_MS && unwritten_ms >= u64::from(rate.period_secs) * 1000 / 20
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn take(state: &mut Option<KeyState>, rate: Rate, now: u64) -> (Verdict, bool) {
        let wire = serde_json::to_string(&Command::Take { rate }).unwrap();
        match handle(Some(state), serde_json::from_str(&wire).unwrap(), now) {
            (Reply::Verdict(v), write) => (v, write.is_some()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_short_window_is_never_written_and_a_long_one_once_per_twentieth_of_its_period() {
        let mut state = None;
        let per_second = Rate::new(50, 1, 50).unwrap();
        for i in 0..200 {
            assert!(!take(&mut state, per_second, T0 + i).1, "request {i} wrote");
        }
        let mut state = None;
        let per_day = Rate::new(1_000, 86_400, 1_000).unwrap();
        let writes = (0..1_000)
            .filter(|i| take(&mut state, per_day, T0 + i).1)
            .count();
        // The backlog passes a minute at the 1st request (86.4 s each), then one write per 50.
        assert_eq!(writes, 20, "one write per 4,320 s of backlog");
    }

    #[test]
    fn a_state_written_under_another_rate_is_dropped() {
        let old = Rate::new(1, 3_600, 1).unwrap();
        let new = Rate::new(2, 3_600, 2).unwrap();
        let mut state = None;
        assert!(take(&mut state, old, T0).0.allowed);
        assert!(!take(&mut state, old, T0).0.allowed);
        assert!(take(&mut state, new, T0).0.allowed, "the key starts idle");
        assert_eq!(state.unwrap().rate, new);
    }

    #[test]
    fn reports_are_recorded_beyond_the_limit_and_answer_the_state() {
        let rate = Rate::new(10, 60, 10).unwrap();
        let mut state = None;
        let report = Command::Report {
            rate,
            cost: 12,
            since_ms: T0 + 5_000,
        };
        let (reply, _) = handle(Some(&mut state), report, T0);
        let Reply::State(gcra) = reply else {
            panic!("{reply:?}")
        };
        assert_eq!(
            gcra.ahead_ms(&rate, T0),
            72_000,
            "recorded at now, not in the future"
        );
        assert!(!take(&mut state, rate, T0).0.allowed);
    }

    #[test]
    fn an_object_whose_state_did_not_load_answers_unavailable() {
        let rate = Rate::new(1, 1, 1).unwrap();
        let (reply, write) = handle(None, Command::Take { rate }, T0);
        assert_eq!(reply, Reply::Unavailable);
        assert_eq!(reply.status(), 503);
        assert_eq!(write, None);
    }

    #[test]
    fn the_wire_format_is_a_tagged_object_and_refuses_strays() {
        let rate = Rate::new(5, 10, 5).unwrap();
        assert_eq!(
            serde_json::to_value(Command::Take { rate }).unwrap(),
            serde_json::json!({"command": "take", "rate": {"amount": 5, "period_secs": 10, "burst": 5}})
        );
        for stray in [
            r#"{"command":"take","rate":{"amount":5,"period_secs":10,"burst":5},"x":1}"#,
            r#"{"command":"reset","rate":{"amount":5,"period_secs":10,"burst":5}}"#,
            r#"{"command":"take"}"#,
        ] {
            assert!(serde_json::from_str::<Command>(stray).is_err(), "{stray}");
        }
    }
}
