//! The origin API over HTTP, against a fresh Postgres database per test.
//!
//! Run with `DATABASE_URL` pointing at a server where the user may create databases; `#[sqlx::test]`
//! creates one database per test and applies the migrations.

mod admin_credentials;
mod admin_sessions;
mod admin_support;
mod admin_tenant_settings;
mod admin_tenants;
mod admin_users;
mod audit;
mod audit_key_rotation;
mod authenticator;
mod brute_force;
mod errors;
mod health;
mod helpers;
mod keys;
mod me;
mod my_sessions;
mod oauth;
mod oidc_client;
mod openapi;
mod orgs;
mod outbox;
mod pages;
mod passkeys;
mod revocation;
mod row_level_security;
mod sessions;
mod users;
mod well_known;
