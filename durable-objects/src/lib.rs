//! Durable Objects shipped inside the edge Worker's bundle.
//!
//! Each is a thin shell: storage and the runtime's request plumbing here, the rules in `auth-core`.
//! The Worker crate re-exports every class so the bundle exports it (see `wrangler.toml`).

mod tenant_sessions;

pub use tenant_sessions::{RevokeRequest, SessionStatus, TenantSessions};
