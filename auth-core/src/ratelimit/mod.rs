//! Rate limiting, decided purely: the [`Gcra`] state machine every tier runs, and the answer a
//! request gets ([`Tally`]: the IETF `RateLimit-Policy` / `RateLimit` fields, and the 429).
//!
//! The limits themselves are part of the route policy (`crate::policy::Limit`). Who keeps the state
//! is the adapters' business: the exact tier's Durable Object holds a [`Gcra`] per key; the
//! approximate tier's isolates hold a [`LocalShare`] per key and reconcile it with that object in
//! the background.

mod answer;
mod gcra;
mod share;

pub use answer::{Refusal, Tally, EXPOSED_HEADERS};
pub use gcra::{Gcra, Rate, Verdict, MAX_AMOUNT, MAX_PERIOD_SECS, MIN_PERIOD_SECS};
pub use share::{KnownRefusal, LocalShare, Shares, SyncReport, MAX_BATCH, REPORT_INTERVAL_MS};
