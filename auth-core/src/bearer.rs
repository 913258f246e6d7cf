//! RFC 6750 at the HTTP boundary: reading `Authorization: Bearer <token>` and rendering the
//! `WWW-Authenticate` challenge of a refusal. The edge and the origin both answer through these, so
//! a client sees the same rules and the same challenge from either.

use crate::reject::Rejection;

/// The token of an `Authorization` header value (`None`: no header).
///
/// The scheme is matched case-insensitively (RFC 6750 §2.1 via RFC 9110 §11.1) and whitespace
/// around the token is ignored. No header, or nothing but whitespace after `Bearer `, is
/// [`Rejection::Missing`]; another scheme, or a value without a space (a bare token, or `Bearer`
/// alone: HTTP strips the spaces around a field value, so that is what `Bearer ` arrives as), is
/// [`Rejection::Malformed`]. The token itself is checked by the token parser, not here.
pub fn token(header: Option<&str>) -> Result<&str, Rejection> {
    let (scheme, token) = header
        .ok_or(Rejection::Missing)?
        .split_once(' ')
        .ok_or(Rejection::Malformed("authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::Malformed("authorization scheme is not Bearer"));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Rejection::Missing);
    }
    Ok(token)
}

/// The `WWW-Authenticate` value for a refused token, when its status (401) calls for one.
///
/// RFC 6750 §3.1: a request without credentials gets the bare scheme; any other refusal names the
/// `error` and carries the stable code as `error_description`, so that a client reading only the
/// header learns as much as one reading the body. Answers other than 401 carry no challenge.
pub fn challenge(rejection: &Rejection) -> Option<String> {
    if rejection.status() != 401 {
        return None;
    }
    Some(match rejection.bearer_error() {
        Some(error) => format!(
            "Bearer error=\"{error}\", error_description=\"{}\"",
            rejection.code()
        ),
        None => "Bearer".to_owned(),
    })
}

/// The `WWW-Authenticate` value of a 403 for missing scopes (RFC 6750 §3.1 `insufficient_scope`),
/// naming the scopes the route needs.
pub fn insufficient_scope_challenge(scope: &str) -> String {
    format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_is_read_whatever_the_case_of_the_scheme() {
        assert_eq!(token(Some("Bearer abc")), Ok("abc"));
        assert_eq!(token(Some("bearer abc")), Ok("abc"));
        assert_eq!(token(Some("BEARER   abc  ")), Ok("abc"));
    }

    #[test]
    fn no_header_or_an_empty_bearer_is_a_missing_token() {
        assert_eq!(token(None), Err(Rejection::Missing));
        assert_eq!(token(Some("Bearer  \t")), Err(Rejection::Missing));
    }

    #[test]
    fn another_scheme_or_no_scheme_is_a_malformed_header() {
        assert_eq!(
            token(Some("Basic abc")),
            Err(Rejection::Malformed("authorization scheme is not Bearer"))
        );
        for header in ["abc.def.ghi", "Bearer", ""] {
            assert_eq!(
                token(Some(header)),
                Err(Rejection::Malformed("authorization header")),
                "{header:?}"
            );
        }
    }

    #[test]
    fn the_challenge_names_the_error_and_the_code_except_without_credentials() {
        assert_eq!(challenge(&Rejection::Missing).as_deref(), Some("Bearer"));
        assert_eq!(
            challenge(&Rejection::Expired).as_deref(),
            Some("Bearer error=\"invalid_token\", error_description=\"token_expired\"")
        );
        assert_eq!(
            challenge(&Rejection::KeysUnavailable),
            None,
            "a 503 is no challenge"
        );
        assert_eq!(
            insufficient_scope_challenge("orders:read"),
            "Bearer error=\"insufficient_scope\", scope=\"orders:read\""
        );
    }
}
