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
use axum::routing::{delete, get, patch, post, put};
use axum::Router;
use secrecy::{ExposeSecret as _, SecretString};
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// The schema, embedded at build time and applied by `serve` and `origin-api migrate`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Largest request body accepted. Every body here is a few short strings.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How often `serve` retries revocations the edge has not acknowledged.
pub const OUTBOX_RETRY_INTERVAL: Duration = Duration::from_secs(5);
/// How often `serve` purges forgotten brute-force counts.
pub const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(300);

/// The whole HTTP application.
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

    Router::new()
        .route("/healthz", get(routes::health::check))
        .route(
            "/v1/admin/tenants",
            post(routes::admin_tenants::create).get(routes::admin_tenants::list),
        )
        .route(
            "/v1/admin/tenants/{slug}",
            get(routes::admin_tenants::show).patch(routes::admin_tenants::update),
        )
        .route(
            "/v1/admin/tenants/{slug}/admin-keys",
            post(routes::admin_api_keys::create).get(routes::admin_api_keys::list),
        )
        .route(
            "/v1/admin/tenants/{slug}/admin-keys/{key_id}/revoke",
            post(routes::admin_api_keys::revoke),
        )
        .route(
            "/v1/admin/tenants/{slug}/users",
            get(routes::admin_users::list),
        )
        .route(
            "/v1/admin/tenants/{slug}/users/{user_id}",
            get(routes::admin_users::show).delete(routes::admin_users::delete),
        )
        .route(
            "/v1/admin/tenants/{slug}/users/{user_id}/disable",
            post(routes::admin_users::disable),
        )
        .route(
            "/v1/admin/tenants/{slug}/users/{user_id}/enable",
            post(routes::admin_users::enable),
        )
        .route(
            "/v1/admin/tenants/{slug}/audit-events",
            get(routes::admin_audit::list),
        )
        .route(
            "/v1/admin/tenants/{slug}/audit-retention",
            put(routes::admin_audit::set_retention),
        )
        .route(
            "/v1/admin/tenants/{slug}/clients",
            post(routes::admin_clients::create).get(routes::admin_clients::list),
        )
        .route(
            "/v1/admin/tenants/{slug}/clients/{client_id}",
            delete(routes::admin_clients::delete),
        )
        .route(
            "/v1/admin/tenants/{slug}/keys",
            get(routes::admin_keys::list),
        )
        .route(
            "/v1/admin/tenants/{slug}/keys/rotate",
            post(routes::admin_keys::rotate),
        )
        .route(
            "/v1/admin/tenants/{slug}/keys/{kid}/revoke",
            post(routes::admin_keys::revoke),
        )
        .route(
            "/v1/admin/tenants/{slug}/orgs",
            get(routes::admin_orgs::list).post(routes::admin_orgs::create),
        )
        .route(
            "/v1/admin/tenants/{slug}/orgs/{org_id}",
            get(routes::admin_orgs::show)
                .patch(routes::admin_orgs::rename)
                .delete(routes::admin_orgs::delete),
        )
        .route(
            "/v1/admin/tenants/{slug}/orgs/{org_id}/members",
            get(routes::admin_orgs::members),
        )
        .route(
            "/v1/admin/tenants/{slug}/orgs/{org_id}/members/{user_id}",
            put(routes::admin_orgs::put_member).delete(routes::admin_orgs::remove_member),
        )
        .route(
            "/v1/admin/tenants/{slug}/org-roles",
            get(routes::admin_orgs::list_roles),
        )
        .route(
            "/v1/admin/tenants/{slug}/org-roles/{name}",
            put(routes::admin_orgs::put_role).delete(routes::admin_orgs::delete_role),
        )
        .route(
            "/v1/admin/tenants/{slug}/users/{user_id}/sessions",
            delete(routes::admin_sessions::revoke_user_sessions),
        )
        .route(
            "/v1/admin/tenants/{slug}/sessions/not-before",
            put(routes::admin_sessions::set_tenant_not_before),
        )
        .route(
            "/t/{tenant}/.well-known/openid-configuration",
            get(routes::well_known::openid_configuration)
                .options(oauth::preflight)
                .layer(oauth::cors()),
        )
        .route(
            "/t/{tenant}/.well-known/jwks.json",
            get(routes::well_known::jwks)
                .options(oauth::preflight)
                .layer(oauth::cors()),
        )
        .route("/t/{tenant}/authorize", get(routes::authorize::authorize))
        .route(
            "/t/{tenant}/token",
            post(routes::token::token)
                .options(oauth::preflight)
                .layer(oauth::cors()),
        )
        .route(
            "/t/{tenant}/userinfo",
            get(routes::userinfo::show)
                .post(routes::userinfo::show)
                .options(oauth::preflight)
                .layer(oauth::cors()),
        )
        .route("/t/{tenant}/v1/users", post(routes::users::create))
        .route(
            "/t/{tenant}/v1/sessions",
            post(routes::sessions::sign_in)
                .get(routes::my_sessions::list)
                .delete(routes::my_sessions::sign_out_everywhere),
        )
        .route(
            "/t/{tenant}/v1/sessions/others",
            delete(routes::my_sessions::revoke_others),
        )
        .route(
            "/t/{tenant}/v1/sessions/refresh",
            post(routes::sessions::refresh),
        )
        .route(
            "/t/{tenant}/v1/sessions/{session_id}",
            delete(routes::sessions::revoke),
        )
        .route("/t/{tenant}/v1/me", get(routes::me::show))
        .route(
            "/t/{tenant}/v1/orgs",
            get(routes::orgs::list_mine).post(routes::orgs::create),
        )
        .route("/t/{tenant}/v1/orgs/active", put(routes::orgs::switch))
        .route(
            "/t/{tenant}/v1/orgs/{org_id}",
            get(routes::orgs::show)
                .patch(routes::orgs::rename)
                .delete(routes::orgs::delete),
        )
        .route(
            "/t/{tenant}/v1/orgs/{org_id}/members",
            get(routes::orgs::members),
        )
        .route(
            "/t/{tenant}/v1/orgs/{org_id}/members/{user_id}",
            delete(routes::orgs::remove_member),
        )
        .route(
            "/t/{tenant}/v1/orgs/{org_id}/members/{user_id}/roles",
            put(routes::orgs::set_member_roles),
        )
        .route(
            "/t/{tenant}/v1/orgs/{org_id}/leave",
            post(routes::orgs::leave),
        )
        .route(
            "/t/{tenant}/v1/orgs/{org_id}/invitations",
            get(routes::org_invitations::list).post(routes::org_invitations::create),
        )
        .route(
            "/t/{tenant}/v1/orgs/{org_id}/invitations/{invitation_id}",
            delete(routes::org_invitations::revoke),
        )
        .route(
            "/t/{tenant}/v1/invitations/accept",
            post(routes::org_invitations::accept),
        )
        .route("/t/{tenant}/v1/passkeys", get(routes::my_passkeys::list))
        .route(
            "/t/{tenant}/v1/passkeys/{passkey_id}",
            patch(routes::my_passkeys::rename).delete(routes::my_passkeys::delete),
        )
        .route(
            "/t/{tenant}/v1/passkeys/registrations",
            post(routes::passkeys::start_registration),
        )
        .route(
            "/t/{tenant}/v1/passkeys/registrations/finish",
            post(routes::passkeys::finish_registration),
        )
        .route(
            "/t/{tenant}/v1/passkeys/sign-ups",
            post(routes::passkeys::start_sign_up),
        )
        .route(
            "/t/{tenant}/v1/passkeys/sign-ups/finish",
            post(routes::passkeys::finish_sign_up),
        )
        .route(
            "/t/{tenant}/v1/passkeys/authentications",
            post(routes::passkeys::start_authentication),
        )
        .route(
            "/t/{tenant}/v1/passkeys/authentications/finish",
            post(routes::passkeys::finish_authentication),
        )
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
