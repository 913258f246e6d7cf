//! CSRF protection for the hosted pages: a signed double-submit token, and the `Origin` check.
//!
//! The browser holds a random HttpOnly `csrf` cookie (`__Host-csrf` when secure); every form carries
//! HMAC-SHA256(key, cookie) and every script call sends it in `x-csrf-token`. Another site can make
//! the browser send the cookie but can neither read it nor compute the token, and with the `__Host-`
//! prefix no subdomain can plant a cookie of its own. A request whose `Origin` is present and not the
//! pages' own (or whose `Sec-Fetch-Site` says cross-site) is refused before the token is looked at.

use crate::error::ApiError;
use crate::state::AppState;
use auth_core::encoding::b64url_encode;
use axum::http::{HeaderMap, HeaderValue};
use hmac::{Hmac, Mac as _};
use rand::rngs::OsRng;
use rand::RngCore as _;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// The cookie's name (before the `__Host-` prefix).
const COOKIE: &str = "csrf";
/// The header script calls carry the token in.
pub const HEADER: &str = "x-csrf-token";
/// How long the browser keeps the cookie. A form older than that is refused; reloading fixes it.
const COOKIE_LIFETIME: time::Duration = time::Duration::days(1);

/// The key the tokens are signed with.
#[derive(Clone)]
pub struct CsrfKey([u8; 32]);

impl CsrfKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        CsrfKey(bytes)
    }

    fn token(&self, cookie: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(cookie.as_bytes());
        b64url_encode(&mac.finalize().into_bytes())
    }
}

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey([REDACTED])")
    }
}

/// What a page embeds: the token, and the cookie to set when the browser had none.
#[derive(Debug)]
pub struct PageToken {
    pub token: String,
    pub set_cookie: Option<HeaderValue>,
}

/// The token for the browser's cookie, minting a cookie if it has none.
pub fn for_page(state: &AppState, headers: &HeaderMap) -> PageToken {
    match state.cookies().read(headers, COOKIE) {
        Some(cookie) if !cookie.is_empty() => PageToken {
            token: state.csrf_key().token(&cookie),
            set_cookie: None,
        },
        _ => {
            let mut bytes = [0u8; 32];
            OsRng.fill_bytes(&mut bytes);
            let cookie = b64url_encode(&bytes);
            PageToken {
                token: state.csrf_key().token(&cookie),
                set_cookie: Some(state.cookies().set_cookie(COOKIE, &cookie, COOKIE_LIFETIME)),
            }
        }
    }
}

/// Refuses (403 `csrf_invalid`) a state-changing request that did not come from our own pages.
pub fn verify(state: &AppState, headers: &HeaderMap, presented: &str) -> Result<(), ApiError> {
    if let Some(origin) = headers.get("origin") {
        if origin.as_bytes() != state.pages_origin().as_bytes() {
            return Err(ApiError::CsrfInvalid);
        }
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return Err(ApiError::CsrfInvalid);
        }
    }
    let cookie = state
        .cookies()
        .read(headers, COOKIE)
        .filter(|c| !c.is_empty())
        .ok_or(ApiError::CsrfInvalid)?;
    let expected = state.csrf_key().token(&cookie);
    if bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::CsrfInvalid)
    }
}

/// The token of a script call's `x-csrf-token` header, checked.
pub fn verify_header(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let presented = headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    verify(state, headers, presented)
}
