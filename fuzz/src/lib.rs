//! Fixtures and checks shared by the fuzz targets in `fuzz_targets/`.
//!
//! One trusted issuer with two fixed signing keys (P-256 and Ed25519, derived from constant secrets so
//! seeds stay valid across runs), published as a JWKS the same way an issuer publishes its keys. The
//! targets use only auth-core's public entry points, so they break only when those do.

use auth_core::{Expectations, KeySet, Rejection};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use serde_json::{json, Value};
use std::sync::LazyLock;

pub const ISSUER: &str = "https://id.example.test/t/fuzz";
pub const AUDIENCE: &str = "api";
pub const TOKEN_TYPE: &str = "at+jwt";
pub const LEEWAY_SECS: i64 = 30;
/// The clock for inputs that do not choose their own; seed tokens are valid at this instant.
pub const NOW: i64 = 1_800_000_000;
pub const ES256_KID: &str = "fuzz-es256";
pub const ED25519_KID: &str = "fuzz-ed25519";

/// The fixed issuer, its keys and the expectations that trust it.
#[derive(Debug)]
pub struct Fixture {
    pub expectations: Expectations,
    pub keys: KeySet,
    pub jwks: Value,
    es256: p256::ecdsa::SigningKey,
    ed25519: ed25519_dalek::SigningKey,
}

/// Which fixed key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, arbitrary::Arbitrary)]
pub enum Signer {
    Es256,
    Ed25519,
}

impl Signer {
    pub fn kid(self) -> &'static str {
        match self {
            Signer::Es256 => ES256_KID,
            Signer::Ed25519 => ED25519_KID,
        }
    }

    /// The `alg` header names this key's algorithm may appear under.
    pub fn alg_names(self) -> &'static [&'static str] {
        match self {
            Signer::Es256 => &["ES256"],
            // RFC 9864: `Ed25519` is the fully specified name for EdDSA over Ed25519.
            Signer::Ed25519 => &["EdDSA", "Ed25519"],
        }
    }
}

pub static FIXTURE: LazyLock<Fixture> = LazyLock::new(Fixture::build);

impl Fixture {
    // Panics are fine here: a broken fixture is a broken harness, and it fails on the first input.
    fn build() -> Fixture {
        let es256 = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).expect("valid P-256 scalar");
        let ed25519 = ed25519_dalek::SigningKey::from_bytes(&[0x22; 32]);
        let point = es256.verifying_key().to_encoded_point(false);
        let (x, y) = (
            point.x().expect("uncompressed point"),
            point.y().expect("uncompressed point"),
        );
        let jwks = json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": ES256_KID, "use": "sig", "alg": "ES256",
             "x": b64(x), "y": b64(y)},
            {"kty": "OKP", "crv": "Ed25519", "kid": ED25519_KID, "use": "sig", "alg": "EdDSA",
             "x": b64(ed25519.verifying_key().as_bytes())},
        ]});
        let keys = KeySet::from_jwks_json(jwks.to_string().as_bytes()).expect("fixture JWKS");
        // JSON rather than a struct literal, so fields added to the policy elsewhere take their defaults.
        let expectations = Expectations::from_json(
            &json!({"issuers": [{
                "issuer": ISSUER,
                "jwks_uri": format!("{ISSUER}/.well-known/jwks.json"),
                "audiences": [AUDIENCE],
                "algorithms": ["ES256", "EdDSA"],
                "token_type": TOKEN_TYPE,
                "leeway_secs": LEEWAY_SECS,
            }]})
            .to_string(),
        )
        .expect("fixture expectations");
        Fixture {
            expectations,
            keys,
            jwks,
            es256,
            ed25519,
        }
    }

    /// A compact JWS over the given header and claims texts, signed by `signer`.
    pub fn sign(&self, signer: Signer, header: &str, claims: &str) -> String {
        let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let signature = match signer {
            Signer::Es256 => {
                let sig: p256::ecdsa::Signature = self.es256.sign(signing_input.as_bytes());
                sig.to_bytes().to_vec()
            }
            Signer::Ed25519 => self
                .ed25519
                .sign(signing_input.as_bytes())
                .to_bytes()
                .to_vec(),
        };
        format!("{signing_input}.{}", b64(&signature))
    }
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The shape every refusal must have, whatever the input: a stable snake_case code for clients and
/// logs, 401 for the client's fault and 503 only when keys could not be had, and a message in the
/// house style (lowercase, no trailing period).
pub fn assert_rejection_shape(e: &Rejection) {
    let code = e.code();
    assert!(is_snake_case(code), "code {code:?} is not snake_case");
    match (code, e.status()) {
        ("keys_unavailable", 503) => {}
        ("keys_unavailable", s) => panic!("keys_unavailable answered {s}, not 503"),
        (_, 401) => {}
        (c, s) => panic!("{c} answered {s}: only keys_unavailable may be other than 401"),
    }
    assert_message_style(&e.to_string());
}

/// Lowercase first letter, no trailing period (cedar's style guide, which ours follows).
pub fn assert_message_style(message: &str) {
    let first = message.chars().next();
    assert!(
        first.is_some_and(|c| !c.is_uppercase()),
        "message {message:?} is empty or capitalised"
    );
    assert!(
        !message.ends_with('.'),
        "message {message:?} ends with a period"
    );
}

fn is_snake_case(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && s.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && !s.ends_with('_')
        && !s.contains("__")
}
