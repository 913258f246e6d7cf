//! Fuzzes JWKS import: `KeySet::from_jwks_json` and, through it and directly on each entry,
//! `VerificationKey::from_jwk`. The input is the document's bytes, as an issuer's endpoint serves them.
//!
//! Invariants:
//! - import is deterministic, and a refusal has a message in the house style;
//! - an imported set holds at least one key, every entry is either kept or counted as skipped, and
//!   the keys kept are exactly the entries `from_jwk` accepts on their own;
//! - no two entries of an accepted document share a `kid` (usable or not), and `find` returns the
//!   key a `kid` names;
//! - an entry with private or symmetric material (`d`, `p`, `k`) is never imported;
//! - publishing is stable: a key's public JWK imports back to the same key, and the set's published
//!   JWKS imports back to the same set with nothing skipped.
#![no_main]

use auth_core::{KeySet, VerificationKey};
use fuzz::assert_message_style;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let imported = KeySet::from_jwks_json(data);
    match (&imported, &KeySet::from_jwks_json(data)) {
        (Ok(a), Ok(b)) => assert_eq!(published(a), published(b), "import is not deterministic"),
        (Err(a), Err(b)) => assert_eq!(a, b, "import is not deterministic"),
        _ => panic!("importing the same document succeeded once and failed once"),
    }
    let set = match imported {
        Ok(set) => set,
        Err(e) => return assert_message_style(&e.to_string()),
    };
    // The document was accepted, so it is JSON with a `keys` array (and no duplicate member, so
    // serde_json's reading is the only one).
    let doc: Value = serde_json::from_slice(data).expect("an accepted JWKS is JSON");
    let entries = doc["keys"]
        .as_array()
        .expect("an accepted JWKS has a keys array");

    assert!(!set.keys().is_empty(), "an empty key set was accepted");
    assert_eq!(set.keys().len() + set.skipped(), entries.len());
    let importable = entries
        .iter()
        .filter(|e| VerificationKey::from_jwk(e).is_ok())
        .count();
    assert_eq!(
        set.keys().len(),
        importable,
        "set and single import disagree"
    );

    let kids: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.get("kid").and_then(Value::as_str))
        .collect();
    for (i, kid) in kids.iter().enumerate() {
        assert!(!kids[i + 1..].contains(kid), "kid {kid:?} appears twice");
    }
    for entry in entries {
        if ["d", "p", "k"].iter().any(|m| entry.get(m).is_some()) {
            assert!(
                VerificationKey::from_jwk(entry).is_err(),
                "a private or symmetric key was imported"
            );
        }
    }

    for key in set.keys() {
        if let Some(kid) = key.kid() {
            let found = set.find(kid).expect("find misses a key the set holds");
            assert_eq!(found.kid(), Some(kid));
        }
        let jwk = key.to_public_jwk();
        let again = VerificationKey::from_jwk(&jwk).expect("a published key does not import");
        assert_eq!(again.kid(), key.kid());
        assert_eq!(again.algorithm(), key.algorithm());
        assert_eq!(again.to_public_jwk(), jwk, "publishing is not stable");
    }
    let republished = set.to_jwks_json();
    let again = KeySet::from_jwks_json(republished.to_string().as_bytes())
        .expect("a published key set does not import");
    assert_eq!(again.skipped(), 0);
    assert_eq!(published(&again), published(&set));
});

/// A key set in comparable form: what it publishes.
fn published(set: &KeySet) -> Value {
    set.to_jwks_json()
}
