//! One module per resource.

pub mod admin_api_keys;
pub mod admin_audit;
pub mod admin_clients;
pub mod admin_keys;
pub mod admin_orgs;
pub mod admin_sessions;
pub mod admin_tenants;
pub mod admin_users;
pub mod authorize;
pub mod health;
pub mod me;
pub mod my_passkeys;
pub mod my_sessions;
pub mod org_invitations;
pub mod orgs;
pub mod passkeys;
pub mod sessions;
pub mod token;
pub mod userinfo;
pub mod users;
pub mod well_known;
