//! System tests. They talk HTTP to a running stack — the origin on Postgres, the demo upstream and
//! the Worker under `wrangler dev` — that `cargo xtask test` starts on free ports and describes in
//! `EDGE_URL`, `ORIGIN_URL`, `UPSTREAM_URL`, `SYSTEM_TENANT`, `SYSTEM_OTHER_TENANT` and the rest named
//! where they are read (`SYSTEM_*`).
//! Run alone without those variables, every test fails and says how to run them.

mod admin;
mod bundle;
mod cors;
mod forwarding;
mod issuer;
mod jwks_proxy;
mod keys;
mod not_before;
mod orgs;
mod ratelimit;
mod refusals;
mod revocation;
mod revocation_bounds;
mod support;
mod tenancy;
mod tenant_issuers;
