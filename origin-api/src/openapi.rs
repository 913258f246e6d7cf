//! The API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations.
//!
//! Every API route is registered through [`utoipa_axum::router::OpenApiRouter::routes`] with the
//! handler's annotation ([`crate::api`]): the route's path and methods are read from the annotation,
//! so nothing can be served that the document does not describe. Error answers are described per
//! operation with the exact codes it may answer ([`errors!`]): each status is an object whose
//! `error.code` is an enum of them, so a client (and schemathesis) can check the code too.
//!
//! Served at `GET /openapi.json` and committed as `docs/openapi.json`; the integration test
//! `openapi` fails when the two differ, and `UPDATE_OPENAPI=1 cargo test -p origin-api --test api
//! openapi` rewrites the committed file.

use crate::pagination;
use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use std::collections::BTreeMap;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{
    AuthorizationCode, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme,
};
use utoipa::openapi::Required;
use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};

/// Security scheme of a signed-in user: one of the tenant's own access tokens.
pub const ACCESS_TOKEN: &str = "access_token";
/// Security scheme of the operator: `ORIGIN_ADMIN_TOKEN`.
pub const ADMIN_TOKEN: &str = "admin_token";

/// Tags, in the order a reader meets them.
pub mod tags {
    pub const HEALTH: &str = "health";
    pub const ACCOUNTS: &str = "accounts";
    pub const SESSIONS: &str = "sessions";
    pub const PASSKEYS: &str = "passkeys";
    pub const OAUTH: &str = "oauth";
    pub const ORGS: &str = "organizations";
    pub const ADMIN: &str = "admin";
}

/// The document's fixed part: what no handler says.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    info(
        title = "edge-auth origin API",
        description = include_str!("openapi.md"),
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "health", description = "Liveness and this document."),
        (name = "accounts", description = "Sign-up and the signed-in user."),
        (name = "sessions", description = "Password sign-in, refresh-token rotation and sign-out. Every access token names its session in `sid`; revoking a session is pushed to the edge."),
        (name = "passkeys", description = "WebAuthn ceremonies (sign-up, adding a passkey, sign-in) and the user's own passkeys."),
        (name = "oauth", description = "OAuth 2.1 authorization code with PKCE and OpenID Connect for public clients: discovery, JWKS, authorize, token, userinfo. Errors of `/token` are RFC 6749 JSON, not the envelope."),
        (name = "organizations", description = "A signed-in user's organizations, their members, roles and invitations, and the organization the session acts for (its access tokens carry `org_id`, `roles` and `scope` for it). What a member may do is decided by the scopes of their roles there, read from the database, not from the token."),
        (name = "admin", description = "The operator's API: tenants, admin API keys, users, organizations and their roles, OAuth clients, signing keys, revocations and the audit trail."),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ACCESS_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token of the tenant named in the path (`at+jwt`, from sign-in, \
                         refresh or the token endpoint), of a session that is not revoked.",
                    ))
                    .build(),
            ),
        );
        // How an app obtains an `access_token` for a user: documents the flow and which operation
        // mints credentials (so schemathesis expects it to refuse a well-formed but unknown code).
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::AuthorizationCode(
                    AuthorizationCode::with_refresh_url(
                        "/t/{tenant}/authorize",
                        "/t/{tenant}/token",
                        Scopes::from_iter([
                            ("openid", "an ID token"),
                            ("email", "the e-mail address, in the ID token and userinfo"),
                        ]),
                        "/t/{tenant}/token",
                    ),
                )],
                "OAuth 2.1 authorization code with PKCE (S256) for a tenant's registered public \
                 clients; the access token it gives is an `access_token` bearer.",
            )),
        );
        components.add_security_scheme(
            ADMIN_TOKEN,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator's bootstrap token (`ORIGIN_ADMIN_TOKEN`), or on the routes of one \
                         tenant an admin API key of that tenant (`eak_live_...`, with `read`, `write` or \
                         `manage_keys` permission).",
                    ))
                    .build(),
            ),
        );
    }
}

/// Statuses and the error codes an operation may answer with each.
pub type Codes = &'static [(u16, &'static [&'static str])];

/// A JSON request body (`ApiJson`): its rejections.
pub const JSON_BODY: Codes = &[
    (400, &["invalid_json"]),
    (413, &["payload_too_large"]),
    (415, &["unsupported_media_type"]),
    (422, &["invalid_body"]),
];
/// A `{tenant}` or `{slug}` in the path: unknown, or not decodable.
pub const TENANT: Codes = &[(404, &["tenant_not_found", "not_found"])];
/// The bootstrap admin token (`Admin`): an admin API key is refused on these routes.
pub const ADMIN: Codes = &[(401, &["unauthorized"]), (403, &["bootstrap_required"])];
/// The bootstrap token or an admin API key of the tenant in the path (`TenantAdmin`).
pub const TENANT_ADMIN: Codes = &[
    (
        401,
        &["unauthorized", "admin_key_revoked", "admin_key_expired"],
    ),
    (403, &["permission_denied"]),
    (404, &["tenant_not_found", "not_found"]),
];
/// A disabled user's proven credential (sign-in, refresh).
pub const DISABLED: Codes = &[(403, &["user_disabled"])];
/// An access token (`Authenticated`): what the shared verifier refuses, as at the edge.
pub const BEARER: Codes = &[
    (401, TOKEN_REJECTIONS),
    (404, &["tenant_not_found", "not_found"]),
];
/// The 401 codes of `auth_core::Rejection` (its 503 `keys_unavailable` cannot happen here: the origin
/// reads its own keys from Postgres).
const TOKEN_REJECTIONS: &[&str] = &[
    "token_missing",
    "token_too_large",
    "token_malformed",
    "token_unsupported",
    "algorithm_not_allowed",
    "issuer_untrusted",
    "key_unknown",
    "key_revoked",
    "signature_invalid",
    "token_expired",
    "token_not_yet_valid",
    "audience_mismatch",
    "token_type_mismatch",
    "claims_invalid",
    "token_revoked",
    "tenant_mismatch",
];
/// An attempt counted against brute-force limits.
pub const THROTTLED: Codes = &[(429, &["too_many_attempts"])];
/// A password hashed or checked: the bounded hashing queue may be full.
pub const HASHING: Codes = &[(503, &["server_busy"])];

/// Declares a type whose `utoipa::IntoResponses` are the error answers of one operation: the union of
/// the [`Codes`] sets given, each status once with all its codes.
///
/// ```text
/// errors!(SignUpErrors = [JSON_BODY, TENANT, THROTTLED, &[(409, &["email_taken"])]]);
/// #[utoipa::path(post, path = "/t/{tenant}/v1/users", responses((status = 201, body = UserCreated), SignUpErrors))]
/// ```
#[macro_export]
macro_rules! errors {
    ($(#[$meta:meta])* $name:ident = [$($set:expr),* $(,)?]) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::openapi::error_responses(&[$($set),*])
            }
        }
    };
}

/// [`errors!`] for the OAuth token endpoint: RFC 6749 §5.2's `{"error", "error_description"}`.
#[macro_export]
macro_rules! oauth_errors {
    ($(#[$meta:meta])* $name:ident = [$($set:expr),* $(,)?]) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::openapi::oauth_error_responses(&[$($set),*])
            }
        }
    };
}

/// The responses of the [`Codes`] sets: one per status, with every code any set gives it.
pub fn error_responses(sets: &[Codes]) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    union(sets)
        .into_iter()
        .map(|(status, codes)| (status.to_string(), envelope_response(status, &codes).into()))
        .collect()
}

/// [`error_responses`] in RFC 6749 §5.2's format.
pub fn oauth_error_responses(sets: &[Codes]) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    union(sets)
        .into_iter()
        .map(|(status, codes)| (status.to_string(), oauth_response(status, &codes).into()))
        .collect()
}

fn union(sets: &[Codes]) -> BTreeMap<u16, Vec<&'static str>> {
    let mut by_status: BTreeMap<u16, Vec<&'static str>> = BTreeMap::new();
    for (status, codes) in sets.iter().flat_map(|set| set.iter()) {
        let known = by_status.entry(*status).or_default();
        for code in codes.iter() {
            if !known.contains(code) {
                known.push(code);
            }
        }
    }
    by_status
}

fn listed(codes: &[&str]) -> String {
    codes
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `{"error": one of codes, "error_description": "..."}`, never cached.
fn oauth_response(status: u16, codes: &[&str]) -> utoipa::openapi::Response {
    let body = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "error",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(codes.iter().copied())),
        )
        .required("error")
        .property(
            "error_description",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("for people; may change")),
        )
        .required("error_description");
    let mut response = ResponseBuilder::new()
        .description(listed(codes))
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(body)).build(),
        )
        .header("Cache-Control", string_header("`no-store`"));
    if status == 429 || status == 503 {
        response = response.header(
            "Retry-After",
            string_header("seconds to wait before retrying"),
        );
    }
    response.build()
}

/// `{"error": {"code": one of codes, "message": "..."}}` and the headers that come with the status.
fn envelope_response(status: u16, codes: &[&str]) -> utoipa::openapi::Response {
    let code = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(codes.iter().copied()));
    let body = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("code", code)
        .required("code")
        .property(
            "message",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("for people; may change")),
        )
        .required("message");
    let envelope = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("error", body)
        .required("error");
    let mut response = ResponseBuilder::new().description(listed(codes)).content(
        "application/json",
        ContentBuilder::new().schema(Some(envelope)).build(),
    );
    for (name, description) in headers_of(status, codes) {
        response = response.header(name, string_header(description));
    }
    response.build()
}

/// The headers an error status carries (`ApiError::into_response`).
fn headers_of(status: u16, codes: &[&str]) -> Vec<(&'static str, &'static str)> {
    match status {
        401 if codes.contains(&"unauthorized") || codes.contains(&"token_missing") => vec![(
            "WWW-Authenticate",
            "RFC 6750 challenge: `Bearer`, with `error=\"invalid_token\"` and the code as `error_description` when a token was refused",
        )],
        429 => vec![
            ("Retry-After", "seconds until an attempt may be made again"),
            ("RateLimit-Policy", "the limit that was hit (IETF RateLimit headers draft)"),
            ("RateLimit", "what remains of it"),
        ],
        503 if codes.contains(&"server_busy") => {
            vec![("Retry-After", "seconds to wait before retrying")]
        }
        _ => Vec::new(),
    }
}

fn string_header(description: &str) -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some(description))
        .build()
}

/// The serialised document, built once with the router.
#[derive(Debug, Clone)]
pub struct Document(Bytes);

impl Document {
    /// Pretty-printed, with a final newline: the committed file's exact bytes.
    pub fn render(openapi: &utoipa::openapi::OpenApi) -> Result<Document, serde_json::Error> {
        let mut text = openapi.to_pretty_json()?;
        text.push('\n');
        Ok(Document(Bytes::from(text)))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "health",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object),
    )
)]
pub async fn serve(Extension(document): Extension<Document>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document.0).into_response()
}

/// `{tenant}`: the tenant's slug.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantPath {
    /// The tenant's slug.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub tenant: String,
}

/// The admin lists' paging (`pagination`): 422 for a repeated or unknown parameter, a cursor not of
/// the list's form, a limit outside 1 to 200.
pub const PAGE: Codes = &[(422, &["query_invalid", "cursor_invalid", "limit_invalid"])];

/// `?cursor=&limit=` of a list in (instant, id) order: a `{micros}.{uuid}` cursor.
#[derive(Debug)]
pub struct PageQuery;

impl utoipa::IntoParams for PageQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        page_params(pagination::TIME_CURSOR_PATTERN)
    }
}

/// `?cursor=&limit=` of a list in slug order: a slug cursor.
#[derive(Debug)]
pub struct SlugPageQuery;

impl utoipa::IntoParams for SlugPageQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        page_params(pagination::SLUG_CURSOR_PATTERN)
    }
}

fn page_params(cursor_pattern: &str) -> Vec<Parameter> {
    vec![
        query_param(
            "cursor",
            "The `next_cursor` of the previous page (any value of this form is a place in the order).",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(cursor_pattern)),
        ),
        query_param(
            "limit",
            "Rows per page, 1 to 200 (default 50).",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(pagination::MAX_PAGE_SIZE)),
        ),
    ]
}

/// An optional query parameter, for the queries documented by hand (their parsers read the raw
/// query, so that a repeated or unknown parameter is refused).
pub fn query_param(name: &str, description: &str, schema: ObjectBuilder) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// `{slug}`: the tenant's slug, in the operator's paths.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SlugPath {
    /// The tenant's slug.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub slug: String,
}
