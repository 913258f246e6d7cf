//! `/v1/admin/tenants/{slug}/clients`: a tenant's registered OAuth clients (public clients only).

use crate::audit::{self, Event, EventType};
use crate::auth::TenantAdmin;
use crate::domain::RedirectUri;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::oauth::clients::{self, Client};
use crate::state::AppState;
use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;

const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    name: String,
    redirect_uris: Vec<String>,
}

/// A client as the API shows it.
#[derive(Debug, Serialize)]
pub struct ClientView {
    client_id: String,
    name: String,
    redirect_uris: Vec<String>,
    /// Always `none`: public clients prove themselves with PKCE, not a secret.
    token_endpoint_auth_method: &'static str,
    /// RFC 3339.
    created_at: String,
}

impl TryFrom<Client> for ClientView {
    type Error = ApiError;

    fn try_from(client: Client) -> Result<Self, ApiError> {
        Ok(ClientView {
            created_at: client
                .created_at
                .format(&Rfc3339)
                .context("formatting created_at")?,
            client_id: client.client_id,
            name: client.name,
            redirect_uris: client.redirect_uris,
            token_endpoint_auth_method: "none",
        })
    }
}

/// `POST`: registers a client; its `client_id` is generated.
pub async fn create(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewClient>,
) -> Result<(StatusCode, ApiJson<ClientView>), ApiError> {
    let tenant = &admin.tenant;
    let name = body.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::FieldInvalid(
            "name_invalid",
            "name must be 1 to 200 printable characters",
        ));
    }
    let redirect_uris = RedirectUri::parse_list(&body.redirect_uris)
        .map_err(|e| ApiError::FieldInvalid("redirect_uri_invalid", e.message()))?;
    let mut tx = state.db().begin().await?;
    let client = clients::insert(&mut *tx, tenant.id, name, &redirect_uris).await?;
    audit::record(
        &mut tx,
        Event::new(tenant.id, admin.actor(), EventType::OAuthClientCreated)
            .subject(&client.client_id),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant.id, client.id = %client.client_id, "oauth client registered");
    Ok((StatusCode::CREATED, ApiJson(client.try_into()?)))
}

#[derive(Debug, Serialize)]
pub struct ClientList {
    clients: Vec<ClientView>,
}

/// `GET`: the tenant's clients, oldest first.
pub async fn list(
    admin: TenantAdmin,
    State(state): State<AppState>,
) -> Result<ApiJson<ClientList>, ApiError> {
    let tenant = &admin.tenant;
    let clients = clients::list(state.db(), tenant.id)
        .await?
        .into_iter()
        .map(ClientView::try_from)
        .collect::<Result<_, _>>()?;
    Ok(ApiJson(ClientList { clients }))
}

/// `DELETE /{client_id}`: removes a client and its codes in flight. Sessions it already opened stay
/// (revoke them through the session API); they can no longer be refreshed through `/token`.
pub async fn delete(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiPath((_slug, client_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = &admin.tenant;
    let mut tx = state.db().begin().await?;
    if !clients::delete(&mut *tx, tenant.id, &client_id).await? {
        return Err(ApiError::ClientNotFound);
    }
    audit::record(
        &mut tx,
        Event::new(tenant.id, admin.actor(), EventType::OAuthClientDeleted).subject(&client_id),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant.id, client.id = %client_id, "oauth client deleted");
    Ok(StatusCode::NO_CONTENT)
}
