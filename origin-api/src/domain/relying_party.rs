//! A tenant's WebAuthn relying party: its id and the origins its ceremonies may come from.
//!
//! The RP id is what every credential is bound to and can never change once one is registered
//! under it. Each allowed origin's host must be the RP id or a subdomain of it (the browser refuses
//! any other pairing, so accepting one would only break sign-in later), and must be `https`, except
//! `http://localhost` for local use. Without a public-suffix list a single-label id other than
//! `localhost` is refused, which keeps out `com` and the like but not `co.uk`.

use url::Url;

/// Most allowed origins per tenant: its own domains and its hosted pages.
pub const MAX_ORIGINS: usize = 16;
const MAX_RP_ID_BYTES: usize = 253;

/// A validated relying-party configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    rp_id: String,
    /// Serialised origins (`scheme://host[:port]`), in the order given, without duplicates.
    origins: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub enum RelyingPartyError {
    RpId,
    OriginCount,
    Origin,
    OriginOutsideRpId,
}

impl RelyingPartyError {
    /// What the admin is told (the `passkeys_invalid` message).
    pub fn message(self) -> &'static str {
        match self {
            RelyingPartyError::RpId => {
                "passkeys.rp_id must be a lowercase domain name such as example.com, or localhost"
            }
            RelyingPartyError::OriginCount => "passkeys.origins must list 1 to 16 origins",
            RelyingPartyError::Origin => {
                "each of passkeys.origins must be an https origin (http only on localhost) without path, query or credentials"
            }
            RelyingPartyError::OriginOutsideRpId => {
                "every host in passkeys.origins must be passkeys.rp_id or a subdomain of it"
            }
        }
    }
}

impl RelyingParty {
    pub fn parse(rp_id: &str, origins: &[String]) -> Result<Self, RelyingPartyError> {
        if !is_rp_id(rp_id) {
            return Err(RelyingPartyError::RpId);
        }
        if origins.is_empty() || origins.len() > MAX_ORIGINS {
            return Err(RelyingPartyError::OriginCount);
        }
        let mut parsed: Vec<String> = Vec::with_capacity(origins.len());
        for raw in origins {
            let (origin, host) = parse_origin(raw)?;
            if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
                return Err(RelyingPartyError::OriginOutsideRpId);
            }
            if !parsed.contains(&origin) {
                parsed.push(origin);
            }
        }
        Ok(RelyingParty {
            rp_id: rp_id.to_owned(),
            origins: parsed,
        })
    }

    /// The default for a tenant: the hosted pages' own origin, under its host as RP id; `None` when
    /// that host cannot be an RP id (an IP address) or the scheme is not allowed for it.
    pub fn for_pages(pages_url: &str) -> Option<Self> {
        let url = Url::parse(pages_url).ok()?;
        let host = url.host_str()?.to_owned();
        RelyingParty::parse(&host, &[url.origin().ascii_serialization()]).ok()
    }

    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }

    pub fn origins(&self) -> &[String] {
        &self.origins
    }
}

fn is_local(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

fn is_rp_id(id: &str) -> bool {
    if id.is_empty() || id.len() > MAX_RP_ID_BYTES {
        return false;
    }
    let labels: Vec<&str> = id.split('.').collect();
    let labels_ok = labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    // A last label of digits only is an IPv4 address, never a domain.
    let last_is_numeric = labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    labels_ok && !last_is_numeric && (labels.len() >= 2 || id == "localhost")
}

/// The serialised origin and its host, or why it is refused.
fn parse_origin(raw: &str) -> Result<(String, String), RelyingPartyError> {
    let url = Url::parse(raw).map_err(|_| RelyingPartyError::Origin)?;
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        _ => return Err(RelyingPartyError::Origin),
    };
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => is_local(&host),
        _ => false,
    };
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !scheme_ok || !bare {
        return Err(RelyingPartyError::Origin);
    }
    Ok((url.origin().ascii_serialization(), host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(rp_id: &str, origins: &[&str]) -> Result<RelyingParty, RelyingPartyError> {
        let origins: Vec<String> = origins.iter().map(|o| (*o).to_owned()).collect();
        RelyingParty::parse(rp_id, &origins)
    }

    #[test]
    fn an_rp_id_covers_its_own_host_and_its_subdomains() {
        let rp = parse(
            "example.com",
            &[
                "https://example.com",
                "https://login.example.com:8443/",
                "https://example.com",
            ],
        )
        .unwrap();
        assert_eq!(rp.rp_id(), "example.com");
        assert_eq!(
            rp.origins(),
            ["https://example.com", "https://login.example.com:8443"]
        );
        assert!(parse("localhost", &["http://localhost:8080"]).is_ok());
    }

    #[test]
    fn an_origin_outside_the_rp_id_is_refused() {
        for origin in [
            "https://example.org",
            "https://notexample.com",
            "https://com",
        ] {
            assert_eq!(
                parse("example.com", &[origin]),
                Err(RelyingPartyError::OriginOutsideRpId),
                "{origin}"
            );
        }
        assert_eq!(
            parse("login.example.com", &["https://example.com"]),
            Err(RelyingPartyError::OriginOutsideRpId)
        );
    }

    #[test]
    fn plain_http_ip_addresses_and_urls_with_more_than_an_origin_are_refused() {
        for origin in [
            "http://example.com",
            "https://127.0.0.1",
            "ftp://example.com",
            "https://example.com/login",
            "https://example.com/?x=1",
            "https://example.com/#f",
            "https://user@example.com",
            "example.com",
        ] {
            assert_eq!(
                parse("example.com", &[origin]),
                Err(RelyingPartyError::Origin),
                "{origin}"
            );
        }
    }

    #[test]
    fn rp_ids_must_be_registrable_looking_domains() {
        for id in [
            "",
            "com",
            "Example.com",
            "example..com",
            "-example.com",
            "127.0.0.1",
            "exa_mple.com",
            "https://example.com",
        ] {
            assert_eq!(
                parse(id, &["https://example.com"]),
                Err(RelyingPartyError::RpId),
                "{id:?}"
            );
        }
    }

    #[test]
    fn the_origin_count_is_bounded() {
        assert_eq!(
            parse("example.com", &[]),
            Err(RelyingPartyError::OriginCount)
        );
        let many: Vec<String> = (0..17)
            .map(|i| format!("https://a{i}.example.com"))
            .collect();
        assert_eq!(
            RelyingParty::parse("example.com", &many),
            Err(RelyingPartyError::OriginCount)
        );
    }

    #[test]
    fn the_pages_default_needs_a_domain() {
        let rp = RelyingParty::for_pages("http://localhost:8080").unwrap();
        assert_eq!(rp.rp_id(), "localhost");
        assert_eq!(rp.origins(), ["http://localhost:8080"]);
        assert!(RelyingParty::for_pages("http://127.0.0.1:8080").is_none());
        assert!(RelyingParty::for_pages("http://auth.example.com").is_none());
    }
}
