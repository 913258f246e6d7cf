//! Notices pushed by the origin to the edge (a session's revocation, [`RevocationNotice`]; a user's or
//! tenant's not-before, [`NotBeforeNotice`]; a session opened or refreshed, [`SessionNotice`]; a
//! signing key's revocation, [`KeyRevocationNotice`]), the origin's query of a user's sessions at the
//! edge ([`SessionsQuery`]), and their authentication.
//!
//! The origin signs `"{timestamp}.{body}"` with HMAC-SHA256 under a shared secret; the edge accepts a
//! notice only inside a window around its own clock. A replay inside the window re-applies the same
//! revocation, which is idempotent, so the window bounds exposure without a nonce store.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "x-edge-timestamp";
pub const SIGNATURE_HEADER: &str = "x-edge-signature";
/// How far a notice's timestamp may be from the edge's clock, either way.
pub const REPLAY_WINDOW_SECS: i64 = 300;
/// Shortest secret we accept: 256 bits as hex or base64 is at least 32 characters.
pub const MIN_SECRET_LEN: usize = 32;
/// KV refuses expirations under 60 s; a revocation is kept at least this long.
pub const MIN_DENY_TTL_SECS: i64 = 60;

/// "This session is revoked; the edge may forget it after `expires_at`."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationNotice {
    pub tenant_id: String,
    pub session_id: String,
    /// When the edge may forget the revocation (Unix s). Invariant (issue 10 §1.1): no token of the
    /// session can pass validation at the edge after it, so the pusher sets it to the session's last
    /// access-token expiry + the largest leeway an edge issuer may have
    /// ([`MAX_LEEWAY_SECS`](crate::claims::MAX_LEEWAY_SECS)) + a margin for clock skew. The edge
    /// keeps both records, the KV deny entry and the tenant object's, until then.
    pub expires_at: i64,
}

impl RevocationNotice {
    /// Seconds the deny entry must live, from `now`: until `expires_at`, and never under KV's
    /// minimum.
    pub fn deny_ttl(&self, now: i64) -> i64 {
        kv_ttl(self.expires_at, now)
    }
}

/// Seconds a KV record must live from `now` to last until `expires_at`, never under KV's minimum.
pub fn kv_ttl(expires_at: i64, now: i64) -> i64 {
    expires_at.saturating_sub(now).max(MIN_DENY_TTL_SECS)
}

/// "Every token of this user (or, with no `user_id`, of the whole tenant) issued before
/// `not_before` is refused; the edge may forget this after `expires_at`."
///
/// `user_id` is the tokens' `sub`. Invariant (issue 10 §1.1): `expires_at` lies past the last
/// instant any token issued before `not_before` can pass validation (the latest expiry of such a
/// token + the largest leeway + a skew margin), so the edge keeps the KV value and the tenant
/// object's record until then. Both only move forward: an older notice arriving late changes
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotBeforeNotice {
    pub tenant_id: String,
    #[serde(default)]
    pub user_id: Option<String>,
    pub not_before: i64,
    pub expires_at: i64,
}

/// "The origin opened or refreshed this session": what the tenant's object lists. It protects
/// nothing; a notice that never arrives costs only the listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionNotice {
    pub tenant_id: String,
    pub session_id: String,
    pub session: crate::sessions::LiveSession,
}

/// "Which sessions of this user does the tenant's object hold?" (the origin's or an operator's
/// view of the edge's state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsQuery {
    pub tenant_id: String,
    pub user_id: String,
}

/// "This issuer's signing key `kid` is compromised: accept nothing it signed, cached or not."
///
/// The edge keeps the revocation for as long as any of its key sets may still hold the key (see
/// [`key_deny_ttl`]); the origin has withdrawn it from the JWKS before pushing this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRevocationNotice {
    pub issuer: String,
    pub kid: String,
}

/// Seconds an edge must remember a revoked key of an issuer with these cache settings: after the
/// JWKS withdrew it, a set fetched just before keeps it for its freshness (at most `max_ttl_secs`)
/// and then, while refreshes fail, for `stale_if_error_secs`; a set persisted for cold isolates lives
/// no longer. Plus a minute of clock skew.
pub fn key_deny_ttl(settings: &crate::key_cache::KeyCacheSettings) -> i64 {
    settings
        .max_ttl_secs
        .max(settings.default_ttl_secs)
        .saturating_add(settings.stale_if_error_secs)
        .saturating_add(60)
        .max(MIN_DENY_TTL_SECS)
}

/// How long an undelivered key revocation stays worth pushing: the longest [`key_deny_ttl`] an edge
/// configuration may ask for (a week of stale-if-error, a day of freshness).
pub const KEY_NOTICE_RETENTION_SECS: i64 = crate::key_cache::MAX_STALE_IF_ERROR_SECS + 24 * 3600;

/// Why a pushed notice was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    #[error("missing or malformed timestamp")]
    BadTimestamp,
    #[error("timestamp outside the replay window")]
    Stale,
    #[error("missing or invalid signature")]
    BadSignature,
    #[error("malformed notice body")]
    BadBody,
}

impl NoticeError {
    pub fn code(&self) -> &'static str {
        match self {
            NoticeError::BadTimestamp => "timestamp_invalid",
            NoticeError::Stale => "timestamp_stale",
            NoticeError::BadSignature => "signature_invalid",
            NoticeError::BadBody => "notice_malformed",
        }
    }
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[allow(clippy::panic)]
fn unreachable_hmac() -> ! {
    panic!("hmac accepts keys of every length")
}

/// The signature header value for a body sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Authenticates a pushed session revocation and parses it. Comparison is constant-time.
pub fn open(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<RevocationNotice, NoticeError> {
    open_as(secret, timestamp_header, signature_header, body, now)
}

/// Authenticates a pushed notice of any kind and parses it as `T`.
pub fn open_as<T: serde::de::DeserializeOwned>(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<T, NoticeError> {
    let timestamp: i64 = timestamp_header
        .and_then(|t| t.parse().ok())
        .ok_or(NoticeError::BadTimestamp)?;
    if (now - timestamp).abs() > REPLAY_WINDOW_SECS {
        return Err(NoticeError::Stale);
    }
    let tag = signature_header
        .and_then(|s| s.strip_prefix("v1="))
        .and_then(|h| hex::decode(h).ok())
        .ok_or(NoticeError::BadSignature)?;
    mac(secret, timestamp, body)
        .verify_slice(&tag)
        .map_err(|_| NoticeError::BadSignature)?;
    serde_json::from_slice(body).map_err(|_| NoticeError::BadBody)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn body() -> Vec<u8> {
        serde_json::to_vec(&RevocationNotice {
            tenant_id: "t".into(),
            session_id: "s".into(),
            expires_at: 1_000,
        })
        .unwrap()
    }

    #[test]
    fn a_signed_notice_opens_inside_the_window() {
        let sig = sign(SECRET, 500, &body());
        let notice = open(
            SECRET,
            Some("500"),
            Some(&sig),
            &body(),
            500 + REPLAY_WINDOW_SECS,
        )
        .unwrap();
        assert_eq!(notice.session_id, "s");
        assert_eq!(notice.deny_ttl(990), MIN_DENY_TTL_SECS);
        assert_eq!(notice.deny_ttl(500), 500);
    }

    #[test]
    fn a_key_revocation_opens_as_its_own_kind_only() {
        let body = br#"{"issuer":"https://o/t/a","kid":"k1"}"#;
        let sig = sign(SECRET, 500, body);
        let notice: KeyRevocationNotice =
            open_as(SECRET, Some("500"), Some(&sig), body, 500).unwrap();
        assert_eq!(
            (notice.issuer.as_str(), notice.kid.as_str()),
            ("https://o/t/a", "k1")
        );
        assert_eq!(
            open(SECRET, Some("500"), Some(&sig), body, 500),
            Err(NoticeError::BadBody),
            "a key revocation is not a session revocation"
        );
        let defaults = crate::key_cache::KeyCacheSettings::default();
        assert_eq!(key_deny_ttl(&defaults), 3600 + 6 * 3600 + 60);
    }

    #[test]
    fn stale_tampered_or_unsigned_notices_are_refused() {
        let sig = sign(SECRET, 500, &body());
        assert_eq!(
            open(SECRET, Some("500"), Some(&sig), &body(), 801),
            Err(NoticeError::Stale)
        );
        assert_eq!(
            open(SECRET, Some("501"), Some(&sig), &body(), 500),
            Err(NoticeError::BadSignature)
        );
        let mut other = body();
        other.push(b' ');
        assert_eq!(
            open(SECRET, Some("500"), Some(&sig), &other, 500),
            Err(NoticeError::BadSignature)
        );
        assert_eq!(
            open(
                b"another secret of thirty-two bytes",
                Some("500"),
                Some(&sig),
                &body(),
                500
            ),
            Err(NoticeError::BadSignature)
        );
        assert_eq!(
            open(SECRET, None, Some(&sig), &body(), 500),
            Err(NoticeError::BadTimestamp)
        );
        assert_eq!(
            open(SECRET, Some("500"), None, &body(), 500),
            Err(NoticeError::BadSignature)
        );
    }
}
