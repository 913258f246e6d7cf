//! The identity the edge forwards to the upstream, as request headers.
//!
//! Every header under [`IDENTITY_HEADER_PREFIX`] is stripped from the client's request before ours are
//! added, so an upstream can trust them exactly as far as it trusts the path through the edge.

use crate::claims::VerifiedClaims;

/// Prefix of every identity header; client-sent headers with it are removed.
pub const IDENTITY_HEADER_PREFIX: &str = "x-auth-";
pub const SUBJECT: &str = "x-auth-subject";
pub const TENANT: &str = "x-auth-tenant";
pub const SESSION: &str = "x-auth-session";
pub const ISSUER: &str = "x-auth-issuer";

/// Whether a client-sent header must be removed before forwarding (case-insensitive).
pub fn is_reserved(header_name: &str) -> bool {
    header_name
        .get(..IDENTITY_HEADER_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(IDENTITY_HEADER_PREFIX))
}

/// The identity headers for a verified token, in a fixed order.
pub fn headers_for(claims: &VerifiedClaims) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (SUBJECT, claims.subject().to_owned()),
        (ISSUER, claims.issuer().to_owned()),
    ];
    if let Some(t) = claims.tenant() {
        out.push((TENANT, t.to_owned()));
    }
    if let Some(s) = claims.session() {
        out.push((SESSION, s.to_owned()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_headers_are_matched_case_insensitively() {
        assert!(is_reserved("X-Auth-Subject"));
        assert!(is_reserved("x-auth-anything"));
        assert!(!is_reserved("x-authorization"));
        assert!(!is_reserved("authorization"));
        assert!(!is_reserved("x-a"));
    }
}
