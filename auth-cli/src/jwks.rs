//! The JWKS adapter: bytes from a file or a URL, handed to the core's strict key-set parser.

use anyhow::Context as _;
use auth_core::keys::MAX_JWKS_BYTES;
use auth_core::KeySet;
use std::fmt;
use std::io::Read;
use std::time::Duration;

/// How long one fetch may take, connect to last byte. A debugging tool should fail fast and say so
/// rather than hang on an issuer that does not answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a key set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JwksSource {
    File(String),
    Url(String),
}

impl JwksSource {
    /// An `http://` or `https://` argument is a URL; anything else is a file path.
    pub(crate) fn parse(arg: &str) -> Self {
        let lower = arg.get(..8).unwrap_or(arg).to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            JwksSource::Url(arg.to_owned())
        } else {
            JwksSource::File(arg.to_owned())
        }
    }

    /// Reads the key set. The core refuses the document if it is oversized or ambiguous, as the edge
    /// would; that is reported as an error here (exit 2), since the token was never looked at.
    pub(crate) fn load(&self) -> anyhow::Result<KeySet> {
        let bytes = match self {
            JwksSource::File(path) => {
                let file = std::fs::File::open(path).with_context(|| format!("reading {self}"))?;
                read_capped(file).with_context(|| format!("reading {self}"))?
            }
            JwksSource::Url(url) => fetch(url).with_context(|| format!("fetching {self}"))?,
        };
        KeySet::from_jwks_json(&bytes).with_context(|| format!("{self} is not a usable key set"))
    }
}

impl fmt::Display for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksSource::File(path) => write!(f, "jwks file {path}"),
            JwksSource::Url(url) => write!(f, "jwks url {url}"),
        }
    }
}

fn fetch(url: &str) -> anyhow::Result<Vec<u8>> {
    let agent = ureq::AgentBuilder::new().timeout(FETCH_TIMEOUT).build();
    // ureq 2 turns a non-2xx status into an error whose message names the status.
    let response = agent.get(url).call()?;
    Ok(read_capped(response.into_reader())?)
}

/// Reads at most one byte more than the core accepts, so an oversized document is refused by the
/// core's own size check without being read whole.
fn read_capped(reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_JWKS_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_https_arguments_are_urls_and_the_rest_are_files() {
        assert_eq!(
            JwksSource::parse("https://id.example/jwks.json"),
            JwksSource::Url("https://id.example/jwks.json".into())
        );
        assert_eq!(
            JwksSource::parse("HTTP://127.0.0.1:1/k"),
            JwksSource::Url("HTTP://127.0.0.1:1/k".into())
        );
        assert_eq!(
            JwksSource::parse("keys/http.json"),
            JwksSource::File("keys/http.json".into())
        );
        assert_eq!(JwksSource::parse("h"), JwksSource::File("h".into()));
    }

    #[test]
    fn reading_stops_one_byte_past_the_core_limit() {
        let big = vec![b' '; MAX_JWKS_BYTES * 2];
        assert_eq!(read_capped(&big[..]).unwrap().len(), MAX_JWKS_BYTES + 1);
    }
}
