//! Tenants as stored, and how handlers find the one a path names.

use crate::domain::RelyingParty;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A tenant: its own issuer, audience, users and signing keys.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub audience: String,
    #[sqlx(flatten)]
    pub throttle: ThrottleSettings,
    /// The WebAuthn relying party id; `None` when passkeys are not configured.
    pub passkey_rp_id: Option<String>,
    /// Origins passkey ceremonies may come from (validated with the RP id at creation).
    pub passkey_origins: Option<Vec<String>>,
    /// The tenant's access-token lifetime; `None`: the origin's (`AppState::access_token_ttl_for`).
    pub access_token_ttl_secs: Option<i32>,
    /// The algorithm of the tenant's new signing keys (`ES256` or `EdDSA`).
    pub signing_alg: String,
}

impl Tenant {
    /// The tenant's relying party, or 409 `passkeys_not_configured`.
    pub fn relying_party(&self) -> Result<RelyingParty, ApiError> {
        match (&self.passkey_rp_id, &self.passkey_origins) {
            (Some(rp_id), Some(origins)) => RelyingParty::parse(rp_id, origins).map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("stored relying party is invalid: {e}"))
            }),
            _ => Err(ApiError::PasskeysNotConfigured),
        }
    }
}

/// A tenant's brute-force knobs (columns `throttle_*`; the rule is in `throttle::policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ThrottleSettings {
    /// Failures per account before delays begin.
    #[sqlx(rename = "throttle_account_failures")]
    pub account_failures: i32,
    /// Failures per client address before delays begin.
    #[sqlx(rename = "throttle_ip_failures")]
    pub ip_failures: i32,
    /// Seconds after the last failure (and its delay) when a count is forgotten.
    #[sqlx(rename = "throttle_window_secs")]
    pub window_secs: i32,
    /// The longest delay.
    #[sqlx(rename = "throttle_max_delay_secs")]
    pub max_delay_secs: i32,
}

impl Default for ThrottleSettings {
    /// The schema's defaults: 5 failures per account, 30 per address, 15 minutes, 15 minutes.
    fn default() -> Self {
        ThrottleSettings {
            account_failures: 5,
            ip_failures: 30,
            window_secs: 900,
            max_delay_secs: 900,
        }
    }
}

/// Knobs given on tenant creation; each omitted one takes its default.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettingsInput {
    /// Failures per account before delays begin: 1 to 1000 (default 5).
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    account_failures: Option<i32>,
    /// Failures per client address before delays begin: 1 to 100000 (default 30).
    #[schema(minimum = 1, maximum = 100_000)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    ip_failures: Option<i32>,
    /// Seconds after which a count is forgotten: 60 to 86400 (default 900).
    #[schema(minimum = 60, maximum = 86_400)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    window_secs: Option<i32>,
    /// The longest delay, in seconds: 1 to 86400 (default 900).
    #[schema(minimum = 1, maximum = 86_400)]
    #[serde(default, deserialize_with = "crate::extract::optional_integer")]
    max_delay_secs: Option<i32>,
}

impl ThrottleSettingsInput {
    /// The settings, or 422 `brute_force_invalid` naming the bound (the schema's CHECKs agree).
    pub fn validate(self) -> Result<ThrottleSettings, ApiError> {
        self.validate_over(ThrottleSettings::default())
    }

    /// [`Self::validate`], an omitted knob keeping its value in `base` (an update).
    pub fn validate_over(self, base: ThrottleSettings) -> Result<ThrottleSettings, ApiError> {
        let d = base;
        let field = |value: Option<i32>,
                     default: i32,
                     range: std::ops::RangeInclusive<i32>,
                     message: &'static str| {
            let v = value.unwrap_or(default);
            if range.contains(&v) {
                Ok(v)
            } else {
                Err(ApiError::FieldInvalid("brute_force_invalid", message))
            }
        };
        Ok(ThrottleSettings {
            account_failures: field(
                self.account_failures,
                d.account_failures,
                1..=1000,
                "brute_force.account_failures must be 1 to 1000",
            )?,
            ip_failures: field(
                self.ip_failures,
                d.ip_failures,
                1..=100_000,
                "brute_force.ip_failures must be 1 to 100000",
            )?,
            window_secs: field(
                self.window_secs,
                d.window_secs,
                60..=86_400,
                "brute_force.window_secs must be 60 to 86400",
            )?,
            max_delay_secs: field(
                self.max_delay_secs,
                d.max_delay_secs,
                1..=86_400,
                "brute_force.max_delay_secs must be 1 to 86400",
            )?,
        })
    }
}

/// The columns of a [`Tenant`].
pub const COLUMNS: &str = "id, slug, name, audience, throttle_account_failures, throttle_ip_failures, \
                       throttle_window_secs, throttle_max_delay_secs, passkey_rp_id, passkey_origins, \
                       access_token_ttl_secs, signing_alg";

/// The tenant with this slug, or `tenant_not_found`. From here on the request acts for it in the
/// database (`crate::db`): the lookup itself sets the connection's tenant (a transaction begun
/// before it sees the tenant's rows), and the pool gives later connections the same.
pub async fn find(executor: impl PgExecutor<'_>, slug: &str) -> Result<Tenant, ApiError> {
    // `set_config` in the same statement: this connection acts for the tenant found, whichever
    // connection the executor is (unless the task works across tenants).
    let tenant = sqlx::query_as::<_, Tenant>(&format!(
        "SELECT {COLUMNS}, CASE WHEN coalesce(current_setting('app.cross_tenant', true), '') = ''
                                THEN set_config('app.tenant_id', id::text, false) END AS scope
           FROM tenants WHERE slug = $1"
    ))
    .bind(slug)
    .fetch_optional(executor)
    .await?
    .ok_or(ApiError::TenantNotFound)?;
    crate::db::entered_tenant(tenant.id);
    Ok(tenant)
}

/// The `jwks_uri` of an issuer.
pub fn jwks_uri(issuer: &str) -> String {
    format!("{issuer}/.well-known/jwks.json")
}
