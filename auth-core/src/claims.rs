//! Which issuers and audiences are trusted, and what makes a token's claims acceptable.
//!
//! The same [`Expectations`] type is parsed by the edge (from `wrangler.toml` vars) and by the origin,
//! so both sides agree on what a valid access token is.

use crate::keys::Algorithm;
use crate::reject::Rejection;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Default clock-skew allowance. Invariant: tokens are accepted at most this long after `exp`, and
/// this long before `nbf`/`iat`; kept small because revocation lag adds to it.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Largest leeway a configuration may ask for.
pub const MAX_LEEWAY_SECS: u64 = 300;
/// Latest NumericDate we accept (9999-12-31T23:59:59Z); larger values are nonsense, not long lifetimes.
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// Everything the edge trusts, per issuer.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    pub issuers: Vec<IssuerPolicy>,
}

/// One trusted issuer: where its keys are, and what its tokens must say.
///
/// An entry whose `issuer` holds [`TENANT_PLACEHOLDER`] is a template for the origin's tenants
/// (`crate::tenant_issuers`): it trusts every tenant the origin serves under that name, with keys at
/// its `jwks_uri` (by default `{issuer}/.well-known/jwks.json`) and the binding `tenant = "origin"`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(try_from = "IssuerEntry")]
pub struct IssuerPolicy {
    /// Exact `iss` value, or a template holding [`TENANT_PLACEHOLDER`] once.
    pub issuer: String,
    /// Where the keys are; for a template, holds [`TENANT_PLACEHOLDER`] once too.
    pub jwks_uri: String,
    /// The token's `aud` must contain at least one of these.
    pub audiences: Vec<String>,
    #[serde(default = "default_algorithms", with = "algorithm_names")]
    pub algorithms: Vec<Algorithm>,
    /// Expected `typ` header (`at+jwt` for RFC 9068 access tokens); `None` skips the check.
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// How this issuer's key set is cached at the edge.
    #[serde(default)]
    pub jwks_cache: crate::key_cache::KeyCacheSettings,
    /// Which of our tenants its tokens act for; never what a token's `tid` says alone.
    #[serde(default)]
    pub tenant: TenantBinding,
}

/// The placeholder for a tenant's slug in a template issuer.
pub const TENANT_PLACEHOLDER: &str = "{tenant}";

/// An issuer entry as configured, before the rules that tie its fields together: a template's
/// `jwks_uri` may be left out, and its tenant binding can only be `"origin"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerEntry {
    issuer: String,
    jwks_uri: Option<String>,
    audiences: Vec<String>,
    #[serde(default = "default_algorithms", with = "algorithm_names")]
    algorithms: Vec<Algorithm>,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default = "default_leeway")]
    leeway_secs: u64,
    #[serde(default)]
    jwks_cache: crate::key_cache::KeyCacheSettings,
    tenant: Option<TenantBinding>,
}

impl TryFrom<IssuerEntry> for IssuerPolicy {
    type Error = String;

    fn try_from(e: IssuerEntry) -> Result<Self, String> {
        let placeholders = |s: &str| s.matches(TENANT_PLACEHOLDER).count();
        let (jwks_uri, tenant) = if placeholders(&e.issuer) == 0 {
            let jwks_uri = e
                .jwks_uri
                .ok_or_else(|| format!("issuer {:?} has no jwks_uri", e.issuer))?;
            if placeholders(&jwks_uri) > 0 {
                return Err(format!(
                    "issuer {:?} is not a template, but its jwks_uri is",
                    e.issuer
                ));
            }
            (jwks_uri, e.tenant.unwrap_or_default())
        } else {
            crate::tenant_issuers::check_template(&e.issuer)
                .map_err(|problem| format!("issuer {:?}: {problem}", e.issuer))?;
            let jwks_uri = e
                .jwks_uri
                .unwrap_or_else(|| format!("{}/.well-known/jwks.json", e.issuer));
            if placeholders(&jwks_uri) != 1 {
                return Err(format!(
                    "issuer {:?}: a template's jwks_uri must hold {TENANT_PLACEHOLDER} once, or \
                     each tenant's tokens would be checked against one key set",
                    e.issuer
                ));
            }
            match e.tenant {
                None | Some(TenantBinding::Origin) => (jwks_uri, TenantBinding::Origin),
                Some(_) => {
                    return Err(format!(
                        "issuer {:?}: a template names the origin's tenants, so its tenant \
                         binding is \"origin\"",
                        e.issuer
                    ))
                }
            }
        };
        Ok(IssuerPolicy {
            issuer: e.issuer,
            jwks_uri,
            audiences: e.audiences,
            algorithms: e.algorithms,
            token_type: e.token_type,
            leeway_secs: e.leeway_secs,
            jwks_cache: e.jwks_cache,
            tenant,
        })
    }
}

impl IssuerPolicy {
    /// Whether this entry is a template for the origin's tenants.
    pub fn is_template(&self) -> bool {
        self.issuer.contains(TENANT_PLACEHOLDER)
    }
}

/// The tenant an issuer's tokens act for (issue 10 §1.5): what the edge forwards in `x-auth-tenant`,
/// and whose object and deny entries it consults. A trusted third-party IdP's `tid` (Azure AD tokens
/// carry one) names a tenant of the IdP, not one of ours, and must never be taken for one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TenantBinding {
    /// None of our tenants (the default): no tenant is forwarded, and the issuer's sessions are
    /// revoked under the issuer's own name.
    #[default]
    None,
    /// An issuer of the origin: it belongs to the tenant its key set was published for (the JWKS
    /// document's `tenant_id`), and a token whose `tid` names another tenant, or none, is refused
    /// with `tenant_mismatch`.
    Origin,
    /// A third-party issuer whose tokens act for this tenant of ours, whatever their `tid` says.
    Assigned(String),
}

fn default_algorithms() -> Vec<Algorithm> {
    vec![Algorithm::Es256, Algorithm::EdDsa]
}

fn default_leeway() -> u64 {
    DEFAULT_LEEWAY_SECS
}

mod algorithm_names {
    use crate::keys::Algorithm;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(algs: &[Algorithm], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(algs.iter().map(|a| a.name()))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Algorithm>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|n| {
                Algorithm::from_header(n)
                    .ok_or_else(|| D::Error::custom(format!("unsupported algorithm {n:?}")))
            })
            .collect()
    }
}

/// Why a configuration was refused at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid expectations: {0}")]
    Parse(String),
    #[error("no trusted issuer is configured")]
    NoIssuers,
    #[error("issuer {0:?} is configured twice")]
    DuplicateIssuer(String),
    #[error("issuer {0:?} has no audience")]
    NoAudience(String),
    #[error("issuer {0:?} allows no algorithm")]
    NoAlgorithm(String),
    #[error("issuer {0:?} asks for a leeway over {MAX_LEEWAY_SECS} s")]
    LeewayTooLarge(String),
    #[error("issuer {0:?}: {1}")]
    KeyCache(String, &'static str),
}

impl Expectations {
    /// Parses and validates expectations from JSON.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let parsed: Expectations =
            serde_json::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        parsed.validate()?;
        Ok(parsed)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::NoIssuers);
        }
        for (i, p) in self.issuers.iter().enumerate() {
            if self
                .issuers
                .iter()
                .skip(i + 1)
                .any(|o| o.issuer == p.issuer)
            {
                return Err(ConfigError::DuplicateIssuer(p.issuer.clone()));
            }
            if p.audiences.is_empty() {
                return Err(ConfigError::NoAudience(p.issuer.clone()));
            }
            if p.algorithms.is_empty() {
                return Err(ConfigError::NoAlgorithm(p.issuer.clone()));
            }
            if p.leeway_secs > MAX_LEEWAY_SECS {
                return Err(ConfigError::LeewayTooLarge(p.issuer.clone()));
            }
            if let Some(problem) = p.jwks_cache.problem() {
                return Err(ConfigError::KeyCache(p.issuer.clone(), problem));
            }
        }
        Ok(())
    }

    /// The policy for an exact issuer string (templates are not matched: see
    /// [`Expectations::resolve`]).
    pub fn issuer(&self, iss: &str) -> Option<&IssuerPolicy> {
        self.issuers
            .iter()
            .find(|p| !p.is_template() && p.issuer == iss)
    }
}

/// Claims whose signature and validity have been checked. Only the verifier builds these.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClaims {
    issuer: String,
    subject: String,
    audiences: Vec<String>,
    expires_at: i64,
    issued_at: Option<i64>,
    session: Option<String>,
    tenant: Option<String>,
    jwt_id: Option<String>,
    /// Every claim, for route requirements (scopes, roles, claim conditions, bindings).
    all: Map<String, Value>,
}

impl VerifiedClaims {
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    pub fn subject(&self) -> &str {
        &self.subject
    }
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }
    pub fn expires_at(&self) -> i64 {
        self.expires_at
    }
    pub fn issued_at(&self) -> Option<i64> {
        self.issued_at
    }
    /// The `sid` claim: the session this token belongs to, the unit of revocation.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }
    /// The tenant the token acts for, as its issuer's [`TenantBinding`] decides: for the origin's
    /// issuers the `tid` claim once it matched the issuer's tenant; for third-party issuers the
    /// configured tenant or none. This is forwarded and keys revocations, and it is what route
    /// requirements see as the `tid` claim: the token's own `tid` is not kept.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    pub fn jwt_id(&self) -> Option<&str> {
        self.jwt_id.as_deref()
    }
    /// A claim by name, or by a dotted path into nested objects (`org.id`).
    pub fn claim(&self, path: &str) -> Option<&Value> {
        let mut parts = path.split('.');
        let first = self.all.get(parts.next()?)?;
        parts.try_fold(first, |v, p| v.get(p))
    }

    /// Granted scopes: the space-separated `scope` claim (RFC 9068), else `scp` (a string or an
    /// array of strings, as some issuers send).
    pub fn scopes(&self) -> Vec<&str> {
        match self.all.get("scope").or_else(|| self.all.get("scp")) {
            Some(Value::String(s)) => s.split_whitespace().collect(),
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Roles: the `roles` claim, an array of strings or a single string.
    pub fn roles(&self) -> Vec<&str> {
        match self.all.get("roles") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// Validates time, issuer, audience and subject claims against an issuer's policy at `now` (Unix s),
/// and binds the token to a tenant; `key_tenant` is the tenant of the verifying key's set.
pub(crate) fn validate(
    claims: Map<String, Value>,
    policy: &IssuerPolicy,
    key_tenant: Option<&str>,
    now: i64,
) -> Result<VerifiedClaims, Rejection> {
    let leeway = i64::try_from(policy.leeway_secs).unwrap_or(0);
    let issuer = string_claim(&claims, "iss")?.ok_or(Rejection::ClaimsInvalid("iss is missing"))?;
    if issuer != policy.issuer {
        return Err(Rejection::IssuerUntrusted);
    }
    let expires_at =
        numeric_date(&claims, "exp")?.ok_or(Rejection::ClaimsInvalid("exp is missing"))?;
    if now > expires_at.saturating_add(leeway) {
        return Err(Rejection::Expired);
    }
    if let Some(nbf) = numeric_date(&claims, "nbf")? {
        if nbf > now.saturating_add(leeway) {
            return Err(Rejection::NotYetValid);
        }
    }
    let issued_at = numeric_date(&claims, "iat")?;
    if issued_at.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(Rejection::ClaimsInvalid("iat is in the future"));
    }
    let audiences = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(Rejection::ClaimsInvalid("aud has a non-string member"))?,
        Some(_) => return Err(Rejection::ClaimsInvalid("aud has the wrong type")),
        None => Vec::new(),
    };
    if !audiences.iter().any(|a| policy.audiences.contains(a)) {
        return Err(Rejection::AudienceMismatch);
    }
    let subject = string_claim(&claims, "sub")?
        .filter(|s| !s.is_empty())
        .ok_or(Rejection::ClaimsInvalid("sub is missing"))?;
    let tid = string_claim(&claims, "tid")?;
    let tenant = bound_tenant(&policy.tenant, tid, key_tenant)?;
    // Route requirements read claims by name: `tid` must say what the binding decided, or a rule
    // on `tid` would trust any issuer's.
    let mut claims = claims;
    match &tenant {
        Some(t) => claims.insert("tid".into(), Value::String(t.clone())),
        None => claims.remove("tid"),
    };
    Ok(VerifiedClaims {
        issuer,
        subject,
        audiences,
        expires_at,
        issued_at,
        session: string_claim(&claims, "sid")?,
        tenant,
        jwt_id: string_claim(&claims, "jti")?,
        all: claims,
    })
}

/// The tenant a token acts for under its issuer's binding.
fn bound_tenant(
    binding: &TenantBinding,
    tid: Option<String>,
    key_tenant: Option<&str>,
) -> Result<Option<String>, Rejection> {
    match binding {
        TenantBinding::None => Ok(None),
        TenantBinding::Assigned(tenant) => Ok(Some(tenant.clone())),
        // A key set that names no tenant cannot vouch for one: refused like a mismatch, since a
        // token of the origin's issuer must not pass with a tenant nobody bound.
        TenantBinding::Origin => match (tid, key_tenant) {
            (Some(tid), Some(owner)) if tid == owner => Ok(Some(tid)),
            _ => Err(Rejection::TenantMismatch),
        },
    }
}

fn string_claim(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Rejection::ClaimsInvalid(match name {
            "iss" => "iss is not a string",
            "sub" => "sub is not a string",
            "sid" => "sid is not a string",
            "tid" => "tid is not a string",
            "jti" => "jti is not a string",
            _ => "a string claim has the wrong type",
        })),
    }
}

/// A NumericDate as whole seconds: fractional, negative, non-numeric and absurd values are refused.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, Rejection> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let invalid = Rejection::ClaimsInvalid(match name {
        "exp" => "exp is not a valid NumericDate",
        "nbf" => "nbf is not a valid NumericDate",
        _ => "iat is not a valid NumericDate",
    });
    match value.as_i64() {
        Some(v) if (0..=MAX_NUMERIC_DATE).contains(&v) => Ok(Some(v)),
        _ => Err(invalid),
    }
}
