//! Running outside JWS vectors through the token parser (`cargo xtask conformance`). Compiled only
//! with the `conformance` feature; the native path (xtask) and the WebCrypto path (the Worker's
//! test-only endpoints) both call these, so the two cannot drift apart.

use crate::encoding::b64url_decode;
use crate::reject::Rejection;
use crate::token::DEFAULT_MAX_TOKEN_BYTES;

/// The token parser refuses a payload that is not a JSON object, as it should for bearer tokens; the
/// vectors' payloads are arbitrary bytes. Everything else the parser checks (size, alphabet, the three
/// parts, the header, the signature's encoding) is what the vectors test, so the payload is checked
/// to be canonical base64url and replaced by `{}` for parsing; the signature is still checked over
/// the original signing input. `None` when the text is not three parts (the parser refuses it as is).
pub fn stand_in(raw: &str) -> Result<Option<String>, Rejection> {
    if raw.len() > DEFAULT_MAX_TOKEN_BYTES {
        return Err(Rejection::TooLarge);
    }
    let parts: Vec<&str> = raw.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        return Ok(None);
    };
    if b64url_decode(payload).is_none() {
        return Err(Rejection::Malformed("payload encoding"));
    }
    Ok(Some(format!("{header}.e30.{signature}")))
}

/// `header.payload` of a compact JWS.
pub fn signing_input(raw: &str) -> Option<&str> {
    raw.rfind('.').and_then(|end| raw.get(..end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_stood_in_for_and_the_signing_input_kept() {
        assert_eq!(
            stand_in("aGk.Zm9v.c2ln").unwrap().as_deref(),
            Some("aGk.e30.c2ln")
        );
        assert_eq!(stand_in("a.b").unwrap(), None);
        assert!(stand_in("aGk.Zm9v=.c2ln").is_err());
        assert_eq!(signing_input("aGk.Zm9v.c2ln"), Some("aGk.Zm9v"));
    }
}
