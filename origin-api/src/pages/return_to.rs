//! The `return_to` of the sign-in and sign-up pages: where to go once signed in.
//!
//! Only a path of the tenant's own pages on this origin is followed (`/t/{slug}/...`, e.g. its
//! `/authorize` request); anything else (another host, a scheme, `//host`, backslashes, control
//! characters, `..` segments) is ignored and the account page is used instead, so the pages can never
//! be made to redirect elsewhere.

/// Longest `return_to` followed: an `/authorize` request with its parameters fits easily.
pub const MAX_RETURN_TO_BYTES: usize = 2048;

/// `raw` when it is a safe path under `/t/{slug}/`, else `None`. The query is free (an `/authorize`
/// request carries its `redirect_uri` percent-encoded there); the path may hold no dot segment and
/// no encoded dot, slash or backslash, so that no server or proxy can resolve it elsewhere.
pub fn validate(slug: &str, raw: &str) -> Option<String> {
    let prefix = format!("/t/{slug}/");
    let path = raw.split(['?', '#']).next().unwrap_or_default();
    let lower_path = path.to_ascii_lowercase();
    let safe = raw.len() <= MAX_RETURN_TO_BYTES
        && raw.starts_with(&prefix)
        && raw.bytes().all(|b| b.is_ascii_graphic())
        && !raw.contains('\\')
        && !path.split('/').any(|seg| seg == ".." || seg == ".")
        && !["%2e", "%2f", "%5c"].iter().any(|e| lower_path.contains(e));
    safe.then(|| raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_the_tenants_own_pages_are_followed() {
        for good in [
            "/t/demo/account",
            "/t/demo/authorize?response_type=code&client_id=app&state=a%20b",
            "/t/demo/authorize?redirect_uri=http%3A%2F%2Flocalhost%3A9%2Fcb%2E&scope=openid",
        ] {
            assert_eq!(validate("demo", good).as_deref(), Some(good), "{good}");
        }
        for bad in [
            "https://evil.example/t/demo/",
            "//evil.example/t/demo/",
            "/\\evil.example",
            "/t/demo\\..\\x",
            "/t/other/account",
            "/t/demo",
            "/t/demo/../other/account",
            "/t/demo/%2e%2e/other/account",
            "/t/demo/%2F%2Fevil",
            "/t/demo/a b",
            "/t/demo/\u{7f}",
            "javascript:alert(1)",
            "",
        ] {
            assert_eq!(validate("demo", bad), None, "{bad:?}");
        }
        let long = format!("/t/demo/{}", "a".repeat(MAX_RETURN_TO_BYTES));
        assert_eq!(validate("demo", &long), None);
    }
}
