//! Verification keys: strict JWK import and key sets.
//!
//! A JWK is accepted only when every member that constrains its use allows verifying a signature with
//! the algorithm it will be used for. Invalid points, small-order Ed25519 keys, private members,
//! duplicate `kid`s and oversized sets are refused: a key set with more than one reading is refused whole.

use crate::encoding::{b64url_decode, b64url_encode, parse_strict_json};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Longest `kid` we accept, in bytes. A `kid` is an opaque map key; capping it bounds what a caller
/// controls in cache keys and logs.
pub const MAX_KID_BYTES: usize = 256;
/// Largest JWKS document we parse.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Most keys we keep from one JWKS: issuers publish current, next and a few retired keys.
pub const MAX_KEYS: usize = 32;

/// Smallest and largest RSA modulus we accept, in bits. RFC 7518 §3.3 requires at least 2048; the
/// upper bound caps the cost an issuer's key can impose per verification.
pub const MIN_RSA_BITS: usize = 2048;
pub const MAX_RSA_BITS: usize = 4096;

/// A signature algorithm we verify. The algorithm in force is always the configured key's; the token's
/// `alg` only has to agree with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Es256,
    EdDsa,
    Rs256,
    Ps256,
}

impl Algorithm {
    /// The algorithm a token's `alg` header names, if it is one we verify. `Ed25519` is the fully
    /// specified name for `EdDSA` over Ed25519 (RFC 9864). Matching is exact: `none`, `None`, HMAC and
    /// everything else is refused.
    pub fn from_header(alg: &str) -> Option<Algorithm> {
        match alg {
            "ES256" => Some(Algorithm::Es256),
            "EdDSA" | "Ed25519" => Some(Algorithm::EdDsa),
            "RS256" => Some(Algorithm::Rs256),
            "PS256" => Some(Algorithm::Ps256),
            _ => None,
        }
    }

    /// The JOSE name of the algorithm.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Rs256 => "RS256",
            Algorithm::Ps256 => "PS256",
        }
    }
}

/// The public part of a key, ready for verification. Elliptic-curve points are validated at import;
/// RSA parameters are kept as bytes (big-endian, no leading zeros) so that code which never verifies
/// natively, like the edge, does not link big-integer arithmetic.
#[derive(Debug, Clone)]
pub enum KeyMaterial {
    P256 {
        x: [u8; 32],
        y: [u8; 32],
        key: p256::ecdsa::VerifyingKey,
    },
    Ed25519 {
        x: [u8; 32],
        key: ed25519_dalek::VerifyingKey,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

/// A key that has passed import: its algorithm is fixed here, never by a token.
#[derive(Debug, Clone)]
pub struct VerificationKey {
    kid: Option<String>,
    alg: Algorithm,
    material: KeyMaterial,
    /// The tenant whose key set published this key (the JWKS document's `tenant_id`), if it named
    /// one: an issuer of the origin is bound to it (`claims::TenantBinding::Origin`).
    tenant: Option<Arc<str>>,
}

impl VerificationKey {
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// The tenant the key's set was published for.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }
    pub fn material(&self) -> &KeyMaterial {
        &self.material
    }

    /// The public JWK of this key, as an issuer would publish it.
    pub fn to_public_jwk(&self) -> Value {
        let mut jwk = Map::new();
        match &self.material {
            KeyMaterial::P256 { x, y, .. } => {
                jwk.insert("kty".into(), "EC".into());
                jwk.insert("crv".into(), "P-256".into());
                jwk.insert("x".into(), b64url_encode(x).into());
                jwk.insert("y".into(), b64url_encode(y).into());
            }
            KeyMaterial::Ed25519 { x, .. } => {
                jwk.insert("kty".into(), "OKP".into());
                jwk.insert("crv".into(), "Ed25519".into());
                jwk.insert("x".into(), b64url_encode(x).into());
            }
            KeyMaterial::Rsa { n, e } => {
                jwk.insert("kty".into(), "RSA".into());
                jwk.insert("n".into(), b64url_encode(n).into());
                jwk.insert("e".into(), b64url_encode(e).into());
            }
        }
        jwk.insert("alg".into(), self.alg.name().into());
        jwk.insert("use".into(), "sig".into());
        if let Some(kid) = &self.kid {
            jwk.insert("kid".into(), kid.clone().into());
        }
        Value::Object(jwk)
    }

    /// Builds a key from a P-256 verifying key (used by issuers publishing their own keys).
    pub fn from_p256(
        kid: Option<String>,
        key: p256::ecdsa::VerifyingKey,
    ) -> Result<Self, JwkError> {
        let point = key.to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(JwkError::InvalidKey);
        };
        Ok(VerificationKey {
            kid: check_kid(kid)?,
            alg: Algorithm::Es256,
            tenant: None,
            material: KeyMaterial::P256 {
                x: to_32(x)?,
                y: to_32(y)?,
                key,
            },
        })
    }

    /// Imports one JWK for signature verification.
    pub fn from_jwk(jwk: &Value) -> Result<Self, JwkError> {
        let obj = jwk.as_object().ok_or(JwkError::NotAnObject)?;
        if obj.contains_key("d") || obj.contains_key("p") || obj.contains_key("k") {
            return Err(JwkError::PrivateOrSymmetric);
        }
        let kid = match obj.get("kid") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(JwkError::BadMember("kid")),
        };
        let kid = check_kid(kid)?;
        match opt_str(obj, "use")? {
            None | Some("sig") => {}
            Some(_) => return Err(JwkError::NotForVerification),
        }
        if let Some(ops) = obj.get("key_ops") {
            let ops = ops.as_array().ok_or(JwkError::BadMember("key_ops"))?;
            if !ops.iter().any(|op| op.as_str() == Some("verify")) {
                return Err(JwkError::NotForVerification);
            }
        }
        let declared_alg = opt_str(obj, "alg")?;
        let kty = opt_str(obj, "kty")?.ok_or(JwkError::BadMember("kty"))?;
        let crv = opt_str(obj, "crv")?;
        let (alg, material) = match (kty, crv) {
            ("EC", Some("P-256")) => {
                check_alg(declared_alg, &["ES256"])?;
                let x = coordinate(obj, "x")?;
                let y = coordinate(obj, "y")?;
                let point =
                    p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
                let key = p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                    .map_err(|_| JwkError::InvalidKey)?;
                (Algorithm::Es256, KeyMaterial::P256 { x, y, key })
            }
            ("RSA", None) => {
                // An RSA key may serve PKCS#1 v1.5 or PSS; its JWK decides, and a key that does not say
                // is an RS256 key (what every RSA issuer we know publishes), never what a token says.
                let alg = match declared_alg {
                    None | Some("RS256") => Algorithm::Rs256,
                    Some("PS256") => Algorithm::Ps256,
                    Some(_) => return Err(JwkError::AlgorithmMismatch),
                };
                let n = unsigned(obj, "n")?;
                let e = unsigned(obj, "e")?;
                let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
                if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
                    return Err(JwkError::InvalidKey);
                }
                // e must be odd and > 1; anything wider than 32 bits is not a real public exponent.
                if e.len() > 4 || e.last().is_none_or(|b| b & 1 == 0) || e == [1] {
                    return Err(JwkError::InvalidKey);
                }
                if has_roca_fingerprint(&n) {
                    return Err(JwkError::CompromisedKey);
                }
                (alg, KeyMaterial::Rsa { n, e })
            }
            ("OKP", Some("Ed25519")) => {
                check_alg(declared_alg, &["EdDSA", "Ed25519"])?;
                let x = coordinate(obj, "x")?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| JwkError::InvalidKey)?;
                if key.is_weak() {
                    return Err(JwkError::InvalidKey);
                }
                (Algorithm::EdDsa, KeyMaterial::Ed25519 { x, key })
            }
            _ => return Err(JwkError::UnsupportedKeyType),
        };
        Ok(VerificationKey {
            kid,
            alg,
            material,
            tenant: None,
        })
    }
}

/// Whether an RSA modulus has the structure of keys made by the Infineon library of ROCA
/// (CVE-2017-15361), whose private keys can be recovered from the public key: for every prime `p`
/// below, such an `n mod p` lies in the subgroup that 65537 generates modulo `p` (Nemec et al., CCS
/// 2017). An ordinary modulus passes all 38 tests by chance with probability about 2^-30 (the product
/// of the subgroups' shares), so one honest issuer key in a billion would be refused.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = n.iter().fold(0, |r, &b| (r * 256 + u32::from(b)) % p);
        let generator = 65_537 % p;
        let mut power = 1;
        loop {
            if power == residue {
                return true;
            }
            power = power * generator % p;
            if power == 1 {
                return false;
            }
        }
    })
}

fn check_kid(kid: Option<String>) -> Result<Option<String>, JwkError> {
    match kid {
        Some(k) if k.is_empty() || k.len() > MAX_KID_BYTES => Err(JwkError::BadMember("kid")),
        other => Ok(other),
    }
}

fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, JwkError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwkError::BadMember(name)),
    }
}

fn check_alg(declared: Option<&str>, allowed: &[&str]) -> Result<(), JwkError> {
    match declared {
        Some(a) if !allowed.contains(&a) => Err(JwkError::AlgorithmMismatch),
        _ => Ok(()),
    }
}

fn coordinate(obj: &Map<String, Value>, name: &'static str) -> Result<[u8; 32], JwkError> {
    let text = opt_str(obj, name)?.ok_or(JwkError::BadMember(name))?;
    let bytes = b64url_decode(text).ok_or(JwkError::BadMember(name))?;
    to_32(&bytes).map_err(|_| JwkError::BadMember(name))
}

/// A base64urlUInt (RFC 7518 §2): big-endian, non-empty, no leading zero octet.
fn unsigned(obj: &Map<String, Value>, name: &'static str) -> Result<Vec<u8>, JwkError> {
    let text = opt_str(obj, name)?.ok_or(JwkError::BadMember(name))?;
    let bytes = b64url_decode(text).ok_or(JwkError::BadMember(name))?;
    match bytes.first() {
        None | Some(0) => Err(JwkError::BadMember(name)),
        Some(_) => Ok(bytes),
    }
}

fn to_32(bytes: &[u8]) -> Result<[u8; 32], JwkError> {
    bytes.try_into().map_err(|_| JwkError::InvalidKey)
}

/// Why a single JWK was not imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwkError {
    #[error("jwk is not a json object")]
    NotAnObject,
    #[error("jwk member `{0}` is missing or malformed")]
    BadMember(&'static str),
    #[error("jwk carries private or symmetric key material")]
    PrivateOrSymmetric,
    #[error("jwk is not usable for signature verification")]
    NotForVerification,
    #[error("jwk `alg` does not match its key type")]
    AlgorithmMismatch,
    #[error("unsupported key type or curve")]
    UnsupportedKeyType,
    #[error("invalid public key")]
    InvalidKey,
    #[error("the key's private half can be recovered from it (ROCA, CVE-2017-15361)")]
    CompromisedKey,
}

/// Why a whole key set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("key set document is too large")]
    TooLarge,
    #[error("key set is not a valid jwks document")]
    Malformed,
    #[error("key set has more than one key with kid {0:?}")]
    DuplicateKid(String),
    #[error("key set holds no key usable for verification")]
    NoUsableKeys,
    #[error("key set holds too many keys")]
    TooManyKeys,
}

/// The member of a JWKS document naming the tenant it was published for (RFC 7517 §5 lets a set
/// carry members of its own; implementations that do not know it ignore it).
pub const TENANT_MEMBER: &str = "tenant_id";
/// Longest tenant id a key set may name.
const MAX_TENANT_ID_BYTES: usize = 128;

/// A tenant id travels in `x-auth-tenant` and in storage keys: 1 to 128 printable ASCII characters.
fn tenant_id_is_valid(tenant: &str) -> bool {
    (1..=MAX_TENANT_ID_BYTES).contains(&tenant.len())
        && tenant.bytes().all(|b| b.is_ascii_graphic())
}

/// The verification keys of one issuer. Keys that are unusable for verification (encryption keys,
/// unsupported types) are left out; their count is kept for diagnostics.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<VerificationKey>,
    skipped: usize,
}

impl KeySet {
    pub fn new(keys: Vec<VerificationKey>) -> Result<Self, KeySetError> {
        let set = KeySet { keys, skipped: 0 };
        set.check()?;
        Ok(set)
    }

    /// Parses a JWKS document (`{"keys": [...]}`).
    pub fn from_jwks_json(bytes: &[u8]) -> Result<Self, KeySetError> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(KeySetError::TooLarge);
        }
        let doc = parse_strict_json(bytes).map_err(|_| KeySetError::Malformed)?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeySetError::Malformed)?;
        if entries.len() > MAX_KEYS {
            return Err(KeySetError::TooManyKeys);
        }
        // A kid seen anywhere in the document counts for uniqueness, usable or not: a second key under
        // the same kid makes the selection ambiguous even if we would have skipped one of them.
        let mut seen: Vec<&str> = Vec::new();
        for kid in entries
            .iter()
            .filter_map(|e| e.get("kid").and_then(Value::as_str))
        {
            if seen.contains(&kid) {
                return Err(KeySetError::DuplicateKid(kid.to_owned()));
            }
            seen.push(kid);
        }
        let mut keys = Vec::new();
        let mut skipped = 0;
        for entry in entries {
            match VerificationKey::from_jwk(entry) {
                Ok(k) => keys.push(k),
                Err(_) => skipped += 1,
            }
        }
        let tenant = match doc.get(TENANT_MEMBER) {
            None => None,
            Some(Value::String(t)) if tenant_id_is_valid(t) => Some(t.as_str()),
            Some(_) => return Err(KeySetError::Malformed),
        };
        let set = KeySet { keys, skipped };
        set.check()?;
        Ok(match tenant {
            Some(t) => set.published_for(t),
            None => set,
        })
    }

    /// The same keys, published for `tenant` (the origin's key set of one tenant).
    pub fn published_for(mut self, tenant: &str) -> Self {
        let tenant: Arc<str> = Arc::from(tenant);
        for key in &mut self.keys {
            key.tenant = Some(tenant.clone());
        }
        self
    }

    /// The tenant the set was published for, if any.
    pub fn tenant(&self) -> Option<&str> {
        self.keys.first().and_then(VerificationKey::tenant)
    }

    fn check(&self) -> Result<(), KeySetError> {
        if self.keys.is_empty() {
            return Err(KeySetError::NoUsableKeys);
        }
        for (i, k) in self.keys.iter().enumerate() {
            if let Some(kid) = k.kid() {
                if self.keys.iter().skip(i + 1).any(|o| o.kid() == Some(kid)) {
                    return Err(KeySetError::DuplicateKid(kid.to_owned()));
                }
            }
        }
        Ok(())
    }

    /// The key with this `kid`, if any.
    pub fn find(&self, kid: &str) -> Option<&VerificationKey> {
        self.keys.iter().find(|k| k.kid() == Some(kid))
    }

    pub fn keys(&self) -> &[VerificationKey] {
        &self.keys
    }

    /// How many entries of the source document were not usable for verification.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The JWKS document publishing these keys.
    pub fn to_jwks_json(&self) -> Value {
        let mut doc = Map::new();
        let keys = self.keys.iter().map(VerificationKey::to_public_jwk);
        doc.insert("keys".into(), Value::Array(keys.collect()));
        if let Some(tenant) = self.tenant() {
            doc.insert(TENANT_MEMBER.into(), tenant.into());
        }
        Value::Object(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p256_jwk() -> Value {
        let sk = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        VerificationKey::from_p256(Some("k1".into()), *sk.verifying_key())
            .unwrap()
            .to_public_jwk()
    }

    #[test]
    fn a_published_p256_key_round_trips() {
        let jwk = p256_jwk();
        let key = VerificationKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.algorithm(), Algorithm::Es256);
        assert_eq!(key.kid(), Some("k1"));
        assert_eq!(key.to_public_jwk(), jwk);
    }

    #[test]
    fn encryption_keys_are_refused_for_verification() {
        let mut jwk = p256_jwk();
        jwk["use"] = json!("enc");
        assert_eq!(
            VerificationKey::from_jwk(&jwk).unwrap_err(),
            JwkError::NotForVerification
        );
        let mut jwk = p256_jwk();
        jwk["key_ops"] = json!(["encrypt"]);
        assert_eq!(
            VerificationKey::from_jwk(&jwk).unwrap_err(),
            JwkError::NotForVerification
        );
    }

    #[test]
    fn a_point_off_the_curve_is_refused() {
        let mut jwk = p256_jwk();
        let mut y = b64url_decode(jwk["y"].as_str().unwrap()).unwrap();
        y[31] ^= 1;
        jwk["y"] = json!(b64url_encode(&y));
        assert_eq!(
            VerificationKey::from_jwk(&jwk).unwrap_err(),
            JwkError::InvalidKey
        );
    }

    #[test]
    fn private_keys_and_mismatched_algorithms_are_refused() {
        let mut jwk = p256_jwk();
        jwk["d"] = json!("AAAA");
        assert_eq!(
            VerificationKey::from_jwk(&jwk).unwrap_err(),
            JwkError::PrivateOrSymmetric
        );
        let mut jwk = p256_jwk();
        jwk["alg"] = json!("HS256");
        assert_eq!(
            VerificationKey::from_jwk(&jwk).unwrap_err(),
            JwkError::AlgorithmMismatch
        );
    }

    #[test]
    fn small_order_ed25519_keys_are_refused() {
        // The identity point encoding: small order, verifies forged signatures under lax rules.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(&identity)});
        assert_eq!(
            VerificationKey::from_jwk(&jwk).unwrap_err(),
            JwkError::InvalidKey
        );
    }

    #[test]
    fn duplicate_kids_refuse_the_whole_set() {
        let a = p256_jwk();
        let b = p256_jwk();
        let doc = serde_json::to_vec(&json!({"keys": [a, b]})).unwrap();
        assert_eq!(
            KeySet::from_jwks_json(&doc).unwrap_err(),
            KeySetError::DuplicateKid("k1".into())
        );
    }

    #[test]
    fn unusable_keys_are_skipped_and_an_empty_set_is_refused() {
        let mut enc = p256_jwk();
        enc["kid"] = json!("enc");
        enc["use"] = json!("enc");
        let doc = serde_json::to_vec(&json!({"keys": [p256_jwk(), enc.clone()]})).unwrap();
        let set = KeySet::from_jwks_json(&doc).unwrap();
        assert_eq!((set.keys().len(), set.skipped()), (1, 1));
        let doc = serde_json::to_vec(&json!({"keys": [enc]})).unwrap();
        assert_eq!(
            KeySet::from_jwks_json(&doc).unwrap_err(),
            KeySetError::NoUsableKeys
        );
    }
}
