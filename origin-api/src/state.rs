//! What every handler shares.

use crate::admin_credentials::Pepper;
use crate::client_ip::ClientIpSource;
use crate::config::Config;
use crate::edge_push::EdgePusher;
use crate::hashing::PasswordHasher;
use crate::hosted_session::CookiePolicy;
use crate::key_rotation::RotationPolicy;
use crate::keys::KeyEncryptionKey;
use crate::pages::csrf::CsrfKey;
use crate::throttle::tarpit::Tarpit;
use secrecy::ExposeSecret as _;
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use std::sync::Arc;

/// Shared application state: cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: PgPool,
    public_url: String,
    pages_url: String,
    /// SHA-256 of the admin token: compared in constant time, and the token itself is not kept.
    admin_token_digest: [u8; 32],
    kek: KeyEncryptionKey,
    hasher: PasswordHasher,
    edge: Option<EdgePusher>,
    access_token_ttl_secs: i64,
    client_ip: ClientIpSource,
    cookies: CookiePolicy,
    /// `scheme://host[:port]` of the pages: what a form post's `Origin` must be.
    pages_origin: String,
    /// Signs the hosted pages' CSRF tokens (derived from the key-encryption key).
    csrf_key: CsrfKey,
    tarpit: Tarpit,
    key_rotation: RotationPolicy,
    /// Keys the stored hashes of admin API keys (derived from the key-encryption key).
    admin_key_pepper: Pepper,
}

impl AppState {
    /// The state of an app on the database `owner` connects to: its queries run through
    /// [`crate::db::app_pool`] (as the row-level-security role, scoped per request).
    pub fn new(owner: PgPool, config: &Config) -> anyhow::Result<Self> {
        let edge = config.edge_push.as_ref().map(EdgePusher::new).transpose()?;
        Ok(AppState {
            inner: Arc::new(Inner {
                db: crate::db::app_pool(&owner, config.db_acquire_timeout),
                public_url: config.public_url.clone(),
                pages_url: config.pages_url.clone(),
                admin_token_digest: Sha256::digest(config.admin_token.expose_secret().as_bytes())
                    .into(),
                kek: config.key_encryption_key.clone(),
                hasher: match config.hash_workers {
                    Some(workers) => {
                        PasswordHasher::new(workers, workers * crate::hashing::QUEUE_PER_WORKER)
                    }
                    None => PasswordHasher::default(),
                },
                edge,
                access_token_ttl_secs: i64::try_from(config.access_token_ttl.as_secs())
                    .unwrap_or(i64::MAX),
                client_ip: config.client_ip.clone(),
                cookies: CookiePolicy::for_pages(&config.pages_url),
                pages_origin: url::Url::parse(&config.pages_url)
                    .map(|u| u.origin().ascii_serialization())
                    .unwrap_or_default(),
                csrf_key: CsrfKey::new(
                    config
                        .key_encryption_key
                        .derive(b"origin-api/pages-csrf/v1"),
                ),
                tarpit: Tarpit::new(config.brute_force_hold),
                key_rotation: config.key_rotation,
                admin_key_pepper: Pepper::new(
                    config
                        .key_encryption_key
                        .derive(b"origin-api/admin-api-keys/v1"),
                ),
            }),
        })
    }

    pub fn db(&self) -> &PgPool {
        &self.inner.db
    }

    /// The revocation pusher, or `None` when pushes are disabled.
    pub fn edge(&self) -> Option<&EdgePusher> {
        self.inner.edge.as_ref()
    }

    pub fn kek(&self) -> &KeyEncryptionKey {
        &self.inner.kek
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    /// Where refused sign-in attempts wait before they are answered.
    pub fn tarpit(&self) -> &Tarpit {
        &self.inner.tarpit
    }

    pub fn client_ip_source(&self) -> &ClientIpSource {
        &self.inner.client_ip
    }

    /// The signing-key rotation period and the JWKS max-age.
    pub fn key_rotation(&self) -> &RotationPolicy {
        &self.inner.key_rotation
    }

    /// The origin's access-token lifetime (`ACCESS_TOKEN_TTL_SECS`), for tenants without their own.
    pub fn access_token_ttl_default(&self) -> i64 {
        self.inner.access_token_ttl_secs
    }

    /// How long `tenant`'s access tokens live: its own lifetime, else the origin's.
    pub fn access_token_ttl_for(&self, tenant: &crate::tenants::Tenant) -> i64 {
        tenant
            .access_token_ttl_secs
            .map_or(self.inner.access_token_ttl_secs, i64::from)
    }

    /// `{ORIGIN_PUBLIC_URL}/t/{slug}`.
    pub fn issuer(&self, slug: &str) -> String {
        format!("{}/t/{slug}", self.inner.public_url)
    }

    /// `ORIGIN_PAGES_URL`: the base of the hosted pages and `/authorize`.
    pub fn pages_url(&self) -> &str {
        &self.inner.pages_url
    }

    /// `{ORIGIN_PAGES_URL}/t/{slug}`: where a tenant's hosted pages live.
    pub fn pages_base(&self, slug: &str) -> String {
        format!("{}/t/{slug}", self.inner.pages_url)
    }

    /// How the hosted pages write their cookies.
    pub fn cookies(&self) -> CookiePolicy {
        self.inner.cookies
    }

    /// The hosted pages' origin (`scheme://host[:port]`).
    pub fn pages_origin(&self) -> &str {
        &self.inner.pages_origin
    }

    /// The key admin API keys are hashed under.
    pub fn admin_key_pepper(&self) -> &Pepper {
        &self.inner.admin_key_pepper
    }

    pub(crate) fn csrf_key(&self) -> &CsrfKey {
        &self.inner.csrf_key
    }

    /// Whether `presented` is the admin token, in constant time (lengths are hidden by the digest).
    pub fn is_admin_token(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest.ct_eq(&self.inner.admin_token_digest).into()
    }
}
