//! Reads the vendored outside vectors (`conformance/vectors/`, see its README) into [`Case`]s.
//!
//! How each suite is driven:
//! - Wycheproof JWS, JSON Web Crypto and JWK files: each test's compact text is a token, checked
//!   against the group's key (`public`, else `private`: a JWK, or a JWKS through the key-set policy
//!   and `kid` selection). Their payloads are bytes such as `foo`, so tokens run with
//!   `opaque_payload` (the parser's payload stand-in, see `edge-worker/src/conformance.rs`). Each JWK
//!   file group's key set also runs on its own, to compare what each path keeps.
//! - Wycheproof raw signature files (ECDSA P-256 P1363, Ed25519, RSA PKCS#1 v1.5 and PSS, all
//!   SHA-256): the message is the signing input, with the group's JWK and the JOSE algorithm the file
//!   tests. Groups without a JWK get one built from the uncompressed point.
//! - JOSE cookbook (RFC 7520 §4, RFC 8037, RFC 7797): each example's compact form and both JSON
//!   serializations are tokens, checked against the public half of the example's key.

use super::{Case, Expected, Input, KeySource};
use anyhow::{bail, Context as _, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::path::Path;

pub const JWS: &str = "wycheproof/json_web_signature";
pub const JWC: &str = "wycheproof/json_web_crypto";
pub const JWK: &str = "wycheproof/json_web_key";
pub const ECDSA: &str = "wycheproof/ecdsa_secp256r1_sha256_p1363";
pub const ED25519: &str = "wycheproof/ed25519";
pub const RSA_PKCS1: &str = "wycheproof/rsa_signature_2048_sha256";
pub const RSA_PSS: &str = "wycheproof/rsa_pss_2048_sha256_mgf1_32";
pub const RFC7520: &str = "jose-cookbook/rfc7520 (jws)";
pub const RFC8037: &str = "jose-cookbook/rfc8037 (curve25519)";
pub const RFC7797: &str = "jose-cookbook/rfc7797";

/// Every suite, in report order.
pub const SUITES: [&str; 10] = [
    JWS, JWC, JWK, ECDSA, ED25519, RSA_PKCS1, RSA_PSS, RFC7520, RFC8037, RFC7797,
];

/// JWK members that only a private or symmetric key has. The cookbook publishes whole key pairs; a
/// verifier holds the public half.
const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "oth"];

pub fn load(dir: &Path) -> Result<Vec<Case>> {
    if !dir.join("README.md").exists() {
        bail!("no vectors at {}", dir.display());
    }
    let wycheproof = dir.join("wycheproof");
    let mut cases = Vec::new();
    cases.extend(jose_file(
        JWS,
        &read(&wycheproof.join("json_web_signature_test.json"))?,
        false,
    )?);
    cases.extend(jose_file(
        JWC,
        &read(&wycheproof.join("json_web_crypto_test.json"))?,
        false,
    )?);
    cases.extend(jose_file(
        JWK,
        &read(&wycheproof.join("json_web_key_test.json"))?,
        true,
    )?);
    let raw = [
        (ECDSA, "ecdsa_secp256r1_sha256_p1363_test.json", "ES256"),
        (ED25519, "ed25519_test.json", "EdDSA"),
        (RSA_PKCS1, "rsa_signature_2048_sha256_test.json", "RS256"),
        (RSA_PSS, "rsa_pss_2048_sha256_mgf1_32_test.json", "PS256"),
    ];
    for (suite, file, alg) in raw {
        cases.extend(raw_file(suite, &read(&wycheproof.join(file))?, alg)?);
    }
    let cookbook = dir.join("jose-cookbook");
    for file in [
        "jws/4_1.rsa_v15_signature.json",
        "jws/4_2.rsa-pss_signature.json",
        "jws/4_3.ecdsa_signature.json",
        "jws/4_4.hmac-sha2_integrity_protection.json",
    ] {
        cases.extend(cookbook_file(RFC7520, file, &read(&cookbook.join(file))?)?);
    }
    let file = "curve25519/jws.json";
    cases.extend(cookbook_file(RFC8037, file, &read(&cookbook.join(file))?)?);
    for file in [
        "rfc7797/hmac-sha2_b64_false.json",
        "rfc7797/4.2.hmac-sha2_b64_false.json",
    ] {
        cases.extend(cookbook_file(RFC7797, file, &read(&cookbook.join(file))?)?);
    }
    Ok(cases)
}

/// Where the vectors come from, as their README's table says: `owner/repo @ commit` per source.
pub fn sources(dir: &Path) -> String {
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap_or_default();
    let found: Vec<String> = readme
        .lines()
        .filter_map(|line| {
            let cell = line.split('|').nth(2)?.trim();
            let (repo, commit) = cell.split_once(" @ ")?;
            // A commit is hex: the header row ("source repository @ commit") is not a source.
            let commit = commit.trim();
            if commit.is_empty() || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            let commit: String = commit.chars().take(7).collect();
            Some(format!("{} @ {commit}", repo.trim()))
        })
        .collect();
    if found.is_empty() {
        "sources as listed in its README".into()
    } else {
        found.join(", ")
    }
}

fn read(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn groups(file: &Value) -> Result<&Vec<Value>> {
    file["testGroups"].as_array().context("no testGroups")
}

fn tests(group: &Value) -> Result<&Vec<Value>> {
    group["tests"].as_array().context("a group has no tests")
}

/// A group's label: its position (groups repeat comments) and what it is about.
fn label(index: usize, group: &Value) -> String {
    let about = group["comment"]
        .as_str()
        .or_else(|| group["source"]["name"].as_str())
        .unwrap_or("");
    format!("#{index:03} {about}")
}

fn str_of<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name].as_str().unwrap_or("")
}

fn flags(test: &Value) -> Vec<String> {
    test["flags"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn expected(test: &Value) -> Result<Expected> {
    Expected::parse(str_of(test, "result"))
}

/// The `alg` a compact token's header names, read leniently (for the report only).
pub fn header_alg(token: &str) -> Option<String> {
    let header = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(header.trim_end_matches('=')).ok()?;
    let header: Value = serde_json::from_slice(&bytes).ok()?;
    header["alg"].as_str().map(str::to_owned)
}

/// The JWS, JSON Web Crypto and JWK files: tokens against the group's key or key set.
fn jose_file(suite: &'static str, file: &Value, key_sets: bool) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for (index, group) in groups(file)?.iter().enumerate() {
        let key_json = if group["public"].is_object() {
            &group["public"]
        } else {
            &group["private"]
        };
        let key = if key_json["keys"].is_array() {
            KeySource::Jwks(key_json.to_string())
        } else {
            KeySource::Jwk(key_json.clone())
        };
        let key_alg = key_json["alg"]
            .as_str()
            .or_else(|| key_json["keys"][0]["alg"].as_str())
            .unwrap_or("");
        let group_label = label(index, group);
        if key_sets {
            if let KeySource::Jwks(document) = &key {
                cases.push(Case {
                    suite,
                    group: group_label.clone(),
                    id: "key set".into(),
                    comment: "the group's JWKS through the key-set policy".into(),
                    flags: Vec::new(),
                    alg: key_alg.into(),
                    expected: None,
                    input: Input::KeySet {
                        document: document.clone(),
                    },
                });
            }
        }
        for test in tests(group)? {
            // A JSON serialization is given as an object in some files: its text is the token.
            let token = match (&test["jws"], &test["jwe"]) {
                (Value::String(t), _) | (_, Value::String(t)) => t.clone(),
                (Value::Object(_), _) => test["jws"].to_string(),
                (_, Value::Object(_)) => test["jwe"].to_string(),
                _ => bail!("{suite}: test {} has no jws/jwe", test["tcId"]),
            };
            cases.push(Case {
                suite,
                group: group_label.clone(),
                id: test["tcId"].to_string(),
                comment: str_of(test, "comment").into(),
                flags: flags(test),
                alg: header_alg(&token).unwrap_or_else(|| key_alg.into()),
                expected: Some(expected(test)?),
                input: Input::Token {
                    key: key.clone(),
                    token,
                    opaque_payload: true,
                },
            });
        }
    }
    Ok(cases)
}

/// The raw signature files: message and signature in hex, one key per group.
fn raw_file(suite: &'static str, file: &Value, alg: &str) -> Result<Vec<Case>> {
    let mut cases = Vec::new();
    for (index, group) in groups(file)?.iter().enumerate() {
        let jwk = match (&group["publicKeyJwk"], &group["keyJwk"]) {
            (Value::Object(jwk), _) | (_, Value::Object(jwk)) => Value::Object(jwk.clone()),
            _ => ec_jwk_from_point(&group["publicKey"])
                .with_context(|| format!("{suite}: group {index} has no usable key"))?,
        };
        for test in tests(group)? {
            let message = hex::decode(str_of(test, "msg")).context("msg is not hex")?;
            let signature = hex::decode(str_of(test, "sig")).context("sig is not hex")?;
            let input = match String::from_utf8(message) {
                Ok(signing_input) => Input::Signature {
                    jwk: jwk.clone(),
                    alg: alg.into(),
                    signing_input,
                    signature: URL_SAFE_NO_PAD.encode(signature),
                },
                Err(_) => Input::NotRun {
                    why: "the message is not UTF-8 text, and a JWS signing input always is",
                },
            };
            cases.push(Case {
                suite,
                group: label(index, group),
                id: test["tcId"].to_string(),
                comment: str_of(test, "comment").into(),
                flags: flags(test),
                alg: alg.into(),
                expected: Some(expected(test)?),
                input,
            });
        }
    }
    Ok(cases)
}

/// A P-256 JWK from Wycheproof's `wx`/`wy` (hex, possibly with a sign byte).
fn ec_jwk_from_point(key: &Value) -> Result<Value> {
    let coordinate = |name: &str| -> Result<String> {
        let bytes = hex::decode(str_of(key, name)).context("coordinate is not hex")?;
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        let digits = bytes.get(start..).unwrap_or_default();
        if digits.len() > 32 {
            bail!("coordinate {name} is longer than 32 bytes");
        }
        let mut fixed = vec![0u8; 32 - digits.len()];
        fixed.extend_from_slice(digits);
        Ok(URL_SAFE_NO_PAD.encode(fixed))
    };
    Ok(json!({
        "kty": "EC",
        "crv": "P-256",
        "x": coordinate("wx")?,
        "y": coordinate("wy")?,
    }))
}

/// One cookbook example: its compact form (when it has one) and both JSON serializations.
fn cookbook_file(suite: &'static str, name: &str, file: &Value) -> Result<Vec<Case>> {
    let key = file["input"]["key"]
        .as_object()
        .with_context(|| format!("{name}: no input.key"))?;
    let public: Map<String, Value> = key
        .iter()
        .filter(|(member, _)| !PRIVATE_MEMBERS.contains(&member.as_str()))
        .map(|(m, v)| (m.clone(), v.clone()))
        .collect();
    let alg = str_of(&file["input"], "alg");
    let group = format!("{name}: {}", str_of(file, "title"));
    let output = &file["output"];
    let forms = [
        ("compact", output["compact"].as_str().map(str::to_owned)),
        (
            "json",
            output["json"]
                .is_object()
                .then(|| output["json"].to_string()),
        ),
        (
            "json_flat",
            output["json_flat"]
                .is_object()
                .then(|| output["json_flat"].to_string()),
        ),
    ];
    Ok(forms
        .into_iter()
        .filter_map(|(form, token)| {
            Some(Case {
                suite,
                group: group.clone(),
                id: form.into(),
                comment: format!("{} serialization", form.replace('_', " ")),
                flags: Vec::new(),
                alg: alg.into(),
                expected: Some(Expected::Valid),
                input: Input::Token {
                    key: KeySource::Jwk(Value::Object(public.clone())),
                    token: token?,
                    // RFC 7797's payloads are not JSON; the others are text, not JWT claims.
                    opaque_payload: true,
                },
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uncompressed_point_becomes_fixed_width_coordinates() {
        let x = format!("00{}", "ab".repeat(32));
        let jwk = ec_jwk_from_point(&json!({"wx": x, "wy": "01"})).expect("valid coordinates");
        let decode = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
        assert_eq!(decode("x"), [0xab; 32]);
        let mut y = [0u8; 32];
        y[31] = 1;
        assert_eq!(decode("y"), y);
    }

    #[test]
    fn every_suite_loads_from_the_vendored_vectors_with_its_source() {
        let dir = xtask::repo_root().join(crate::VECTORS);
        let cases = load(&dir).expect("the vendored vectors load");
        for suite in SUITES {
            assert!(
                cases.iter().any(|c| c.suite == suite),
                "{suite} has no case"
            );
        }
        assert_eq!(
            sources(&dir),
            "C2SP/wycheproof @ dac1dd4, ietf-jose/cookbook @ 13692b6"
        );
    }

    #[test]
    fn the_header_alg_is_read_for_the_report() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES512"}"#);
        assert_eq!(
            header_alg(&format!("{header}.e30.c2ln")).as_deref(),
            Some("ES512")
        );
        assert_eq!(header_alg("{\"payload\":1}"), None);
    }
}
