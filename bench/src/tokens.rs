//! Keys and bearer tokens for the edge benchmark.
//!
//! One ES256 and one EdDSA key are generated per run; their public halves are the JWKS the Workers
//! fetch. Tokens are RFC 9068 access tokens (`typ: at+jwt`) signed here, in Rust, so neither verifier
//! under test also produced its inputs.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use serde_json::{json, Value};

/// The audience every benchmark token carries and every Worker expects.
pub const AUDIENCE: &str = "api";
/// The `tid` claim: with `sid` it names the KV deny entry the edge looks up
/// (`auth_core::sessions::SessionKey::deny_entry_key`).
pub const TENANT: &str = "bench";
/// A session the KV stub is seeded with a deny entry for: the smoke check proves KV is really read.
pub const REVOKED_SESSION: &str = "sess-revoked";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    Es256,
    EdDsa,
}

impl Alg {
    pub const ALL: [Alg; 2] = [Alg::Es256, Alg::EdDsa];

    pub fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
        }
    }

    fn kid(self) -> &'static str {
        match self {
            Alg::Es256 => "bench-es256",
            Alg::EdDsa => "bench-eddsa",
        }
    }
}

/// What varies between tokens: everything else is the same for the whole run.
#[derive(Debug, Clone)]
pub struct Subject {
    pub sub: String,
    pub sid: String,
    pub jti: String,
}

impl Subject {
    pub fn numbered(alg: Alg, n: usize) -> Subject {
        Subject {
            sub: format!("user-{n}"),
            sid: format!("sess-{n}"),
            jti: format!("{}-{n}", alg.kid()),
        }
    }
}

/// The issuer's signing keys (private halves never leave this process).
pub struct Issuer {
    pub issuer: String,
    es256: p256::ecdsa::SigningKey,
    eddsa: ed25519_dalek::SigningKey,
}

// Hand-written so the private keys cannot end up in a log through `{:?}`.
impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// Fresh keys for one run.
    pub fn generate(issuer: &str) -> Issuer {
        Issuer {
            issuer: issuer.to_owned(),
            es256: p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng),
            eddsa: ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>()),
        }
    }

    /// The public key set, as the issuer would publish it at its `jwks_uri`.
    pub fn jwks(&self) -> Value {
        let point = self.es256.verifying_key().to_encoded_point(false);
        let (x, y) = (
            point.x().map(|c| b64(c)).unwrap_or_default(),
            point.y().map(|c| b64(c)).unwrap_or_default(),
        );
        json!({ "tenant_id": TENANT, "keys": [
            {
                "kty": "EC", "crv": "P-256", "x": x, "y": y,
                "alg": "ES256", "use": "sig", "kid": Alg::Es256.kid(),
            },
            {
                "kty": "OKP", "crv": "Ed25519", "x": b64(self.eddsa.verifying_key().as_bytes()),
                "alg": "EdDSA", "use": "sig", "kid": Alg::EdDsa.kid(),
            },
        ]})
    }

    /// A signed access token for `who`, issued at `iat` and valid until `exp` (Unix seconds).
    pub fn token(&self, alg: Alg, who: &Subject, iat: i64, exp: i64) -> String {
        let header = json!({ "alg": alg.name(), "typ": "at+jwt", "kid": alg.kid() });
        let claims = json!({
            "iss": self.issuer,
            "sub": who.sub,
            "aud": AUDIENCE,
            "exp": exp,
            "iat": iat,
            "jti": who.jti,
            "sid": who.sid,
            "tid": TENANT,
        });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = match alg {
            Alg::Es256 => {
                let sig: p256::ecdsa::Signature = self.es256.sign(signing_input.as_bytes());
                sig.to_bytes().to_vec()
            }
            Alg::EdDsa => self
                .eddsa
                .sign(signing_input.as_bytes())
                .to_bytes()
                .to_vec(),
        };
        format!("{signing_input}.{}", b64(&signature))
    }

    /// `count` tokens for distinct users and sessions.
    pub fn pool(&self, alg: Alg, count: usize, iat: i64, exp: i64) -> Vec<String> {
        (0..count)
            .map(|n| self.token(alg, &Subject::numbered(alg, n), iat, exp))
            .collect()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The same token with one signature byte changed: it must be refused.
pub fn tampered(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    // The middle of the signature segment: a flipped base64url character there always changes a
    // signature byte (the last character may only carry padding bits).
    let dot = token.rfind('.').unwrap_or(0);
    let i = dot + (token.len() - dot) / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier as _;

    fn decode(segment: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
    }

    #[test]
    fn es256_tokens_verify_against_the_published_key_and_carry_every_claim() {
        let issuer = Issuer::generate("https://issuer.test");
        let token = issuer.token(Alg::Es256, &Subject::numbered(Alg::Es256, 7), 100, 200);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["kid"], "bench-es256");
        let claims = decode(parts[1]);
        for name in ["iss", "sub", "aud", "exp", "iat", "jti", "sid", "tid"] {
            assert!(claims.get(name).is_some(), "{name} is missing");
        }
        let jwk = &issuer.jwks()["keys"][0];
        let mut sec1 = vec![4u8];
        for c in ["x", "y"] {
            sec1.extend(URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap());
        }
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let sig =
            p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(key.verify(input.as_bytes(), &sig).is_ok());
    }

    #[test]
    fn eddsa_tokens_verify_against_the_published_key() {
        let issuer = Issuer::generate("https://issuer.test");
        let token = issuer.token(Alg::EdDsa, &Subject::numbered(Alg::EdDsa, 1), 100, 200);
        let (input, sig) = token.rsplit_once('.').unwrap();
        let x = URL_SAFE_NO_PAD
            .decode(issuer.jwks()["keys"][1]["x"].as_str().unwrap())
            .unwrap();
        let key = ed25519_dalek::VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        let sig =
            ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
        assert!(key.verify_strict(input.as_bytes(), &sig).is_ok());
        assert!(!tampered(&token).ends_with(token.rsplit('.').next().unwrap()));
    }

    #[test]
    fn pooled_tokens_are_all_distinct() {
        let issuer = Issuer::generate("https://issuer.test");
        let mut pool = issuer.pool(Alg::EdDsa, 50, 100, 200);
        pool.sort();
        pool.dedup();
        assert_eq!(pool.len(), 50);
    }
}
