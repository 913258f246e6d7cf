//! A registered client's redirect URI.
//!
//! Compared with a request's `redirect_uri` byte for byte (OAuth 2.1 §2.3.1: exact matching; no
//! wildcard, prefix or pattern), so the text is kept exactly as registered. To be registrable it must
//! be an absolute `https` URI, or `http` on a loopback host (`127.0.0.1`, `[::1]`, `localhost`: native
//! apps, RFC 8252 §7.3), without credentials or fragment (RFC 6749 §3.1.2) and without `*` anywhere.

use url::{Host, Url};

/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI_BYTES: usize = 2000;
/// Most redirect URIs per client.
pub const MAX_REDIRECT_URIS: usize = 10;

/// A validated redirect URI, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum RedirectUriError {
    Count,
    Malformed,
    Scheme,
    Wildcard,
    Fragment,
    Credentials,
}

impl RedirectUriError {
    /// What the admin is told (the `redirect_uri_invalid` message).
    pub fn message(self) -> &'static str {
        match self {
            RedirectUriError::Count => "redirect_uris must list 1 to 10 distinct URIs",
            RedirectUriError::Malformed => {
                "each of redirect_uris must be an absolute URI of at most 2000 bytes"
            }
            RedirectUriError::Scheme => {
                "each of redirect_uris must be https, or http on 127.0.0.1, [::1] or localhost"
            }
            RedirectUriError::Wildcard => "redirect_uris are matched exactly: no wildcard (*)",
            RedirectUriError::Fragment => "a redirect URI must not have a fragment (#)",
            RedirectUriError::Credentials => {
                "a redirect URI must not carry a user name or password"
            }
        }
    }
}

impl RedirectUri {
    pub fn parse(raw: &str) -> Result<Self, RedirectUriError> {
        if raw.is_empty()
            || raw.len() > MAX_REDIRECT_URI_BYTES
            || raw.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(RedirectUriError::Malformed);
        }
        if raw.contains('*') {
            return Err(RedirectUriError::Wildcard);
        }
        let url = Url::parse(raw).map_err(|_| RedirectUriError::Malformed)?;
        if url.fragment().is_some() || raw.contains('#') {
            return Err(RedirectUriError::Fragment);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectUriError::Credentials);
        }
        if !matches!(url.scheme(), "https" | "http") {
            return Err(RedirectUriError::Scheme);
        }
        let loopback = match url.host() {
            Some(Host::Domain(d)) => d == "localhost",
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            None => return Err(RedirectUriError::Malformed),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(RedirectUriError::Scheme),
        }
        Ok(RedirectUri(raw.to_owned()))
    }

    /// A client's list: 1 to [`MAX_REDIRECT_URIS`], each valid, none twice.
    pub fn parse_list(raw: &[String]) -> Result<Vec<Self>, RedirectUriError> {
        if raw.is_empty() || raw.len() > MAX_REDIRECT_URIS {
            return Err(RedirectUriError::Count);
        }
        let mut list: Vec<RedirectUri> = Vec::with_capacity(raw.len());
        for uri in raw {
            let uri = RedirectUri::parse(uri)?;
            if list.contains(&uri) {
                return Err(RedirectUriError::Count);
            }
            list.push(uri);
        }
        Ok(list)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_are_registrable_and_kept_as_written() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com",
            "https://app.example.com/cb?tenant=a",
            "http://127.0.0.1:8910/callback",
            "http://[::1]:8910/cb",
            "http://localhost:3000/auth/callback",
        ] {
            assert_eq!(RedirectUri::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn everything_else_is_refused_with_its_reason() {
        use RedirectUriError::*;
        for (raw, why) in [
            ("http://app.example.com/cb", Scheme),
            ("http://10.0.0.1/cb", Scheme),
            ("com.example.app:/cb", Scheme),
            ("javascript:alert(1)", Scheme),
            ("https://*.example.com/cb", Wildcard),
            ("https://app.example.com/*", Wildcard),
            ("https://app.example.com/cb#x", Fragment),
            ("https://app.example.com/cb#", Fragment),
            ("https://user:pw@app.example.com/cb", Credentials),
            ("/relative/cb", Malformed),
            ("", Malformed),
            ("https://app.example.com/a b", Malformed),
        ] {
            assert_eq!(RedirectUri::parse(raw), Err(why), "{raw}");
        }
        let long = format!(
            "https://app.example.com/{}",
            "a".repeat(MAX_REDIRECT_URI_BYTES)
        );
        assert_eq!(RedirectUri::parse(&long), Err(Malformed));
    }

    #[test]
    fn a_list_has_one_to_ten_distinct_uris() {
        let one = "https://a.example.com/cb".to_owned();
        assert_eq!(
            RedirectUri::parse_list(std::slice::from_ref(&one))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(RedirectUri::parse_list(&[]), Err(RedirectUriError::Count));
        assert_eq!(
            RedirectUri::parse_list(&[one.clone(), one.clone()]),
            Err(RedirectUriError::Count)
        );
        let eleven: Vec<String> = (0..11)
            .map(|i| format!("https://a.example.com/{i}"))
            .collect();
        assert_eq!(
            RedirectUri::parse_list(&eleven),
            Err(RedirectUriError::Count)
        );
    }
}
