//! Registered clients as stored.

use crate::domain::RedirectUri;
use crate::error::ApiError;
use auth_core::encoding::b64url_encode;
use rand::rngs::OsRng;
use rand::RngCore as _;
use sqlx::PgExecutor;
use time::OffsetDateTime;
use uuid::Uuid;

/// Random bytes in a generated `client_id`: an identifier, not a secret, but unguessable all the same.
const CLIENT_ID_BYTES: usize = 16;

/// A registered public client of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub created_at: OffsetDateTime,
}

impl Client {
    /// Whether `redirect_uri` is one of the client's, byte for byte.
    pub fn allows(&self, redirect_uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == redirect_uri)
    }
}

/// A fresh `client_id`.
pub fn generate_client_id() -> String {
    let mut bytes = [0u8; CLIENT_ID_BYTES];
    OsRng.fill_bytes(&mut bytes);
    b64url_encode(&bytes)
}

pub async fn insert(
    executor: impl PgExecutor<'_>,
    tenant_id: Uuid,
    name: &str,
    redirect_uris: &[RedirectUri],
) -> Result<Client, ApiError> {
    let uris: Vec<&str> = redirect_uris.iter().map(RedirectUri::as_str).collect();
    Ok(sqlx::query_as(
        "INSERT INTO oauth_clients (id, tenant_id, client_id, name, redirect_uris)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING client_id, name, redirect_uris, created_at",
    )
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(generate_client_id())
    .bind(name)
    .bind(&uris)
    .fetch_one(executor)
    .await?)
}

/// The tenant's client with this `client_id`, if any.
pub async fn find(
    executor: impl PgExecutor<'_>,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<Option<Client>, sqlx::Error> {
    sqlx::query_as(
        "SELECT client_id, name, redirect_uris, created_at FROM oauth_clients
         WHERE tenant_id = $1 AND client_id = $2",
    )
    .bind(tenant_id)
    .bind(client_id)
    .fetch_optional(executor)
    .await
}

pub async fn list(
    executor: impl PgExecutor<'_>,
    tenant_id: Uuid,
) -> Result<Vec<Client>, sqlx::Error> {
    sqlx::query_as(
        "SELECT client_id, name, redirect_uris, created_at FROM oauth_clients
         WHERE tenant_id = $1 ORDER BY created_at, client_id",
    )
    .bind(tenant_id)
    .fetch_all(executor)
    .await
}

/// Deletes a client (its codes in flight go with it); whether it existed.
pub async fn delete(
    executor: impl PgExecutor<'_>,
    tenant_id: Uuid,
    client_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2")
        .bind(tenant_id)
        .bind(client_id)
        .execute(executor)
        .await?;
    Ok(done.rows_affected() > 0)
}
