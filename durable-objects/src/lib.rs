//! Durable Objects shipped inside the edge Worker's bundle, and the typed clients the Worker calls
//! them through.
//!
//! Each object is a thin shell: storage and the runtime's request plumbing here, the rules in
//! `auth-core`. Its protocol (the commands it takes, what it answers) is one set of types beside it,
//! encoded by its client and decoded by the object, so the two sides cannot drift apart. The Worker
//! crate re-exports every class so the bundle exports it (see `wrangler.toml`).

mod rate_limiter;
mod tenant_sessions;

pub use rate_limiter::client::RateLimiterClient;
pub use rate_limiter::RateLimiter;

pub use tenant_sessions::client::TenantSessionsClient;
pub use tenant_sessions::protocol::{Command, SessionStatus};
pub use tenant_sessions::TenantSessions;
