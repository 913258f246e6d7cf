//! PKCE (RFC 7636) with the `S256` method only.
//!
//! `plain` sends the verifier itself as the challenge, so anyone who sees the authorization request
//! can redeem the code: OAuth 2.1 §4.1.1 lets a server refuse it, and we do, as we refuse a request
//! that names no method (RFC 7636 would read that as `plain`).

use auth_core::encoding::b64url_encode;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Length of BASE64URL(SHA-256(..)) without padding.
const CHALLENGE_CHARS: usize = 43;
const MIN_VERIFIER_CHARS: usize = 43;
const MAX_VERIFIER_CHARS: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("code_challenge is required (PKCE)")]
    ChallengeMissing,
    #[error("code_challenge_method must be S256")]
    MethodNotS256,
    #[error("code_challenge must be 43 base64url characters (S256)")]
    ChallengeMalformed,
    #[error("code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")]
    VerifierMalformed,
}

/// An `S256` code challenge as the authorization request carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// Parses `code_challenge` and `code_challenge_method` of an authorization request.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, PkceError> {
        let challenge = challenge.ok_or(PkceError::ChallengeMissing)?;
        if method != Some("S256") {
            return Err(PkceError::MethodNotS256);
        }
        let base64url = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if challenge.len() != CHALLENGE_CHARS || !challenge.chars().all(base64url) {
            return Err(PkceError::ChallengeMalformed);
        }
        Ok(CodeChallenge(challenge.to_owned()))
    }

    /// A challenge read back from storage (validated when it was stored).
    pub fn stored(challenge: String) -> Self {
        CodeChallenge(challenge)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` is the one this challenge was made from, in constant time.
    pub fn is_met_by(&self, verifier: &CodeVerifier) -> bool {
        let computed = b64url_encode(&Sha256::digest(verifier.0.as_bytes()));
        computed.as_bytes().ct_eq(self.0.as_bytes()).into()
    }
}

/// A `code_verifier` of a token request.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl std::fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVerifier([REDACTED])")
    }
}

impl CodeVerifier {
    pub fn parse(raw: &str) -> Result<Self, PkceError> {
        let unreserved = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
        if !(MIN_VERIFIER_CHARS..=MAX_VERIFIER_CHARS).contains(&raw.len())
            || !raw.chars().all(unreserved)
        {
            return Err(PkceError::VerifierMalformed);
        }
        Ok(CodeVerifier(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifies() {
        // RFC 7636 appendix B.
        let challenge = CodeChallenge::parse(
            Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            Some("S256"),
        )
        .unwrap();
        let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert!(challenge.is_met_by(&verifier));
        let other = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl").unwrap();
        assert!(!challenge.is_met_by(&other));
    }

    #[test]
    fn plain_a_missing_method_and_malformed_values_are_refused() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(
            CodeChallenge::parse(Some(c), Some("plain")),
            Err(PkceError::MethodNotS256)
        );
        assert_eq!(
            CodeChallenge::parse(Some(c), None),
            Err(PkceError::MethodNotS256)
        );
        assert_eq!(
            CodeChallenge::parse(None, Some("S256")),
            Err(PkceError::ChallengeMissing)
        );
        assert_eq!(
            CodeChallenge::parse(Some(&c[1..]), Some("S256")),
            Err(PkceError::ChallengeMalformed)
        );
        assert_eq!(
            CodeChallenge::parse(Some(&c.replace('-', "+")), Some("S256")),
            Err(PkceError::ChallengeMalformed)
        );
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(42)),
            Err(PkceError::VerifierMalformed)
        );
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(129)),
            Err(PkceError::VerifierMalformed)
        );
        assert_eq!(
            CodeVerifier::parse(&format!("{}/", "a".repeat(43))),
            Err(PkceError::VerifierMalformed)
        );
        assert!(CodeVerifier::parse(&"a~._-".repeat(10)).is_ok());
    }
}
