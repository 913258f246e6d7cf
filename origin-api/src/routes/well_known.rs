//! Discovery: `/t/{tenant}/.well-known/openid-configuration` and `/t/{tenant}/.well-known/jwks.json`.

use crate::error::ApiError;
use crate::errors;
use crate::extract::ApiPath;
use crate::openapi::{tags, TenantPath, TENANT};
use crate::state::AppState;
use crate::{keys, oauth, tenants};
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::ToSchema;

/// Edges cache the key set for `ORIGIN_JWKS_MAX_AGE_SECS`. Invariant (`key_rotation`): a new key is
/// published as `next` at least this long before it becomes `current`, so no edge that honours the
/// max-age meets a token signed by a key it has not fetched.
fn cacheable(state: &AppState, body: impl Serialize) -> Response {
    let max_age = state.key_rotation().jwks_max_age_secs;
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    response
}

/// OpenID Connect Discovery 1.0 §3, and RFC 8414 for the OAuth fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct Discovery {
    issuer: String,
    /// On the hosted pages' origin, where their sign-in cookie lives; the rest is on the issuer's.
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    #[schema(value_type = Vec<String>)]
    scopes_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    response_types_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    response_modes_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    grant_types_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    subject_types_supported: &'static [&'static str],
    /// The tenant's signing algorithm: `ES256` or `EdDSA`.
    #[schema(value_type = Vec<String>)]
    id_token_signing_alg_values_supported: [String; 1],
    #[schema(value_type = Vec<String>)]
    token_endpoint_auth_methods_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    code_challenge_methods_supported: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    claims_supported: &'static [&'static str],
    authorization_response_iss_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
}

errors!(DiscoveryErrors = [TENANT]);

/// The tenant's OpenID Connect discovery document (cacheable for the JWKS max-age).
#[utoipa::path(
    get,
    path = "/t/{tenant}/.well-known/openid-configuration",
    operation_id = "openid_configuration",
    tag = tags::OAUTH,
    params(TenantPath),
    responses((status = 200, description = "The discovery document", body = Discovery), DiscoveryErrors),
)]
pub async fn openid_configuration(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let issuer = state.issuer(&tenant.slug);
    let body = Discovery {
        authorization_endpoint: format!("{}/authorize", state.pages_base(&tenant.slug)),
        token_endpoint: format!("{issuer}/token"),
        userinfo_endpoint: format!("{issuer}/userinfo"),
        jwks_uri: tenants::jwks_uri(&issuer),
        issuer,
        scopes_supported: &oauth::scope::SUPPORTED,
        response_types_supported: &["code"],
        response_modes_supported: &["query"],
        grant_types_supported: &["authorization_code", "refresh_token"],
        subject_types_supported: &["public"],
        id_token_signing_alg_values_supported: [tenant.signing_alg],
        token_endpoint_auth_methods_supported: &["none"],
        code_challenge_methods_supported: &["S256"],
        claims_supported: &[
            "iss",
            "sub",
            "aud",
            "azp",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "sid",
            "email",
            "email_verified",
        ],
        authorization_response_iss_parameter_supported: true,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
    };
    Ok(cacheable(&state, body))
}

crate::cors_preflight!(
    openid_configuration_preflight,
    "/t/{tenant}/.well-known/openid-configuration",
    "openid_configuration_preflight"
);

/// A JSON Web Key Set (RFC 7517 §5) as `auth_core::KeySet::to_jwks_json` writes it: the tenant's
/// current, next and recently retired public keys, and the tenant they belong to.
#[derive(Debug)]
pub struct Jwks;

impl utoipa::PartialSchema for Jwks {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let key = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("kty", enumerated(&["EC", "OKP"]))
            .required("kty")
            .property("crv", enumerated(&["P-256", "Ed25519"]))
            .required("crv")
            .property("x", ObjectBuilder::new().schema_type(Type::String))
            .required("x")
            .property("y", ObjectBuilder::new().schema_type(Type::String))
            .property("alg", enumerated(&["ES256", "EdDSA"]))
            .required("alg")
            .property("use", enumerated(&["sig"]))
            .required("use")
            .property("kid", ObjectBuilder::new().schema_type(Type::String))
            .required("kid");
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("keys", ArrayBuilder::new().items(key))
            .required("keys")
            .property(
                auth_core::keys::TENANT_MEMBER,
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("the id of the tenant these keys sign for")),
            )
            .required(auth_core::keys::TENANT_MEMBER)
            .into()
    }
}

impl utoipa::ToSchema for Jwks {}

fn enumerated(values: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
}

errors!(JwksErrors = [TENANT]);

/// The tenant's public signing keys (cacheable for the JWKS max-age).
#[utoipa::path(
    get,
    path = "/t/{tenant}/.well-known/jwks.json",
    operation_id = "jwks",
    tag = tags::OAUTH,
    params(TenantPath),
    responses((status = 200, description = "The key set", body = Jwks), JwksErrors),
)]
pub async fn jwks(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = tenants::find(state.db(), &slug).await?;
    let keys = keys::public_key_set(state.db(), tenant.id).await?;
    Ok(cacheable(&state, keys.to_jwks_json()))
}

crate::cors_preflight!(
    jwks_preflight,
    "/t/{tenant}/.well-known/jwks.json",
    "jwks_preflight"
);
