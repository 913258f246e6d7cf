//! The identity the edge forwards to the upstream, and the signature that lets the upstream tell a
//! request that passed the edge from a forged one.
//!
//! Every header under [`IDENTITY_HEADER_PREFIX`] is stripped from the client's request before ours are
//! added. The edge then signs, with a secret it shares with the upstream,
//! `"edge-auth-v1\n{timestamp}\n{METHOD}\n{path?query}\n"` followed by `"{name}:{value}\n"` for each of
//! [`SIGNED_HEADERS`] in order (an absent header signs as empty), and sends the timestamp and
//! `v1=<hex HMAC-SHA256>` in [`TIMESTAMP`] and [`SIGNATURE`]. [`verify_forwarded`] is the upstream's
//! side of that contract.

use crate::claims::VerifiedClaims;
use crate::reject::Rejection;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Prefix of every identity header; client-sent headers with it are removed.
pub const IDENTITY_HEADER_PREFIX: &str = "x-auth-";
pub const SUBJECT: &str = "x-auth-subject";
pub const ISSUER: &str = "x-auth-issuer";
pub const TENANT: &str = "x-auth-tenant";
pub const SESSION: &str = "x-auth-session";
/// JSON array of granted scopes.
pub const SCOPES: &str = "x-auth-scopes";
/// JSON array of roles.
pub const ROLES: &str = "x-auth-roles";
pub const TIMESTAMP: &str = "x-auth-timestamp";
pub const SIGNATURE: &str = "x-auth-signature";
/// The identity headers covered by the signature, in signing order.
pub const SIGNED_HEADERS: [&str; 6] = [SUBJECT, ISSUER, TENANT, SESSION, SCOPES, ROLES];
/// Default window, either way, for an upstream accepting a signed request.
pub const DEFAULT_MAX_SKEW_SECS: i64 = 60;

/// Whether a client-sent header must be removed before forwarding (case-insensitive).
pub fn is_reserved(header_name: &str) -> bool {
    header_name
        .get(..IDENTITY_HEADER_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(IDENTITY_HEADER_PREFIX))
}

/// The identity headers for a verified token (absent claims give no header).
///
/// Every value is printable ASCII, so that it reaches the upstream byte for byte: `sub`, `iss`,
/// `tid` and `sid` are refused (`claims_invalid`) when they hold anything else, and the scope and
/// role arrays are JSON with every non-ASCII character escaped.
pub fn headers_for(claims: &VerifiedClaims) -> Result<Vec<(&'static str, String)>, Rejection> {
    let mut out = vec![
        (SUBJECT, header_safe(claims.subject())?),
        (ISSUER, header_safe(claims.issuer())?),
    ];
    if let Some(t) = claims.tenant() {
        out.push((TENANT, header_safe(t)?));
    }
    if let Some(s) = claims.session() {
        out.push((SESSION, header_safe(s)?));
    }
    let scopes = claims.scopes();
    if !scopes.is_empty() {
        out.push((SCOPES, ascii_json(&scopes)));
    }
    let roles = claims.roles();
    if !roles.is_empty() {
        out.push((ROLES, ascii_json(&roles)));
    }
    Ok(out)
}

fn header_safe(value: &str) -> Result<String, Rejection> {
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Ok(value.to_owned())
    } else {
        Err(Rejection::ClaimsInvalid(
            "sub, iss, tid or sid holds a character a header cannot carry",
        ))
    }
}

/// A JSON array of strings in printable ASCII: serde_json already escapes control characters, and
/// anything past ASCII becomes `\uXXXX` (a UTF-16 pair beyond the BMP), which any JSON parser reads
/// back as the same string.
fn ascii_json(items: &[&str]) -> String {
    let json = serde_json::to_string(items).unwrap_or_default();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

fn canonical(
    headers: &[(&str, String)],
    method: &str,
    path_and_query: &str,
    timestamp: i64,
) -> String {
    let mut text = format!(
        "edge-auth-v1\n{timestamp}\n{}\n{path_and_query}\n",
        method.to_ascii_uppercase()
    );
    for name in SIGNED_HEADERS {
        let value = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str());
        text.push_str(name);
        text.push(':');
        text.push_str(value);
        text.push('\n');
    }
    text
}

fn mac(secret: &[u8], text: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(text.as_bytes());
    Some(mac)
}

/// The `x-auth-signature` value for a forwarded request.
pub fn sign_forwarded(
    secret: &[u8],
    headers: &[(&str, String)],
    method: &str,
    path_and_query: &str,
    timestamp: i64,
) -> String {
    let tag = mac(
        secret,
        &canonical(headers, method, path_and_query, timestamp),
    )
    .map(|m| hex::encode(m.finalize().into_bytes()))
    .unwrap_or_default();
    format!("v1={tag}")
}

/// Why an upstream refuses a forwarded request's identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error("the request carries no edge signature")]
    Unsigned,
    #[error("the edge signature's timestamp is missing or outside the allowed skew")]
    Stale,
    #[error("the edge signature does not match the request")]
    Invalid,
}

/// Verifies, for an upstream, that a request's identity headers were set by the edge. `header`
/// looks a request header up by lower-case name; `path_and_query` is the request target as received.
/// Comparison is constant-time.
pub fn verify_forwarded<'h>(
    secret: &[u8],
    header: impl Fn(&str) -> Option<&'h str>,
    method: &str,
    path_and_query: &str,
    now: i64,
    max_skew_secs: i64,
) -> Result<(), ForwardError> {
    let signature = header(SIGNATURE).ok_or(ForwardError::Unsigned)?;
    let timestamp: i64 = header(TIMESTAMP)
        .and_then(|t| t.parse().ok())
        .ok_or(ForwardError::Stale)?;
    if (now - timestamp).abs() > max_skew_secs {
        return Err(ForwardError::Stale);
    }
    let tag = signature
        .strip_prefix("v1=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(ForwardError::Invalid)?;
    let headers: Vec<(&str, String)> = SIGNED_HEADERS
        .iter()
        .filter_map(|n| header(n).map(|v| (*n, v.to_owned())))
        .collect();
    mac(
        secret,
        &canonical(&headers, method, path_and_query, timestamp),
    )
    .ok_or(ForwardError::Invalid)?
    .verify_slice(&tag)
    .map_err(|_| ForwardError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"an upstream signing secret of 32+";

    fn lookup<'a>(headers: &'a [(&'static str, String)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    fn signed(identity: &[(&'static str, String)], ts: i64) -> Vec<(&'static str, String)> {
        let mut all = identity.to_vec();
        all.push((TIMESTAMP, ts.to_string()));
        all.push((
            SIGNATURE,
            sign_forwarded(SECRET, identity, "GET", "/api/x?y=1", ts),
        ));
        all
    }

    /// Claims of an issuer of the origin when they carry a `tid` (bound to it), else of an issuer
    /// bound to no tenant.
    fn claims(json: serde_json::Value) -> VerifiedClaims {
        let binding = if json.get("tid").is_some() {
            "origin"
        } else {
            "none"
        };
        let policy: crate::IssuerPolicy = serde_json::from_value(serde_json::json!({
            "issuer": "https://id", "jwks_uri": "https://id/jwks", "audiences": ["api"],
            "tenant": binding,
        }))
        .unwrap();
        let mut all = serde_json::json!({ "iss": "https://id", "aud": "api", "exp": 2_000 });
        all.as_object_mut()
            .unwrap()
            .extend(json.as_object().unwrap().clone());
        let tid = all.get("tid").and_then(|t| t.as_str()).map(str::to_owned);
        crate::claims::validate(
            all.as_object().unwrap().clone(),
            &policy,
            tid.as_deref(),
            1_000,
        )
        .unwrap()
    }

    #[test]
    fn identity_headers_carry_the_claims_in_printable_ascii() {
        let headers = headers_for(&claims(serde_json::json!({
            "sub": "u1", "tid": "t1", "sid": "s1",
            "scope": "read write", "roles": ["admin", "café", "🔑", "line\nbreak"],
        })))
        .unwrap();
        let value = |name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(value(SUBJECT), Some("u1"));
        assert_eq!(value(TENANT), Some("t1"));
        assert_eq!(value(SESSION), Some("s1"));
        assert_eq!(value(SCOPES), Some(r#"["read","write"]"#));
        let roles = value(ROLES).unwrap();
        assert!(roles.bytes().all(|b| (0x20..0x7f).contains(&b)), "{roles}");
        let parsed: Vec<String> = serde_json::from_str(roles).unwrap();
        assert_eq!(
            parsed,
            ["admin", "café", "🔑", "line\nbreak"],
            "read back unchanged"
        );
    }

    #[test]
    fn a_claim_no_header_can_carry_is_refused_not_forwarded() {
        for sub in ["u1\nx-auth-roles: admin", "u1\r", "nul\u{0}", "josé"] {
            assert_eq!(
                headers_for(&claims(serde_json::json!({ "sub": sub }))).map(|_| ()),
                Err(Rejection::ClaimsInvalid(
                    "sub, iss, tid or sid holds a character a header cannot carry"
                )),
                "{sub:?}"
            );
        }
        let sid = serde_json::json!({ "sub": "u1", "sid": "s\n1" });
        assert!(headers_for(&claims(sid)).is_err());
    }

    #[test]
    fn reserved_headers_are_matched_case_insensitively() {
        assert!(is_reserved("X-Auth-Subject"));
        assert!(is_reserved("x-auth-anything"));
        assert!(!is_reserved("x-authorization"));
        assert!(!is_reserved("authorization"));
        assert!(!is_reserved("x-a"));
    }

    #[test]
    fn a_signed_request_verifies_and_any_change_is_detected() {
        let identity = vec![
            (SUBJECT, "u1".to_owned()),
            (ISSUER, "https://id".to_owned()),
        ];
        let headers = signed(&identity, 1_000);
        assert_eq!(
            verify_forwarded(SECRET, lookup(&headers), "GET", "/api/x?y=1", 1_030, 60),
            Ok(())
        );
        let check = |h: &[(&'static str, String)], method: &str, target: &str| {
            verify_forwarded(SECRET, lookup(h), method, target, 1_000, 60)
        };
        assert_eq!(
            check(&headers, "POST", "/api/x?y=1"),
            Err(ForwardError::Invalid)
        );
        assert_eq!(
            check(&headers, "GET", "/api/x?y=2"),
            Err(ForwardError::Invalid)
        );
        let mut forged = headers.clone();
        forged[0].1 = "admin".into();
        assert_eq!(
            check(&forged, "GET", "/api/x?y=1"),
            Err(ForwardError::Invalid)
        );
        let mut added = headers.clone();
        added.push((TENANT, "other".into()));
        assert_eq!(
            check(&added, "GET", "/api/x?y=1"),
            Err(ForwardError::Invalid),
            "an added header is detected"
        );
        assert_eq!(
            verify_forwarded(SECRET, lookup(&headers), "GET", "/api/x?y=1", 1_061, 60),
            Err(ForwardError::Stale)
        );
        assert_eq!(
            check(&identity, "GET", "/api/x?y=1"),
            Err(ForwardError::Unsigned)
        );
        assert_eq!(
            verify_forwarded(
                b"another secret, also 32 bytes long",
                lookup(&headers),
                "GET",
                "/api/x?y=1",
                1_000,
                60
            ),
            Err(ForwardError::Invalid)
        );
    }
}
