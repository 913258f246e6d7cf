//! The hosted pages' session: who is signed in on a tenant's hosted pages (and so at `/authorize`).
//!
//! It is an ordinary session (a row of `sessions`: listed, signed out and swept by "sign out
//! everywhere" like any other) whose browser holds an HttpOnly cookie with 256 random bits; only
//! their SHA-256 is stored (`sessions.cookie_hash`). The cookie is `SameSite=Lax` and, unless the
//! pages are served from `http://localhost` or `http://127.0.0.1`, `Secure` with the `__Host-` prefix
//! (no `Domain`, `Path=/`: no subdomain can plant or read it). One cookie per tenant, since every
//! tenant's pages share the host.

use crate::error::ApiError;
use crate::routes::sessions;
use crate::state::AppState;
use crate::tenants::Tenant;
use auth_core::encoding::b64url_encode;
use axum::http::{header, HeaderMap, HeaderValue};
use cookie::{Cookie, SameSite};
use rand::rngs::OsRng;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// Random bytes in a session cookie.
const COOKIE_BYTES: usize = 32;

/// A signed-in user of a tenant's hosted pages.
#[derive(Debug, Clone)]
pub struct PageSession {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

/// How the pages' cookies are written: decided once from `ORIGIN_PAGES_URL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    /// `Secure` and the `__Host-` prefix; off only for plain-http local development.
    pub secure: bool,
}

impl CookiePolicy {
    pub fn for_pages(pages_url: &str) -> CookiePolicy {
        let local_http = url::Url::parse(pages_url).is_ok_and(|u| {
            u.scheme() == "http"
                && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
        });
        CookiePolicy {
            secure: !local_http,
        }
    }

    /// `__Host-{name}` when secure, else `{name}`.
    pub fn name(self, name: &str) -> String {
        if self.secure {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        }
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure when the policy says so.
    pub fn set_cookie(self, name: &str, value: &str, max_age: time::Duration) -> HeaderValue {
        let cookie = Cookie::build((self.name(name), value.to_owned()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure)
            .max_age(max_age)
            .build();
        // Names are our own and values base64url: always a valid header.
        HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// A `Set-Cookie` value that deletes the cookie.
    pub fn clear_cookie(self, name: &str) -> HeaderValue {
        self.set_cookie(name, "", time::Duration::ZERO)
    }

    /// The value of the request's cookie `name` (prefixed by the policy), if any.
    pub fn read(self, headers: &HeaderMap, name: &str) -> Option<String> {
        let wanted = self.name(name);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == wanted)
            .map(|c| c.value().to_owned())
    }
}

/// The session cookie's name for a tenant (before the policy's prefix).
fn session_cookie(tenant: &Tenant) -> String {
    format!("session-{}", tenant.slug)
}

fn hash(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// The user signed in on `tenant`'s hosted pages by this request's cookie, if any: the session must
/// be the tenant's, unrevoked and unexpired. An unknown, malformed or revoked cookie is no session.
pub async fn resolve(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<Option<PageSession>, ApiError> {
    let Some(value) = state.cookies().read(headers, &session_cookie(tenant)) else {
        return Ok(None);
    };
    let found: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, user_id FROM sessions
         WHERE cookie_hash = $1 AND tenant_id = $2 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(hash(&value).as_slice())
    .bind(tenant.id)
    .fetch_optional(state.db())
    .await?;
    Ok(found.map(|(session_id, user_id)| PageSession {
        user_id,
        session_id,
    }))
}

/// Opens a session for a user who just proved who they are on a hosted page; returns it with the
/// `Set-Cookie` value that hands it to the browser.
pub async fn sign_in(
    state: &AppState,
    tenant: &Tenant,
    user_id: Uuid,
    headers: &HeaderMap,
) -> Result<(PageSession, HeaderValue), ApiError> {
    let mut bytes = [0u8; COOKIE_BYTES];
    OsRng.fill_bytes(&mut bytes);
    let value = b64url_encode(&bytes);
    let grant =
        sessions::open_session_with_cookie(state, tenant, user_id, headers, Some(&hash(&value)))
            .await?;
    let cookie =
        state
            .cookies()
            .set_cookie(&session_cookie(tenant), &value, sessions::SESSION_LIFETIME);
    Ok((
        PageSession {
            user_id,
            session_id: grant.session_id,
        },
        cookie,
    ))
}

/// The `Set-Cookie` value that forgets the tenant's session cookie (after signing out).
pub fn clear(state: &AppState, tenant: &Tenant) -> HeaderValue {
    state.cookies().clear_cookie(&session_cookie(tenant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_with_the_host_prefix_except_on_plain_http_localhost() {
        for url in [
            "https://login.example.com",
            "http://example.com",
            "https://localhost:8443",
        ] {
            let policy = CookiePolicy::for_pages(url);
            assert!(policy.secure, "{url}");
            let set = policy.set_cookie("session-t", "v", time::Duration::minutes(1));
            let set = set.to_str().unwrap();
            assert!(set.starts_with("__Host-session-t=v"), "{set}");
            for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure", "Max-Age=60"] {
                assert!(set.contains(attribute), "{set} lacks {attribute}");
            }
            assert!(!set.contains("Domain"), "{set}");
        }
        for url in ["http://localhost:8080", "http://127.0.0.1:8080"] {
            let policy = CookiePolicy::for_pages(url);
            assert!(!policy.secure, "{url}");
            let set = policy.set_cookie("session-t", "v", time::Duration::minutes(1));
            let set = set.to_str().unwrap();
            assert!(set.starts_with("session-t=v"), "{set}");
            assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax"));
            assert!(!set.contains("Secure"), "{set}");
        }
    }

    #[test]
    fn a_cookie_is_read_by_its_prefixed_name_only() {
        let policy = CookiePolicy { secure: true };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("session-t=planted; __Host-session-t=real; other=x"),
        );
        assert_eq!(policy.read(&headers, "session-t").as_deref(), Some("real"));
        assert_eq!(policy.read(&headers, "absent"), None);
    }
}
