//! Tenants as stored, and how handlers find the one a path names.

use crate::error::ApiError;
use sqlx::PgExecutor;
use uuid::Uuid;

/// A tenant: its own issuer, audience, users and signing keys.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub audience: String,
}

/// The tenant with this slug, or `tenant_not_found`.
pub async fn find(executor: impl PgExecutor<'_>, slug: &str) -> Result<Tenant, ApiError> {
    sqlx::query_as::<_, Tenant>("SELECT id, slug, name, audience FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(executor)
        .await?
        .ok_or(ApiError::TenantNotFound)
}

/// The `jwks_uri` of an issuer.
pub fn jwks_uri(issuer: &str) -> String {
    format!("{issuer}/.well-known/jwks.json")
}
