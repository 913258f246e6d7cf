//! Typed configuration, read from the environment and validated once at start-up.
//!
//! Secrets are wrapped so that they never show up in `Debug` output or logs.

use crate::client_ip::{self, ClientIpSource};
use crate::key_rotation::RotationPolicy;
use crate::keys::KeyEncryptionKey;
use axum::http::header::HeaderName;
use secrecy::{ExposeSecret as _, SecretString};
use std::net::SocketAddr;
use std::time::Duration;

/// Shortest admin token accepted: 32 characters of hex or base64 carry at least 128 bits.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;
/// Access-token lifetime bounds. Invariant: an access token outlives its session's revocation by at
/// most its TTL (plus leeway) wherever the edge has not heard of the revocation, so the TTL stays short.
pub const MIN_ACCESS_TOKEN_TTL_SECS: u64 = 10;
pub const MAX_ACCESS_TOKEN_TTL_SECS: u64 = 3600;
const DEFAULT_ACCESS_TOKEN_TTL_SECS: u64 = 300;
/// Bounds of `ORIGIN_JWKS_MAX_AGE_SECS`, the `max-age` the JWKS is served with.
pub const MAX_JWKS_MAX_AGE_SECS: i64 = 3600;
const DEFAULT_JWKS_MAX_AGE_SECS: i64 = 300;
/// Bounds of `ORIGIN_KEY_ROTATION_PERIOD_SECS`. The shortest keeps a `next` key published at least
/// the JWKS max-age before it signs (checked against the configured max-age too).
pub const MIN_KEY_ROTATION_PERIOD_SECS: i64 = 60;
pub const MAX_KEY_ROTATION_PERIOD_SECS: i64 = 366 * 24 * 3600;
const DEFAULT_KEY_ROTATION_PERIOD_SECS: i64 = 30 * 24 * 3600;
const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// A request that waits longer than this for a database connection fails rather than queueing on.
pub const DEFAULT_DB_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_DB_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_DB_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:8080";

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: SecretString,
    /// `ORIGIN_ADDR`: where to listen.
    pub addr: SocketAddr,
    /// `ORIGIN_PUBLIC_URL` without a trailing slash; tenant issuers are `{public_url}/t/{slug}`.
    pub public_url: String,
    /// `ORIGIN_PAGES_URL` (default: the public url): where browsers reach the hosted pages and
    /// `/authorize`. Passkeys need a domain here (`localhost` locally), never an IP address.
    pub pages_url: String,
    pub admin_token: SecretString,
    pub key_encryption_key: KeyEncryptionKey,
    /// `None` when `EDGE_PUSH_URL` is unset: revocations are then not pushed.
    pub edge_push: Option<EdgePushConfig>,
    pub access_token_ttl: Duration,
    /// `ORIGIN_CLIENT_IP_HEADER` + `ORIGIN_TRUSTED_PROXIES`: where client addresses come from.
    pub client_ip: ClientIpSource,
    /// `ORIGIN_HASH_WORKERS`: concurrent password hashes; `None` is one per core.
    pub hash_workers: Option<usize>,
    /// `ORIGIN_BRUTE_FORCE_HOLD_MS`: how long a refused attempt's answer is held (0 to 10,000 ms).
    pub brute_force_hold: Duration,
    /// `ORIGIN_DB_ACQUIRE_TIMEOUT_MS`: how long a query waits for a pooled database connection
    /// before its request fails (100 to 60,000 ms; default [`DEFAULT_DB_ACQUIRE_TIMEOUT`]).
    pub db_acquire_timeout: Duration,
    /// `ORIGIN_KEY_ROTATION_PERIOD_SECS` and `ORIGIN_JWKS_MAX_AGE_SECS`.
    pub key_rotation: RotationPolicy,
}

/// Where revocations are pushed and the secret that authenticates them.
#[derive(Debug, Clone)]
pub struct EdgePushConfig {
    pub url: String,
    pub secret: SecretString,
}

/// Why the configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0} must be at least {1} characters")]
    TooShort(&'static str, usize),
    #[error("{0} is invalid: {1}")]
    Invalid(&'static str, &'static str),
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment in production, a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let database_url =
            SecretString::from(get("DATABASE_URL").ok_or(ConfigError::Missing("DATABASE_URL"))?);

        let addr = get("ORIGIN_ADDR")
            .unwrap_or_else(|| DEFAULT_ADDR.to_owned())
            .parse::<SocketAddr>()
            .map_err(|_| {
                ConfigError::Invalid("ORIGIN_ADDR", "expected host:port with an ip address")
            })?;

        let public_url = parse_public_url(
            "ORIGIN_PUBLIC_URL",
            &get("ORIGIN_PUBLIC_URL").unwrap_or_else(|| DEFAULT_PUBLIC_URL.to_owned()),
        )?;
        let pages_url = match get("ORIGIN_PAGES_URL") {
            Some(url) => parse_public_url("ORIGIN_PAGES_URL", &url)?,
            None => public_url.clone(),
        };

        let admin_token =
            get("ORIGIN_ADMIN_TOKEN").ok_or(ConfigError::Missing("ORIGIN_ADMIN_TOKEN"))?;
        if admin_token.chars().count() < MIN_ADMIN_TOKEN_LEN {
            return Err(ConfigError::TooShort(
                "ORIGIN_ADMIN_TOKEN",
                MIN_ADMIN_TOKEN_LEN,
            ));
        }
        let admin_token = SecretString::from(admin_token);

        let kek = SecretString::from(
            get("ORIGIN_KEY_ENCRYPTION_KEY")
                .ok_or(ConfigError::Missing("ORIGIN_KEY_ENCRYPTION_KEY"))?,
        );
        let key_encryption_key =
            KeyEncryptionKey::from_base64url(kek.expose_secret()).ok_or(ConfigError::Invalid(
                "ORIGIN_KEY_ENCRYPTION_KEY",
                "expected 32 bytes as unpadded base64url",
            ))?;

        let edge_push = match get("EDGE_PUSH_URL") {
            None => None,
            Some(url) => {
                // reqwest is built without TLS: the edge's push endpoint is reached over plain http
                // on a private address (or through a local tunnel).
                if !url.starts_with("http://") || url.len() <= "http://".len() {
                    return Err(ConfigError::Invalid(
                        "EDGE_PUSH_URL",
                        "expected an http:// url",
                    ));
                }
                let secret =
                    get("EDGE_PUSH_SECRET").ok_or(ConfigError::Missing("EDGE_PUSH_SECRET"))?;
                if secret.chars().count() < auth_core::notice::MIN_SECRET_LEN {
                    return Err(ConfigError::TooShort(
                        "EDGE_PUSH_SECRET",
                        auth_core::notice::MIN_SECRET_LEN,
                    ));
                }
                Some(EdgePushConfig {
                    url,
                    secret: SecretString::from(secret),
                })
            }
        };

        let ttl = match get("ACCESS_TOKEN_TTL_SECS") {
            None => DEFAULT_ACCESS_TOKEN_TTL_SECS,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|t| (MIN_ACCESS_TOKEN_TTL_SECS..=MAX_ACCESS_TOKEN_TTL_SECS).contains(t))
                .ok_or(ConfigError::Invalid(
                    "ACCESS_TOKEN_TTL_SECS",
                    "expected whole seconds between 10 and 3600",
                ))?,
        };

        let client_ip = match (
            get("ORIGIN_CLIENT_IP_HEADER"),
            get("ORIGIN_TRUSTED_PROXIES"),
        ) {
            (None, None) => ClientIpSource::Peer,
            (Some(header), Some(proxies)) => ClientIpSource::Header {
                header: HeaderName::try_from(header.trim()).map_err(|_| {
                    ConfigError::Invalid("ORIGIN_CLIENT_IP_HEADER", "expected a header name")
                })?,
                trusted_proxies: client_ip::parse_trusted_proxies(&proxies).ok_or(
                    ConfigError::Invalid(
                        "ORIGIN_TRUSTED_PROXIES",
                        "expected comma-separated ip addresses or cidr networks",
                    ),
                )?,
            },
            // A header without proxies would be believed from anyone; proxies without a header
            // would do nothing the operator can see.
            (Some(_), None) => return Err(ConfigError::Missing("ORIGIN_TRUSTED_PROXIES")),
            (None, Some(_)) => return Err(ConfigError::Missing("ORIGIN_CLIENT_IP_HEADER")),
        };

        let hash_workers = match get("ORIGIN_HASH_WORKERS") {
            None => None,
            Some(v) => Some(
                v.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=256).contains(n))
                    .ok_or(ConfigError::Invalid(
                        "ORIGIN_HASH_WORKERS",
                        "expected a whole number between 1 and 256",
                    ))?,
            ),
        };

        let brute_force_hold = match get("ORIGIN_BRUTE_FORCE_HOLD_MS") {
            None => crate::throttle::tarpit::DEFAULT_HOLD,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .map(Duration::from_millis)
                .filter(|hold| *hold <= crate::throttle::tarpit::MAX_HOLD)
                .ok_or(ConfigError::Invalid(
                    "ORIGIN_BRUTE_FORCE_HOLD_MS",
                    "expected whole milliseconds between 0 and 10000",
                ))?,
        };
        let db_acquire_timeout = match get("ORIGIN_DB_ACQUIRE_TIMEOUT_MS") {
            None => DEFAULT_DB_ACQUIRE_TIMEOUT,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .map(Duration::from_millis)
                .filter(|t| (MIN_DB_ACQUIRE_TIMEOUT..=MAX_DB_ACQUIRE_TIMEOUT).contains(t))
                .ok_or(ConfigError::Invalid(
                    "ORIGIN_DB_ACQUIRE_TIMEOUT_MS",
                    "expected whole milliseconds between 100 and 60000",
                ))?,
        };
        let whole_seconds = |name: &'static str,
                             default: i64,
                             range: std::ops::RangeInclusive<i64>,
                             why: &'static str| match get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or(ConfigError::Invalid(name, why)),
        };
        let jwks_max_age_secs = whole_seconds(
            "ORIGIN_JWKS_MAX_AGE_SECS",
            DEFAULT_JWKS_MAX_AGE_SECS,
            1..=MAX_JWKS_MAX_AGE_SECS,
            "expected whole seconds between 1 and 3600",
        )?;
        let period_secs = whole_seconds(
            "ORIGIN_KEY_ROTATION_PERIOD_SECS",
            DEFAULT_KEY_ROTATION_PERIOD_SECS,
            MIN_KEY_ROTATION_PERIOD_SECS.max(jwks_max_age_secs)..=MAX_KEY_ROTATION_PERIOD_SECS,
            "expected whole seconds from 60 (and at least ORIGIN_JWKS_MAX_AGE_SECS) to 366 days",
        )?;

        Ok(Config {
            database_url,
            addr,
            public_url,
            pages_url,
            admin_token,
            key_encryption_key,
            edge_push,
            access_token_ttl: Duration::from_secs(ttl),
            client_ip,
            hash_workers,
            brute_force_hold,
            db_acquire_timeout,
            key_rotation: RotationPolicy {
                period_secs,
                jwks_max_age_secs,
            },
        })
    }
}

/// Reads `DATABASE_URL` alone (for `origin-api migrate`, which needs nothing else).
pub fn database_url_from_env() -> Result<SecretString, ConfigError> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(SecretString::from)
        .ok_or(ConfigError::Missing("DATABASE_URL"))
}

fn parse_public_url(what: &'static str, raw: &str) -> Result<String, ConfigError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or(ConfigError::Invalid(
            what,
            "expected an http:// or https:// url",
        ))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(ConfigError::Invalid(what, "the url has no host"));
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::Invalid(
            what,
            "the url must not carry a query, a fragment or spaces",
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            (
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1/postgres".to_owned(),
            ),
            ("ORIGIN_ADMIN_TOKEN", "a".repeat(32)),
            ("ORIGIN_KEY_ENCRYPTION_KEY", KEK.to_owned()),
        ])
    }

    fn parse(vars: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
        Config::from_lookup(|k| vars.get(k).cloned())
    }

    #[test]
    fn the_minimal_configuration_takes_the_documented_defaults() {
        let config = parse(&base()).unwrap();
        assert_eq!(config.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert_eq!(config.pages_url, config.public_url);
        assert_eq!(config.access_token_ttl, Duration::from_secs(300));
        assert!(config.edge_push.is_none());
        assert_eq!(config.brute_force_hold, Duration::from_secs(1));
        assert_eq!(config.db_acquire_timeout, Duration::from_secs(5));
    }

    #[test]
    fn the_database_acquire_timeout_is_bounded() {
        let mut vars = base();
        vars.insert("ORIGIN_DB_ACQUIRE_TIMEOUT_MS", "60000".to_owned());
        assert_eq!(
            parse(&vars).unwrap().db_acquire_timeout,
            Duration::from_secs(60)
        );
        for bad in ["99", "60001", "-1", "5s"] {
            vars.insert("ORIGIN_DB_ACQUIRE_TIMEOUT_MS", bad.to_owned());
            assert_eq!(
                parse(&vars).unwrap_err(),
                ConfigError::Invalid(
                    "ORIGIN_DB_ACQUIRE_TIMEOUT_MS",
                    "expected whole milliseconds between 100 and 60000"
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_brute_force_hold_is_bounded() {
        let mut vars = base();
        vars.insert("ORIGIN_BRUTE_FORCE_HOLD_MS", "0".to_owned());
        assert_eq!(parse(&vars).unwrap().brute_force_hold, Duration::ZERO);
        vars.insert("ORIGIN_BRUTE_FORCE_HOLD_MS", "10000".to_owned());
        assert_eq!(
            parse(&vars).unwrap().brute_force_hold,
            Duration::from_secs(10)
        );
        for bad in ["10001", "-1", "1s"] {
            vars.insert("ORIGIN_BRUTE_FORCE_HOLD_MS", bad.to_owned());
            assert!(
                matches!(
                    parse(&vars),
                    Err(ConfigError::Invalid("ORIGIN_BRUTE_FORCE_HOLD_MS", _))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn each_required_variable_is_reported_when_missing() {
        for name in [
            "DATABASE_URL",
            "ORIGIN_ADMIN_TOKEN",
            "ORIGIN_KEY_ENCRYPTION_KEY",
        ] {
            let mut vars = base();
            vars.remove(name);
            assert_eq!(parse(&vars).unwrap_err(), ConfigError::Missing(name));
            vars.insert(name, "   ".to_owned());
            assert_eq!(parse(&vars).unwrap_err(), ConfigError::Missing(name));
        }
    }

    #[test]
    fn a_short_admin_token_is_refused() {
        let mut vars = base();
        vars.insert("ORIGIN_ADMIN_TOKEN", "a".repeat(31));
        assert_eq!(
            parse(&vars).unwrap_err(),
            ConfigError::TooShort("ORIGIN_ADMIN_TOKEN", 32)
        );
    }

    #[test]
    fn a_key_encryption_key_that_is_not_32_base64url_bytes_is_refused() {
        for bad in [
            "AAEC",
            &format!("{KEK}="),
            &format!("{KEK}AA"),
            "not base64 at all!!",
        ] {
            let mut vars = base();
            vars.insert("ORIGIN_KEY_ENCRYPTION_KEY", bad.to_owned());
            assert!(
                matches!(
                    parse(&vars),
                    Err(ConfigError::Invalid("ORIGIN_KEY_ENCRYPTION_KEY", _))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_edge_push_url_needs_a_long_enough_secret() {
        let mut vars = base();
        vars.insert(
            "EDGE_PUSH_URL",
            "http://127.0.0.1:8787/__auth/revocations".to_owned(),
        );
        assert_eq!(
            parse(&vars).unwrap_err(),
            ConfigError::Missing("EDGE_PUSH_SECRET")
        );
        vars.insert("EDGE_PUSH_SECRET", "s".repeat(31));
        assert_eq!(
            parse(&vars).unwrap_err(),
            ConfigError::TooShort("EDGE_PUSH_SECRET", 32)
        );
        vars.insert("EDGE_PUSH_SECRET", "s".repeat(32));
        let push = parse(&vars).unwrap().edge_push.unwrap();
        assert_eq!(push.url, "http://127.0.0.1:8787/__auth/revocations");
        assert_eq!(push.secret.expose_secret(), "s".repeat(32));
    }

    #[test]
    fn an_https_edge_push_url_is_refused_because_tls_is_not_built_in() {
        let mut vars = base();
        vars.insert(
            "EDGE_PUSH_URL",
            "https://edge.example/__auth/revocations".to_owned(),
        );
        vars.insert("EDGE_PUSH_SECRET", "s".repeat(32));
        assert!(matches!(
            parse(&vars),
            Err(ConfigError::Invalid("EDGE_PUSH_URL", _))
        ));
    }

    #[test]
    fn the_public_url_loses_its_trailing_slash_and_must_be_http() {
        let mut vars = base();
        vars.insert("ORIGIN_PUBLIC_URL", "https://auth.example.com/".to_owned());
        assert_eq!(parse(&vars).unwrap().public_url, "https://auth.example.com");
        for bad in ["auth.example.com", "ftp://x", "http://", "http://x/?a=b"] {
            vars.insert("ORIGIN_PUBLIC_URL", bad.to_owned());
            assert!(
                matches!(
                    parse(&vars),
                    Err(ConfigError::Invalid("ORIGIN_PUBLIC_URL", _))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_access_token_ttl_must_be_short_and_positive() {
        let mut vars = base();
        vars.insert("ACCESS_TOKEN_TTL_SECS", "60".to_owned());
        assert_eq!(
            parse(&vars).unwrap().access_token_ttl,
            Duration::from_secs(60)
        );
        for bad in ["0", "-5", "abc", "86400"] {
            vars.insert("ACCESS_TOKEN_TTL_SECS", bad.to_owned());
            assert!(
                matches!(
                    parse(&vars),
                    Err(ConfigError::Invalid("ACCESS_TOKEN_TTL_SECS", _))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_client_ip_header_is_read_only_with_trusted_proxies_named() {
        let mut vars = base();
        assert_eq!(parse(&vars).unwrap().client_ip, ClientIpSource::Peer);
        vars.insert("ORIGIN_CLIENT_IP_HEADER", "X-Forwarded-For".to_owned());
        assert_eq!(
            parse(&vars).unwrap_err(),
            ConfigError::Missing("ORIGIN_TRUSTED_PROXIES")
        );
        vars.insert("ORIGIN_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1".to_owned());
        let ClientIpSource::Header {
            header,
            trusted_proxies,
        } = parse(&vars).unwrap().client_ip
        else {
            panic!("a header source");
        };
        assert_eq!(header, "x-forwarded-for");
        assert_eq!(trusted_proxies.len(), 2);
        vars.insert("ORIGIN_TRUSTED_PROXIES", "10.0.0.0/33".to_owned());
        assert!(matches!(
            parse(&vars),
            Err(ConfigError::Invalid("ORIGIN_TRUSTED_PROXIES", _))
        ));
        vars.remove("ORIGIN_CLIENT_IP_HEADER");
        assert_eq!(
            parse(&vars).unwrap_err(),
            ConfigError::Missing("ORIGIN_CLIENT_IP_HEADER")
        );
    }

    #[test]
    fn an_invalid_listen_address_is_refused() {
        let mut vars = base();
        vars.insert("ORIGIN_ADDR", "localhost".to_owned());
        assert!(matches!(
            parse(&vars),
            Err(ConfigError::Invalid("ORIGIN_ADDR", _))
        ));
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let mut vars = base();
        vars.insert(
            "ORIGIN_ADMIN_TOKEN",
            "super-secret-admin-token-0123456789".to_owned(),
        );
        let debug = format!("{:?}", parse(&vars).unwrap());
        assert!(!debug.contains("super-secret-admin-token"));
        assert!(!debug.contains(KEK));
    }
}
