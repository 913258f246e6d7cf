//! Tenants through the admin API.
//!
//! - `POST /v1/admin/tenants` (bootstrap token): create a tenant with its first signing keys.
//! - `GET /v1/admin/tenants` (bootstrap token): every tenant, by slug, a page at a time.
//! - `GET /v1/admin/tenants/{slug}`: one tenant's settings.
//! - `PATCH /v1/admin/tenants/{slug}`: change its name, audience, access-token lifetime, brute-force
//!   knobs or passkey relying party; every field is optional, omitted ones stay as they are.

use crate::audit::{self, Actor, Event, EventType};
use crate::auth::{Admin, TenantAdmin};
use crate::config::{MAX_ACCESS_TOKEN_TTL_SECS, MIN_ACCESS_TOKEN_TTL_SECS};
use crate::domain::{RelyingParty, Slug};
use crate::error::{is_unique_violation, ApiError};
use crate::errors;
use crate::extract::ApiJson;
use crate::key_rotation;
use crate::keys::SigningAlgorithm;
use crate::openapi::{tags, SlugPageQuery, SlugPath, ADMIN, JSON_BODY, PAGE, TENANT_ADMIN};
use crate::pagination::{Page, SlugCursor};
use crate::state::AppState;
use crate::tenants::{self, ThrottleSettings, ThrottleSettingsInput};
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

const DEFAULT_AUDIENCE: &str = "api";
const MAX_NAME_CHARS: usize = 200;
const MAX_AUDIENCE_CHARS: usize = 256;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// The path segment of `/t/{tenant}` and of the issuer.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    slug: String,
    /// 1 to 200 printable characters, trimmed.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: String,
    /// The `aud` of the tenant's access tokens, 1 to 256 printable characters; default `api`.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    audience: Option<String>,
    /// Brute-force knobs; omitted ones take their defaults.
    #[serde(default, deserialize_with = "crate::extract::object")]
    brute_force: ThrottleSettingsInput,
    /// The WebAuthn relying party; omitted: the hosted pages' origin under its own host, when that
    /// host is a domain.
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    passkeys: Option<PasskeysInput>,
    /// The tenant's access-token lifetime, 10 to 3600 seconds; omitted: the origin's.
    #[schema(minimum = 10, maximum = 3600)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    access_token_ttl_secs: Option<i32>,
    /// `ES256` (the default) or `EdDSA`: what the tenant's tokens are signed with.
    #[schema(value_type = Option<SigningAlgorithm>)]
    signing_alg: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeysInput {
    /// A lowercase domain (or `localhost`); it cannot change while the tenant has passkeys.
    #[schema(
        pattern = "^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        max_length = 253
    )]
    rp_id: String,
    /// 1 to 16 origins (`https://`, or `http://` on localhost), each `rp_id` or a subdomain of it.
    #[schema(min_items = 1, max_items = 16)]
    origins: Vec<String>,
}

/// A tenant's relying party as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeysView {
    rp_id: String,
    origins: Vec<String>,
}

impl From<&RelyingParty> for PasskeysView {
    fn from(rp: &RelyingParty) -> Self {
        PasskeysView {
            rp_id: rp.rp_id().to_owned(),
            origins: rp.origins().to_vec(),
        }
    }
}

/// A tenant as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    id: Uuid,
    slug: String,
    name: String,
    issuer: String,
    jwks_uri: String,
    audience: String,
    brute_force: ThrottleSettings,
    /// `null` when passkeys are not configured (no domain to default to).
    passkeys: Option<PasskeysView>,
    /// How long the tenant's access tokens live.
    access_token_ttl_secs: i64,
    /// `tenant` when the tenant set its own lifetime, `origin` when it follows the origin's.
    #[schema(value_type = String)]
    access_token_ttl_source: &'static str,
    signing_alg: SigningAlgorithm,
    audit_retention_days: i32,
    /// RFC 3339; sessions created before it are revoked (`null`: never set).
    #[serde(with = "time::serde::rfc3339::option")]
    sessions_not_before: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// The columns a [`TenantView`] needs beyond [`tenants::Tenant`]'s.
#[derive(Debug, sqlx::FromRow)]
struct TenantRow {
    #[sqlx(flatten)]
    tenant: tenants::Tenant,
    audit_retention_days: i32,
    sessions_not_before: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

const VIEW_COLUMNS: &str = "id, slug, name, audience, throttle_account_failures, throttle_ip_failures, \
                            throttle_window_secs, throttle_max_delay_secs, passkey_rp_id, passkey_origins, \
                            access_token_ttl_secs, signing_alg, audit_retention_days, sessions_not_before, \
                            created_at";

impl TenantView {
    fn of(state: &AppState, row: TenantRow) -> Result<TenantView, ApiError> {
        let tenant = row.tenant;
        let issuer = state.issuer(&tenant.slug);
        let passkeys = match tenant.relying_party() {
            Ok(rp) => Some(PasskeysView::from(&rp)),
            Err(ApiError::PasskeysNotConfigured) => None,
            Err(e) => return Err(e),
        };
        Ok(TenantView {
            access_token_ttl_secs: state.access_token_ttl_for(&tenant),
            access_token_ttl_source: if tenant.access_token_ttl_secs.is_some() {
                "tenant"
            } else {
                "origin"
            },
            signing_alg: SigningAlgorithm::parse(&tenant.signing_alg).ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("stored signing algorithm is unknown"))
            })?,
            id: tenant.id,
            jwks_uri: tenants::jwks_uri(&issuer),
            issuer,
            slug: tenant.slug,
            name: tenant.name,
            audience: tenant.audience,
            brute_force: tenant.throttle,
            passkeys,
            audit_retention_days: row.audit_retention_days,
            sessions_not_before: row.sessions_not_before,
            created_at: row.created_at,
        })
    }

    async fn load(
        executor: impl sqlx::PgExecutor<'_>,
        state: &AppState,
        tenant_id: Uuid,
    ) -> Result<TenantView, ApiError> {
        let row: TenantRow =
            sqlx::query_as(&format!("SELECT {VIEW_COLUMNS} FROM tenants WHERE id = $1"))
                .bind(tenant_id)
                .fetch_optional(executor)
                .await?
                .ok_or(ApiError::TenantNotFound)?;
        TenantView::of(state, row)
    }
}

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// A tenant's display name: 1 to 200 printable characters, trimmed.
fn parse_name(raw: &str) -> Result<&str, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || !printable(name) {
        return Err(ApiError::FieldInvalid(
            "name_invalid",
            "name must be 1 to 200 printable characters",
        ));
    }
    Ok(name)
}

/// The `aud` of the tenant's tokens: 1 to 256 printable characters.
fn parse_audience(audience: &str) -> Result<&str, ApiError> {
    if audience.is_empty() || audience.chars().count() > MAX_AUDIENCE_CHARS || !printable(audience)
    {
        return Err(ApiError::FieldInvalid(
            "audience_invalid",
            "audience must be 1 to 256 printable characters",
        ));
    }
    Ok(audience)
}

/// A tenant's own access-token lifetime, within the origin's bounds.
fn check_ttl(ttl: Option<i32>) -> Result<Option<i32>, ApiError> {
    let ttl_bounds = MIN_ACCESS_TOKEN_TTL_SECS..=MAX_ACCESS_TOKEN_TTL_SECS;
    if ttl.is_some_and(|t| !u64::try_from(t).is_ok_and(|t| ttl_bounds.contains(&t))) {
        return Err(ApiError::FieldInvalid(
            "access_token_ttl_invalid",
            "access_token_ttl_secs must be 10 to 3600",
        ));
    }
    Ok(ttl)
}

fn parse_passkeys(input: &PasskeysInput) -> Result<RelyingParty, ApiError> {
    RelyingParty::parse(&input.rp_id, &input.origins)
        .map_err(|e| ApiError::FieldInvalid("passkeys_invalid", e.message()))
}

errors!(
    CreateTenantErrors = [
        ADMIN,
        JSON_BODY,
        &[
            (409, &["tenant_exists"]),
            (
                422,
                &[
                    "slug_invalid",
                    "name_invalid",
                    "audience_invalid",
                    "brute_force_invalid",
                    "access_token_ttl_invalid",
                    "passkeys_invalid",
                    "signing_alg_invalid"
                ]
            ),
        ],
    ]
);

/// Create a tenant with its first signing keys (current and next).
#[utoipa::path(
    post,
    path = "/v1/admin/tenants",
    operation_id = "create_tenant",
    tag = tags::ADMIN,
    request_body = NewTenant,
    security(("admin_token" = [])),
    responses((status = 201, description = "The tenant", body = TenantView), CreateTenantErrors),
)]
pub async fn create(
    _admin: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<(StatusCode, ApiJson<TenantView>), ApiError> {
    let slug = Slug::parse(&body.slug).map_err(|e| ApiError::SlugInvalid(e.to_string()))?;
    let name = parse_name(&body.name)?;
    let audience = parse_audience(body.audience.as_deref().unwrap_or(DEFAULT_AUDIENCE))?;
    let brute_force = body.brute_force.validate()?;
    let access_token_ttl_secs = check_ttl(body.access_token_ttl_secs)?;
    let relying_party = match &body.passkeys {
        Some(input) => Some(parse_passkeys(input)?),
        None => RelyingParty::for_pages(state.pages_url()),
    };

    let signing_alg = match body.signing_alg.as_deref() {
        None => SigningAlgorithm::default(),
        Some(name) => SigningAlgorithm::parse(name).ok_or(ApiError::FieldInvalid(
            "signing_alg_invalid",
            "signing_alg must be ES256 or EdDSA",
        ))?,
    };

    let id = Uuid::new_v4();
    let now = time::OffsetDateTime::now_utc();
    let mut tx = state.db().begin().await?;
    sqlx::query(
        "INSERT INTO tenants (id, slug, name, audience, throttle_account_failures,
                              throttle_ip_failures, throttle_window_secs, throttle_max_delay_secs,
                              passkey_rp_id, passkey_origins, access_token_ttl_secs, signing_alg)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id)
    .bind(slug.as_str())
    .bind(name)
    .bind(audience)
    .bind(brute_force.account_failures)
    .bind(brute_force.ip_failures)
    .bind(brute_force.window_secs)
    .bind(brute_force.max_delay_secs)
    .bind(relying_party.as_ref().map(RelyingParty::rp_id))
    .bind(relying_party.as_ref().map(|rp| rp.origins().to_vec()))
    .bind(access_token_ttl_secs)
    .bind(signing_alg.as_str())
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "tenants_slug_key") {
            ApiError::TenantExists
        } else {
            e.into()
        }
    })?;
    // The new tenant's keys and audit trail are its rows (row-level security).
    crate::db::enter_tenant(&mut tx, id).await?;
    key_rotation::first_keys(
        &mut tx,
        state.kek(),
        id,
        signing_alg,
        state.key_rotation(),
        now,
    )
    .await?;
    crate::orgs::roles::seed_defaults(&mut tx, id).await?;
    audit::record(
        &mut tx,
        Event::new(id, Actor::Admin, EventType::TenantCreated)
            .subject(slug.as_str())
            .detail("signing_alg", signing_alg.as_str()),
    )
    .await?;
    let view = TenantView::load(&mut *tx, &state, id).await?;
    tx.commit().await?;

    tracing::info!(tenant.id = %id, tenant.slug = slug.as_str(), "tenant created");
    Ok((StatusCode::CREATED, ApiJson(view)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TenantPage {
    tenants: Vec<TenantView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    next_cursor: Option<String>,
}

errors!(ListTenantsErrors = [ADMIN, PAGE]);

/// Every tenant in slug order (slugs never change), a page at a time.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants",
    operation_id = "list_tenants",
    tag = tags::ADMIN,
    params(SlugPageQuery),
    security(("admin_token" = [])),
    responses((status = 200, description = "A page of tenants", body = TenantPage), ListTenantsErrors),
)]
pub async fn list(
    _admin: Admin,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let page = Page::<SlugCursor>::parse_plain(query.as_deref())?;
    let rows: Vec<TenantRow> = sqlx::query_as(&format!(
        "SELECT {VIEW_COLUMNS} FROM tenants WHERE ($1::text IS NULL OR slug > $1)
         ORDER BY slug LIMIT $2"
    ))
    .bind(page.after.as_ref().map(|c| c.0.as_str()))
    .bind(page.fetch())
    .fetch_all(state.db())
    .await?;
    let (rows, next_cursor) = page.finish(rows, |r| SlugCursor(r.tenant.slug.to_string()));
    let tenants = rows
        .into_iter()
        .map(|row| TenantView::of(&state, row))
        .collect::<Result<_, _>>()?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        ApiJson(TenantPage {
            tenants,
            next_cursor,
        }),
    )
        .into_response())
}

errors!(ShowTenantErrors = [TENANT_ADMIN]);

/// One tenant.
#[utoipa::path(
    get,
    path = "/v1/admin/tenants/{slug}",
    operation_id = "show_tenant",
    tag = tags::ADMIN,
    params(SlugPath),
    security(("admin_token" = [])),
    responses((status = 200, description = "The tenant", body = TenantView), ShowTenantErrors),
)]
pub async fn show(admin: TenantAdmin, State(state): State<AppState>) -> Result<Response, ApiError> {
    let view = TenantView::load(state.db(), &state, admin.tenant.id).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], ApiJson(view)).into_response())
}

/// `Some(None)` for an explicit `null`, `None` for an omitted field (with `#[serde(default)]`).
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    name: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
    )]
    audience: Option<String>,
    /// `null`: follow the origin's lifetime again.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>, minimum = 10, maximum = 3600)]
    access_token_ttl_secs: Option<Option<i32>>,
    /// Only the knobs given change.
    #[serde(default, deserialize_with = "crate::extract::optional_object")]
    brute_force: Option<ThrottleSettingsInput>,
    /// `null`: no passkeys (refused while any is registered).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<PasskeysInput>)]
    passkeys: Option<Option<PasskeysInput>>,
}

errors!(
    UpdateTenantErrors = [
        TENANT_ADMIN,
        JSON_BODY,
        &[
            (409, &["passkey_rp_id_locked"]),
            (
                422,
                &[
                    "name_invalid",
                    "audience_invalid",
                    "brute_force_invalid",
                    "access_token_ttl_invalid",
                    "passkeys_invalid",
                    "update_empty"
                ]
            ),
        ],
    ]
);

/// Update a tenant: only the fields given change.
///
/// The relying-party id is what every passkey is bound to: while the tenant has passkeys it may not
/// change (409 `passkey_rp_id_locked`), though its origins may. A new audience or lifetime applies
/// to tokens issued from now on; tokens already out keep theirs (and the edge must be told of an
/// audience it should accept).
#[utoipa::path(
    patch,
    path = "/v1/admin/tenants/{slug}",
    operation_id = "update_tenant",
    tag = tags::ADMIN,
    params(SlugPath),
    request_body = TenantUpdate,
    security(("admin_token" = [])),
    responses((status = 200, description = "The tenant", body = TenantView), UpdateTenantErrors),
)]
pub async fn update(
    admin: TenantAdmin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TenantUpdate>,
) -> Result<ApiJson<TenantView>, ApiError> {
    if body.name.is_none()
        && body.audience.is_none()
        && body.access_token_ttl_secs.is_none()
        && body.brute_force.is_none()
        && body.passkeys.is_none()
    {
        return Err(ApiError::FieldInvalid(
            "update_empty",
            "give at least one of name, audience, access_token_ttl_secs, brute_force, passkeys",
        ));
    }
    let name = body.name.as_deref().map(parse_name).transpose()?;
    let audience = body.audience.as_deref().map(parse_audience).transpose()?;
    let ttl = body.access_token_ttl_secs.map(check_ttl).transpose()?;
    let passkeys = match &body.passkeys {
        None => None,
        Some(None) => Some(None),
        Some(Some(input)) => Some(Some(parse_passkeys(input)?)),
    };

    let tenant_id = admin.tenant.id;
    let mut tx = state.db().begin().await?;
    // The row as it is now, locked against a concurrent update (sign-ins' key-share locks pass).
    let current: tenants::Tenant = sqlx::query_as(&format!(
        "SELECT {} FROM tenants WHERE id = $1 FOR NO KEY UPDATE",
        tenants::COLUMNS
    ))
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    let brute_force = body
        .brute_force
        .map(|input| input.validate_over(current.throttle))
        .transpose()?;
    if let Some(new_rp) = &passkeys {
        let rp_id_changes =
            new_rp.as_ref().map(RelyingParty::rp_id) != current.passkey_rp_id.as_deref();
        if rp_id_changes {
            let (registered,): (bool,) =
                sqlx::query_as("SELECT EXISTS (SELECT 1 FROM passkeys WHERE tenant_id = $1)")
                    .bind(tenant_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if registered {
                return Err(ApiError::PasskeyRpIdLocked);
            }
        }
    }

    let mut changes = serde_json::Map::new();
    if let Some(name) = name {
        changes.insert("name".into(), name.into());
    }
    if let Some(audience) = audience {
        changes.insert("audience".into(), audience.into());
    }
    if let Some(ttl) = ttl {
        changes.insert("access_token_ttl_secs".into(), ttl.into());
    }
    if let Some(brute_force) = brute_force {
        changes.insert(
            "brute_force".into(),
            serde_json::to_value(brute_force).map_err(anyhow::Error::new)?,
        );
    }
    if let Some(rp) = &passkeys {
        changes.insert(
            "passkeys".into(),
            serde_json::to_value(rp.as_ref().map(PasskeysView::from))
                .map_err(anyhow::Error::new)?,
        );
    }
    let throttle = brute_force.unwrap_or(current.throttle);
    sqlx::query(
        "UPDATE tenants SET name = $2, audience = $3, access_token_ttl_secs = $4,
                throttle_account_failures = $5, throttle_ip_failures = $6,
                throttle_window_secs = $7, throttle_max_delay_secs = $8,
                passkey_rp_id = $9, passkey_origins = $10
         WHERE id = $1",
    )
    .bind(tenant_id)
    .bind(name.unwrap_or(&current.name))
    .bind(audience.unwrap_or(&current.audience))
    .bind(ttl.unwrap_or(current.access_token_ttl_secs))
    .bind(throttle.account_failures)
    .bind(throttle.ip_failures)
    .bind(throttle.window_secs)
    .bind(throttle.max_delay_secs)
    .bind(match &passkeys {
        Some(rp) => rp.as_ref().map(|rp| rp.rp_id().to_owned()),
        None => current.passkey_rp_id.clone(),
    })
    .bind(match &passkeys {
        Some(rp) => rp.as_ref().map(|rp| rp.origins().to_vec()),
        None => current.passkey_origins.clone(),
    })
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Event::new(tenant_id, admin.actor(), EventType::TenantUpdated)
            .subject(&current.slug)
            .detail("changes", changes),
    )
    .await?;
    let view = TenantView::load(&mut *tx, &state, tenant_id).await?;
    tx.commit().await?;
    tracing::info!(tenant.id = %tenant_id, "tenant updated");
    Ok(ApiJson(view))
}
