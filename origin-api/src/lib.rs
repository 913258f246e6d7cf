//! The origin API: tenants, users, password sign-in, sessions with rotating refresh tokens, per-tenant
//! ES256 signing keys, and revocation pushes to the edge.
//!
//! It owns everything that needs Postgres, a clock or a random source on the origin side. The rules
//! for what makes an access token valid are not here: they live in `auth-core`, which this crate uses
//! both to publish keys and to verify its own tokens, so the origin and the edge cannot disagree. This
//! crate must not depend on the edge Worker or the Durable Objects; it talks to the edge only through
//! the signed revocation notices of [`auth_core::notice`].
//!
//! [`router`] builds the whole HTTP application from an [`AppState`], so tests run the same app that
//! [`serve`] runs.

pub mod admin_credentials;
pub mod audit;
pub mod auth;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod edge_push;
pub mod error;
pub mod extract;
pub mod hashing;
pub mod hosted_session;
pub mod key_rotation;
pub mod keys;
pub mod oauth;
pub mod openapi;
pub mod orgs;
pub mod pages;
pub mod pagination;
pub mod passkeys;
pub mod revocation;
pub mod routes;
mod state;
pub mod tenants;
pub mod throttle;
pub mod tokens;
pub mod user_agent;

pub use config::Config;
pub use error::ApiError;
pub use state::AppState;

use anyhow::Context as _;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::{Extension, Router};
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;

/// The schema, embedded at build time and applied by `serve` and `origin-api migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Largest request body accepted. Every body here is a few short strings.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How often `serve` retries revocations the edge has not acknowledged.
pub const OUTBOX_RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// How often `serve` purges forgotten brute-force counts.
pub const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(300);

/// Every API route, each registered by `routes!` from its handler's `#[utoipa::path]` annotation
/// (path and methods included), so the router serves exactly what the document describes. The
/// hosted pages are not here: they are HTML for browsers (see `openapi.md`).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(routes::health::check))
        .routes(routes!(openapi::serve))
        // The operator's API.
        .routes(routes!(
            routes::admin_tenants::create,
            routes::admin_tenants::list
        ))
        .routes(routes!(
            routes::admin_tenants::show,
            routes::admin_tenants::update
        ))
        .routes(routes!(
            routes::admin_api_keys::create,
            routes::admin_api_keys::list
        ))
        .routes(routes!(routes::admin_api_keys::revoke))
        .routes(routes!(routes::admin_users::list))
        .routes(routes!(
            routes::admin_users::show,
            routes::admin_users::delete
        ))
        .routes(routes!(routes::admin_users::disable))
        .routes(routes!(routes::admin_users::enable))
        .routes(routes!(routes::admin_audit::list))
        .routes(routes!(routes::admin_audit::set_retention))
        .routes(routes!(
            routes::admin_clients::create,
            routes::admin_clients::list
        ))
        .routes(routes!(routes::admin_clients::delete))
        .routes(routes!(routes::admin_keys::list))
        .routes(routes!(routes::admin_keys::rotate))
        .routes(routes!(routes::admin_keys::revoke))
        .routes(routes!(routes::admin_sessions::revoke_user_sessions))
        .routes(routes!(routes::admin_sessions::set_tenant_not_before))
        .routes(routes!(
            routes::admin_orgs::create,
            routes::admin_orgs::list
        ))
        .routes(routes!(
            routes::admin_orgs::show,
            routes::admin_orgs::rename,
            routes::admin_orgs::delete
        ))
        .routes(routes!(routes::admin_orgs::members))
        .routes(routes!(
            routes::admin_orgs::put_member,
            routes::admin_orgs::remove_member
        ))
        .routes(routes!(routes::admin_orgs::list_roles))
        .routes(routes!(
            routes::admin_orgs::put_role,
            routes::admin_orgs::delete_role
        ))
        // OAuth 2.1 and OpenID Connect; what browser-based clients call gets CORS.
        .routes(
            routes!(
                routes::well_known::openid_configuration,
                routes::well_known::openid_configuration_preflight
            )
            .layer(oauth::cors()),
        )
        .routes(
            routes!(routes::well_known::jwks, routes::well_known::jwks_preflight)
                .layer(oauth::cors()),
        )
        .routes(routes!(routes::authorize::authorize))
        .routes(routes!(routes::token::token, routes::token::preflight).layer(oauth::cors()))
        .routes(
            routes!(
                routes::userinfo::show,
                routes::userinfo::show_post,
                routes::userinfo::preflight
            )
            .layer(oauth::cors()),
        )
        // A tenant's users.
        .routes(routes!(routes::users::create))
        .routes(routes!(
            routes::sessions::sign_in,
            routes::my_sessions::list,
            routes::my_sessions::sign_out_everywhere
        ))
        .routes(routes!(routes::my_sessions::revoke_others))
        .routes(routes!(routes::sessions::refresh))
        .routes(routes!(routes::sessions::revoke))
        .routes(routes!(routes::me::show))
        .routes(routes!(routes::my_passkeys::list))
        .routes(routes!(
            routes::my_passkeys::rename,
            routes::my_passkeys::delete
        ))
        .routes(routes!(routes::passkeys::start_registration))
        .routes(routes!(routes::passkeys::finish_registration))
        .routes(routes!(routes::passkeys::start_sign_up))
        .routes(routes!(routes::passkeys::finish_sign_up))
        .routes(routes!(routes::passkeys::start_authentication))
        .routes(routes!(routes::passkeys::finish_authentication))
        // A user's organizations.
        .routes(routes!(routes::orgs::create, routes::orgs::list_mine))
        .routes(routes!(routes::orgs::switch))
        .routes(routes!(
            routes::orgs::show,
            routes::orgs::rename,
            routes::orgs::delete
        ))
        .routes(routes!(routes::orgs::members))
        .routes(routes!(routes::orgs::remove_member))
        .routes(routes!(routes::orgs::set_member_roles))
        .routes(routes!(routes::orgs::leave))
        .routes(routes!(
            routes::org_invitations::create,
            routes::org_invitations::list
        ))
        .routes(routes!(routes::org_invitations::revoke))
        .routes(routes!(routes::org_invitations::accept))
}

/// The document [`router`] serves at `/openapi.json` (and `docs/openapi.json` holds), rendered.
pub fn openapi_document() -> openapi::Document {
    render(&api().into_openapi())
}

fn render(openapi: &utoipa::openapi::OpenApi) -> openapi::Document {
    openapi::Document::render(openapi)
        .expect("the OpenAPI document is plain data and always serialises")
}

/// The whole HTTP application: [`api`], its document at `/openapi.json`, and the hosted pages.
pub fn router(state: AppState) -> Router {
    // Spans carry the method and the route template only: never the raw uri (queries), headers or bodies.
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request| {
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("http.request", http.method = %request.method(), http.route = route)
        })
        .on_request(())
        .on_response(DefaultOnResponse::new().level(Level::INFO))
        .on_failure(DefaultOnFailure::new().level(Level::WARN));

    let (api, openapi) = api().split_for_parts();
    let document = render(&openapi);
    api.layer(Extension(document))
        .merge(pages::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.tarpit().clone(),
            throttle::tarpit::hold_refusals,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit::capture_source,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // Every request's queries act for nobody until its tenant is found (row-level security).
        .layer(axum::middleware::from_fn(db::request_scope))
        .layer(axum::middleware::from_fn(error::log_errors))
        .layer(trace)
        .with_state(state)
}

/// Deletes brute-force counts that no longer matter, expired passkey ceremonies, old authorization
/// codes and audit events past their tenant's retention, every `every`, forever (spawned by
/// `serve`): work across tenants.
async fn run_maintenance(db: PgPool, every: Duration) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        db::cross_tenant("maintenance", maintain(&db)).await;
    }
}

async fn maintain(db: &PgPool) {
    match throttle::purge_forgotten(db).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(throttle.purged = n, "forgotten attempt counts purged"),
        Err(e) => tracing::warn!(error.cause = %e, "purging attempt counts failed"),
    }
    match passkeys::ceremonies::purge_expired(db).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(ceremonies.purged = n, "expired passkey ceremonies purged"),
        Err(e) => tracing::warn!(error.cause = %e, "purging passkey ceremonies failed"),
    }
    match oauth::codes::purge_expired(db).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(codes.purged = n, "old authorization codes purged"),
        Err(e) => tracing::warn!(error.cause = %e, "purging authorization codes failed"),
    }
    match audit::purge_expired(db).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(audit.purged = n, "audit events past retention purged"),
        Err(e) => tracing::warn!(error.cause = %e, "purging audit events failed"),
    }
}

/// Connects to Postgres. The url is not echoed in errors: it may carry a password.
pub async fn connect(database_url: &SecretString) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
        .connect(database_url.expose_secret())
        .await
        .context("connecting to postgres")
}

/// Applies pending migrations (`origin-api migrate`).
pub async fn migrate(database_url: &SecretString) -> anyhow::Result<()> {
    let db = connect(database_url).await?;
    MIGRATOR.run(&db).await.context("applying migrations")?;
    Ok(())
}

/// Runs the origin until SIGINT or SIGTERM: applies migrations, starts the outbox retry task and serves.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let db = connect(&config.database_url).await?;
    MIGRATOR.run(&db).await.context("applying migrations")?;
    // Migrations ran as the owner; everything else runs as the row-level-security role.
    let state = AppState::new(db, &config)?;
    let db = state.db().clone();
    state.hasher().warm_up().await?;
    match state.edge() {
        Some(pusher) => {
            tokio::spawn(db::cross_tenant(
                "outbox",
                edge_push::run_outbox_retries(db.clone(), pusher.clone(), OUTBOX_RETRY_INTERVAL),
            ));
        }
        None => {
            tracing::warn!("EDGE_PUSH_URL is unset: revocations will not be pushed to the edge")
        }
    }
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    tracing::info!(server.addr = %listener.local_addr().context("reading the bound address")?, "origin-api listening");
    tokio::spawn(db::cross_tenant(
        "key_rotation",
        key_rotation::run_schedule(
            db.clone(),
            config.key_encryption_key.clone(),
            config.key_rotation,
            key_rotation::SCHEDULE_INTERVAL,
        ),
    ));
    tokio::spawn(run_maintenance(db, MAINTENANCE_INTERVAL));
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving http")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
