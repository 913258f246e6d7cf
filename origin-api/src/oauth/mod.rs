//! OAuth 2.1 authorization code with PKCE, and the OpenID Connect layer on it, for public clients.
//!
//! What is ours: registered clients with exact redirect URIs ([`clients`]), one-time codes bound to
//! the client, redirect URI, PKCE challenge, nonce and hosted sign-in ([`codes`]), ID tokens
//! ([`id_token`]) and the scope grammar ([`scope`]). The endpoints are in `routes::authorize`,
//! `routes::token` and `routes::userinfo`; the token exchange opens the same API session as a
//! password sign-in, so the edge sees no difference.

pub mod clients;
pub mod codes;
pub mod error;
pub mod id_token;
pub mod scope;

use axum::http::{header, Method};
use tower_http::cors::{Any, CorsLayer};

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// CORS for what a browser-based public client calls from its own origin: discovery, the JWKS, the
/// token endpoint and userinfo. Any origin may call them: none of them reads a cookie (a code needs
/// its verifier, a refresh token or access token is the request's own), so credentials are never
/// allowed and a foreign page gains nothing it did not bring. `/authorize` is a navigation, never a
/// cross-origin call, and gets none.
pub fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// `OPTIONS` on those routes: the CORS layer answers a preflight before this runs; a plain `OPTIONS`
/// gets an empty 204.
pub async fn preflight() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}

/// Declares `$name`, the documented `OPTIONS` handler of `$path` ([`preflight`]); one per path, as an
/// operation has one path.
#[macro_export]
macro_rules! cors_preflight {
    ($name:ident, $path:expr, $operation_id:expr) => {
        /// CORS preflight.
        ///
        /// A preflight (`Origin` and `Access-Control-Request-Method`) is answered by the CORS layer:
        /// any origin, `GET` and `POST`, headers `authorization` and `content-type`, no credentials,
        /// cached 10 minutes. A plain `OPTIONS` gets an empty 204.
        #[utoipa::path(
                                    options,
                                    path = $path,
                                    operation_id = $operation_id,
                                    tag = "oauth",
                                    params($crate::openapi::TenantPath),
                                    responses(
                                        (status = 200, description = "A CORS preflight, answered"),
                                        (status = 204, description = "A plain OPTIONS"),
                                    ),
                                )]
        pub async fn $name() -> axum::http::StatusCode {
            $crate::oauth::preflight().await
        }
    };
}
