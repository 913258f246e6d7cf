//! Bearer tokens before their signature is checked.
//!
//! [`UnverifiedToken`] offers only what is needed to choose an issuer and a key; the claims stay out of
//! reach until [`UnverifiedToken::finish`] is given the proof that the signature was checked.

use crate::claims::{self, IssuerPolicy, VerifiedClaims};
use crate::encoding::{b64url_decode, parse_strict_json};
use crate::keys::{Algorithm, VerificationKey, MAX_KID_BYTES};
use crate::reject::Rejection;
use serde_json::{Map, Value};

/// Default cap on a bearer token's length, checked before anything is decoded. Access tokens of the
/// issuers we know are under 2 KiB; 8 KiB leaves room for generous claims.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Header members that embed or point at a key: trusting them lets the token choose its own key.
const KEY_CARRYING_MEMBERS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

/// A compact JWS whose structure and header passed the checks, signature not yet verified.
#[derive(Debug)]
pub struct UnverifiedToken<'t> {
    signing_input: &'t str,
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    claims: Map<String, Value>,
    signature: Vec<u8>,
}

impl<'t> UnverifiedToken<'t> {
    /// Parses a compact JWS, refusing every form we do not verify (RFC 8725).
    pub fn parse(raw: &'t str, max_bytes: usize) -> Result<Self, Rejection> {
        if raw.len() > max_bytes {
            return Err(Rejection::TooLarge);
        }
        if raw.is_empty() {
            return Err(Rejection::Missing);
        }
        if raw.starts_with('{') {
            return Err(Rejection::Unsupported("json serialization"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            return Err(Rejection::Malformed("characters outside base64url"));
        }
        let parts: Vec<&str> = raw.split('.').collect();
        let (header_b64, claims_b64, signature_b64) = match parts.as_slice() {
            [h, c, s] => (*h, *c, *s),
            [_, _, _, _, _] => return Err(Rejection::Unsupported("encrypted token (JWE)")),
            _ => return Err(Rejection::Malformed("not three dot-separated parts")),
        };
        let signing_input = raw
            .get(..header_b64.len() + 1 + claims_b64.len())
            .ok_or(Rejection::Malformed("not three dot-separated parts"))?;
        let header = decode_object(header_b64, "header")?;
        let Header { alg, kid, typ } = check_header(&header)?;
        let claims = decode_object(claims_b64, "claims")?;
        if signature_b64.is_empty() {
            return Err(Rejection::Malformed("empty signature"));
        }
        let signature =
            b64url_decode(signature_b64).ok_or(Rejection::Malformed("signature encoding"))?;
        Ok(UnverifiedToken {
            signing_input,
            alg,
            kid,
            typ,
            claims,
            signature,
        })
    }

    /// The unverified `iss`, used only to pick the issuer whose keys decide.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// The unverified `kid`, used only to pick a key.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Checks the header against the issuer's policy and the chosen key, and returns the signature
    /// check to run. The algorithm in force is the key's: the token's `alg` must merely agree.
    pub fn signature_job<'k>(
        &self,
        policy: &IssuerPolicy,
        key: &'k VerificationKey,
    ) -> Result<SignatureJob<'t, 'k>, Rejection> {
        let alg = Algorithm::from_header(&self.alg).ok_or(Rejection::AlgorithmNotAllowed)?;
        if alg != key.algorithm() || !policy.algorithms.contains(&alg) {
            return Err(Rejection::AlgorithmNotAllowed);
        }
        if let Some(expected) = &policy.token_type {
            if !self
                .typ
                .as_deref()
                .is_some_and(|t| type_matches(t, expected))
            {
                return Err(Rejection::TypeMismatch);
            }
        }
        Ok(SignatureJob {
            alg,
            key,
            signing_input: self.signing_input,
            signature: self.signature.clone(),
        })
    }

    /// Validates the claims once the signature is proven, yielding the only route to [`VerifiedClaims`].
    pub fn finish(
        self,
        proof: SignatureVerified<'_>,
        policy: &IssuerPolicy,
        now: i64,
    ) -> Result<VerifiedClaims, Rejection> {
        // The proof must be for this token's bytes, not another token's.
        if !std::ptr::eq(proof.signing_input, self.signing_input) {
            return Err(Rejection::SignatureInvalid);
        }
        claims::validate(self.claims, policy, proof.key_tenant.as_deref(), now)
    }
}

/// `typ` compares case-insensitively and may carry the `application/` prefix (RFC 7515 §4.1.9).
fn type_matches(typ: &str, expected: &str) -> bool {
    let bare = match typ.get(..12) {
        Some(p) if p.eq_ignore_ascii_case("application/") => typ.get(12..).unwrap_or(""),
        _ => typ,
    };
    bare.eq_ignore_ascii_case(expected)
}

struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
}

fn decode_object(b64: &str, what: &'static str) -> Result<Map<String, Value>, Rejection> {
    let bytes = b64url_decode(b64).ok_or(Rejection::Malformed(match what {
        "header" => "header encoding",
        _ => "claims encoding",
    }))?;
    match parse_strict_json(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Err(crate::encoding::JsonError::DuplicateMember) => {
            Err(Rejection::Malformed("duplicate member name"))
        }
        _ => Err(Rejection::Malformed(match what {
            "header" => "header is not a json object",
            _ => "claims are not a json object",
        })),
    }
}

fn check_header(h: &Map<String, Value>) -> Result<Header, Rejection> {
    if h.contains_key("enc") || h.contains_key("zip") {
        return Err(Rejection::Unsupported("encrypted token (JWE)"));
    }
    if KEY_CARRYING_MEMBERS.iter().any(|m| h.contains_key(*m)) {
        return Err(Rejection::Unsupported(
            "key embedded in or referenced by the header",
        ));
    }
    // We understand no extension, so any `crit` is unsatisfiable (RFC 7515 §4.1.11); `b64` is only
    // meaningful under `crit` (RFC 7797), and a token that sets it is not one we verify.
    if h.contains_key("crit") {
        return Err(Rejection::Unsupported("critical header extension"));
    }
    if h.contains_key("b64") {
        return Err(Rejection::Unsupported("unencoded payload (b64)"));
    }
    let alg = match h.get("alg") {
        Some(Value::String(a)) => a.clone(),
        _ => return Err(Rejection::Malformed("missing alg")),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(Rejection::AlgorithmNotAllowed);
    }
    let typ = optional_string(h, "typ")?;
    if optional_string(h, "cty")?.is_some_and(|c| type_matches(&c, "JWT")) {
        return Err(Rejection::Unsupported("nested token"));
    }
    let kid = optional_string(h, "kid")?;
    match &kid {
        Some(k) if k.is_empty() || k.len() > MAX_KID_BYTES => {
            return Err(Rejection::Malformed("kid"))
        }
        _ => {}
    }
    Ok(Header { alg, kid, typ })
}

fn optional_string(
    h: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, Rejection> {
    match h.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Rejection::Malformed("header member has the wrong type")),
    }
}

/// One signature check, for whichever crypto implementation runs it.
#[derive(Debug)]
pub struct SignatureJob<'t, 'k> {
    pub alg: Algorithm,
    pub key: &'k VerificationKey,
    pub signing_input: &'t str,
    pub signature: Vec<u8>,
}

impl<'t> SignatureJob<'t, '_> {
    /// Records the crypto implementation's verdict. Only a `true` verdict yields the proof that
    /// [`UnverifiedToken::finish`] requires.
    pub fn conclude(self, signature_is_valid: bool) -> Result<SignatureVerified<'t>, Rejection> {
        if signature_is_valid {
            Ok(SignatureVerified {
                signing_input: self.signing_input,
                key_tenant: self.key.tenant().map(str::to_owned),
            })
        } else {
            Err(Rejection::SignatureInvalid)
        }
    }
}

/// Proof that the signature over one token's signing input was verified.
#[derive(Debug)]
pub struct SignatureVerified<'t> {
    signing_input: &'t str,
    /// The tenant of the verifying key's set: an issuer of the origin is bound to it.
    key_tenant: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_matching_accepts_the_media_type_prefix_and_any_case() {
        assert!(type_matches("at+jwt", "at+jwt"));
        assert!(type_matches("application/AT+JWT", "at+jwt"));
        assert!(!type_matches("JWT", "at+jwt"));
        assert!(!type_matches("application/", "at+jwt"));
    }
}
