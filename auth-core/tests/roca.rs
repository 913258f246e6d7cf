//! RSA keys with the ROCA fingerprint (CVE-2017-15361) are refused at import; other RSA keys are not.
//! Reads Wycheproof's JWK vectors vendored in `conformance/vectors/` (native only: the wasm32 run has
//! no files).

use auth_core::keys::{JwkError, VerificationKey};
use serde_json::Value;

fn vectors(name: &str) -> Value {
    let path = format!(
        "{}/../conformance/vectors/wycheproof/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Every RSA public JWK in the file, with whether its group is the ROCA one.
fn rsa_keys(name: &str) -> Vec<(bool, Value)> {
    let mut out = Vec::new();
    for group in vectors(name)["testGroups"].as_array().unwrap() {
        let roca = group["tests"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["comment"].as_str() == Some("rejectsKeyWithRocaVulnerability"));
        let public = &group["public"];
        let keys = public["keys"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![public.clone()]);
        for key in keys {
            if key["kty"] == "RSA" {
                out.push((roca, key));
            }
        }
    }
    out
}

#[test]
fn a_roca_key_is_refused_and_other_rsa_keys_are_not() {
    let mut refused = 0;
    let mut accepted = 0;
    for file in ["json_web_key_test.json", "json_web_crypto_test.json"] {
        for (roca, jwk) in rsa_keys(file) {
            let result = VerificationKey::from_jwk(&jwk);
            if roca {
                assert_eq!(result.unwrap_err(), JwkError::CompromisedKey, "{file}");
                refused += 1;
            } else if let Err(e) = result {
                assert_ne!(e, JwkError::CompromisedKey, "{file}: {jwk}");
            } else {
                accepted += 1;
            }
        }
    }
    assert!(refused >= 2, "the ROCA vectors were found ({refused})");
    assert!(accepted >= 2, "ordinary RSA keys were checked ({accepted})");
}
