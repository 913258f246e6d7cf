//! `/v1/admin/tenants/{slug}/clients`: a tenant's registered OAuth clients (public clients only).

use crate::audit::{self, Event, EventType};
use crate::auth::TenantAdmin;
use crate::domain::RedirectUri;
use crate::error::ApiError;
use crate::errors;
use crate::extract::{ApiJson, ApiPath};
use crate::oauth::clients::{self, Client};
use crate::openapi::{tags, SlugPath, JSON_BODY, TENANT_ADMIN};
use crate::state::AppState;
use anyhow::Context as _;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::ToSchema;

const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// 1 to 200 printable characters, trimmed; shown to users in their list of sessions.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: String,
    /// 1 to 10 distinct absolute URIs, matched exactly: `https://`, or `http://` on a loopback
    /// host; no fragment, no credentials, no wildcard.
    #[schema(schema_with = redirect_uris_schema)]
    redirect_uris: Vec<String>,
}

/// A redirect URI `RedirectUri::parse` accepts: https with a domain or address, or http on a
/// loopback host; an optional port, path and query; no fragment, credentials or wildcard.
// The last label starts with a letter: URL parsing reads a numeric one as an IPv4 address.
const REDIRECT_URI_PATTERN: &str = "^(https://([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?|http://(localhost|127\\.0\\.0\\.1|\\[::1\\]))(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~!$&'()+,;=:@/-]{0,200})?(\\?[A-Za-z0-9._~!$&'()+,;=:@/?-]{0,200})?$";

fn redirect_uris_schema() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(REDIRECT_URI_PATTERN)),
        )
        .min_items(Some(1))
        .max_items(Some(10))
        .unique_items(true)
}

/// A client as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientView {
    client_id: String,
    name: String,
    redirect_uris: Vec<String>,
    /// Always `none`: public clients prove themselves with PKCE, not a secret.
    #[schema(value_type = String, pattern = "^none$")]
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

errors!(
    CreateClientErrors = [
        TENANT_ADMIN,
        JSON_BODY,
        &[(422, &["name_invalid", "redirect_uri_invalid"])],
    ]
);

/// Registers a public OAuth client; its `client_id` is generated.
#[utoipa::path(
    post,
    path = "/v1/admin/tenants/{slug}/clients",
    operation_id = "create_oauth_client",
    tag = tags::ADMIN,
    params(SlugPath),
    request_body = NewClient,
    security(("admin_token" = [])),
    responses((status = 201, description = "The client", body = ClientView), CreateClientErrors),
)]
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

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    clients: Vec<ClientView>,
}

errors!(ListClientsErrors = [TENANT_ADMIN]);

/// The tenant's OAuth clients, oldest first.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{slug}/clients",
    operation_id = "list_oauth_clients",
    tag = tags::ADMIN,
    params(SlugPath),
    security(("admin_token" = [])),
    responses((status = 200, description = "The clients", body = ClientList), ListClientsErrors),
)]
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

errors!(DeleteClientErrors = [TENANT_ADMIN, &[(404, &["client_not_found"])]]);

/// Removes a client and its codes in flight. Sessions it already opened stay (revoke them through
/// the session API); they can no longer be refreshed through `/token`.
#[utoipa::path(
    delete,
    path = "/v1/admin/tenants/{slug}/clients/{client_id}",
    operation_id = "delete_oauth_client",
    tag = tags::ADMIN,
    params(SlugPath, ("client_id" = String, Path, description = "The client's id")),
    security(("admin_token" = [])),
    responses((status = 204, description = "Removed"), DeleteClientErrors),
)]
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
