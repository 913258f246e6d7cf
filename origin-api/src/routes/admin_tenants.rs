//! `POST /v1/admin/tenants`: create a tenant with its first signing keys (current and next).

use crate::audit::{self, Actor, Event, EventType};
use crate::auth::Admin;
use crate::config::{MAX_ACCESS_TOKEN_TTL_SECS, MIN_ACCESS_TOKEN_TTL_SECS};
use crate::domain::{RelyingParty, Slug};
use crate::error::{is_unique_violation, ApiError};
use crate::extract::ApiJson;
use crate::key_rotation;
use crate::keys::SigningAlgorithm;
use crate::state::AppState;
use crate::tenants::{self, ThrottleSettings, ThrottleSettingsInput};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const DEFAULT_AUDIENCE: &str = "api";
const MAX_NAME_CHARS: usize = 200;
const MAX_AUDIENCE_CHARS: usize = 256;

#[derive(Debug, Deserialize)]
pub struct NewTenant {
    slug: String,
    name: String,
    audience: Option<String>,
    /// Brute-force knobs; omitted ones take their defaults.
    #[serde(default)]
    brute_force: ThrottleSettingsInput,
    /// The WebAuthn relying party; omitted: the hosted pages' origin under its own host, when that
    /// host is a domain.
    passkeys: Option<PasskeysInput>,
    /// The tenant's access-token lifetime; omitted: the origin's.
    access_token_ttl_secs: Option<i32>,
    /// `ES256` (the default) or `EdDSA`: what the tenant's tokens are signed with.
    signing_alg: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasskeysInput {
    rp_id: String,
    origins: Vec<String>,
}

/// A tenant's relying party as the API shows it.
#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
pub struct TenantCreated {
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
    signing_alg: SigningAlgorithm,
}

fn printable(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

pub async fn create(
    _admin: Admin,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<(StatusCode, ApiJson<TenantCreated>), ApiError> {
    let slug = Slug::parse(&body.slug).map_err(|e| ApiError::SlugInvalid(e.to_string()))?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || !printable(name) {
        return Err(ApiError::FieldInvalid(
            "name_invalid",
            "name must be 1 to 200 printable characters",
        ));
    }
    let audience = body.audience.as_deref().unwrap_or(DEFAULT_AUDIENCE);
    if audience.is_empty() || audience.chars().count() > MAX_AUDIENCE_CHARS || !printable(audience)
    {
        return Err(ApiError::FieldInvalid(
            "audience_invalid",
            "audience must be 1 to 256 printable characters",
        ));
    }

    let brute_force = body.brute_force.validate()?;
    let ttl_bounds = MIN_ACCESS_TOKEN_TTL_SECS..=MAX_ACCESS_TOKEN_TTL_SECS;
    if body
        .access_token_ttl_secs
        .is_some_and(|t| !u64::try_from(t).is_ok_and(|t| ttl_bounds.contains(&t)))
    {
        return Err(ApiError::FieldInvalid(
            "access_token_ttl_invalid",
            "access_token_ttl_secs must be 10 to 3600",
        ));
    }
    let relying_party = match &body.passkeys {
        Some(input) => Some(
            RelyingParty::parse(&input.rp_id, &input.origins)
                .map_err(|e| ApiError::FieldInvalid("passkeys_invalid", e.message()))?,
        ),
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
    .bind(body.access_token_ttl_secs)
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
    key_rotation::first_keys(
        &mut tx,
        state.kek(),
        id,
        signing_alg,
        state.key_rotation(),
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        Event::new(id, Actor::Admin, EventType::TenantCreated)
            .subject(slug.as_str())
            .detail("signing_alg", signing_alg.as_str()),
    )
    .await?;
    tx.commit().await?;

    tracing::info!(tenant.id = %id, tenant.slug = slug.as_str(), "tenant created");
    let issuer = state.issuer(slug.as_str());
    Ok((
        StatusCode::CREATED,
        ApiJson(TenantCreated {
            id,
            slug: slug.as_str().to_owned(),
            name: name.to_owned(),
            jwks_uri: tenants::jwks_uri(&issuer),
            issuer,
            audience: audience.to_owned(),
            brute_force,
            passkeys: relying_party.as_ref().map(PasskeysView::from),
            access_token_ttl_secs: body
                .access_token_ttl_secs
                .map_or(state.access_token_ttl_default(), i64::from),
            signing_alg,
        }),
    ))
}
