//! The wall clock, read in one place.
//!
//! Handlers read it once per request and pass the instant down; rules that several origin instances
//! must agree on (outbox claims, brute-force windows) use the database's `now()` instead.

/// The current time as Unix seconds.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
