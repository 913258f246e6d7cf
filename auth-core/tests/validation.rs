//! Token and claims validation cases. Runs natively and on wasm32 (`cargo xtask test` runs both), so
//! the verifier the edge ships behaves the same as the one the origin and the CLI use.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use auth_core::claims::TenantBinding;
use auth_core::encoding::b64url_encode;
use auth_core::token::DEFAULT_MAX_TOKEN_BYTES;
use auth_core::verify::verify_native;
use auth_core::{Expectations, IssuerPolicy, KeySet, Rejection, VerificationKey, VerifiedClaims};
use p256::ecdsa::signature::Signer as _;
use serde_json::{json, Value};

const ISSUER: &str = "https://id.example.test/t/acme";
const NOW: i64 = 1_800_000_000;

fn p256_key(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()
}

fn ed25519_key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

fn keys() -> KeySet {
    let es = VerificationKey::from_p256(Some("es-1".into()), *p256_key(1).verifying_key()).unwrap();
    let ed_jwk = json!({
        "kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "use": "sig",
        "x": b64url_encode(ed25519_key(2).verifying_key().as_bytes()),
    });
    KeySet::new(vec![es, VerificationKey::from_jwk(&ed_jwk).unwrap()])
        .unwrap()
        .published_for("tenant-1")
}

fn expectations() -> Expectations {
    Expectations {
        issuers: vec![IssuerPolicy {
            issuer: ISSUER.into(),
            jwks_uri: format!("{ISSUER}/.well-known/jwks.json"),
            audiences: vec!["api".into()],
            algorithms: vec![auth_core::Algorithm::Es256, auth_core::Algorithm::EdDsa],
            token_type: Some("at+jwt".into()),
            leeway_secs: 30,
            jwks_cache: Default::default(),
            tenant: TenantBinding::Origin,
        }],
    }
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "user-1", "aud": "api", "exp": NOW + 300, "iat": NOW, "jti": "j1",
        "sid": "session-1", "tid": "tenant-1",
    })
}

fn es256_header() -> Value {
    json!({"alg": "ES256", "typ": "at+jwt", "kid": "es-1"})
}

fn encode(part: &Value) -> String {
    b64url_encode(part.to_string().as_bytes())
}

fn sign_es256(header: &Value, claims: &Value, key: &p256::ecdsa::SigningKey) -> String {
    let input = format!("{}.{}", encode(header), encode(claims));
    let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64url_encode(&sig.to_bytes()))
}

fn sign_ed25519(header: &Value, claims: &Value, key: &ed25519_dalek::SigningKey) -> String {
    use ed25519_dalek::Signer as _;
    let input = format!("{}.{}", encode(header), encode(claims));
    format!(
        "{input}.{}",
        b64url_encode(&key.sign(input.as_bytes()).to_bytes())
    )
}

fn verify(token: &str) -> Result<VerifiedClaims, Rejection> {
    verify_at(token, NOW)
}

fn verify_at(token: &str, now: i64) -> Result<VerifiedClaims, Rejection> {
    let keys = keys();
    verify_native(
        token,
        DEFAULT_MAX_TOKEN_BYTES,
        &expectations(),
        |_| Some(&keys),
        now,
    )
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

#[test]
fn a_valid_es256_token_yields_its_claims() {
    let claims = verify(&sign_es256(&es256_header(), &claims(), &p256_key(1))).unwrap();
    assert_eq!(claims.subject(), "user-1");
    assert_eq!(claims.issuer(), ISSUER);
    assert_eq!(claims.session(), Some("session-1"));
    assert_eq!(claims.tenant(), Some("tenant-1"));
    assert_eq!(claims.expires_at(), NOW + 300);
}

/// Issue 10 §1.5: an issuer of the origin belongs to the tenant its key set was published for.
#[test]
fn an_origin_token_whose_tid_is_not_its_issuers_tenant_is_refused() {
    for claims in [
        with(claims(), "tid", json!("tenant-2")),
        without(claims(), "tid"),
    ] {
        let token = sign_es256(&es256_header(), &claims, &p256_key(1));
        assert_eq!(verify(&token), Err(Rejection::TenantMismatch), "{claims}");
        assert_eq!(Rejection::TenantMismatch.code(), "tenant_mismatch");
    }
    // One tenant's keys never vouch for another's tokens, and a set naming no tenant for none.
    let token = sign_es256(&es256_header(), &claims(), &p256_key(1));
    for keys in [keys().published_for("tenant-2"), {
        let es = VerificationKey::from_p256(Some("es-1".into()), *p256_key(1).verifying_key());
        KeySet::new(vec![es.unwrap()]).unwrap()
    }] {
        let verified = verify_native(
            &token,
            DEFAULT_MAX_TOKEN_BYTES,
            &expectations(),
            |_| Some(&keys),
            NOW,
        );
        assert_eq!(verified, Err(Rejection::TenantMismatch));
    }
}

/// Issue 10 §1.5: a third-party issuer's `tid` names a tenant of the IdP, never one of ours.
#[test]
fn a_third_party_token_acts_for_the_tenant_its_issuer_is_assigned_or_none() {
    let token = sign_es256(&es256_header(), &claims(), &p256_key(1));
    for (binding, tenant) in [
        (TenantBinding::None, None),
        (TenantBinding::Assigned("partner".into()), Some("partner")),
    ] {
        let mut expectations = expectations();
        expectations.issuers[0].tenant = binding;
        let keys = keys();
        let verified = verify_native(
            &token,
            DEFAULT_MAX_TOKEN_BYTES,
            &expectations,
            |_| Some(&keys),
            NOW,
        )
        .unwrap();
        assert_eq!(verified.tenant(), tenant);
        assert_eq!(
            verified.claim("tid").and_then(Value::as_str),
            tenant,
            "route requirements see the bound tenant as tid"
        );
    }
}

#[test]
fn a_key_set_document_names_its_tenant_and_keeps_it_through_a_round_trip() {
    let doc = keys().to_jwks_json();
    assert_eq!(doc["tenant_id"], "tenant-1");
    let parsed = KeySet::from_jwks_json(doc.to_string().as_bytes()).unwrap();
    assert_eq!(parsed.tenant(), Some("tenant-1"));
    assert!(parsed.keys().iter().all(|k| k.tenant() == Some("tenant-1")));
    for bad in [json!(7), json!(""), json!("a b"), json!("x".repeat(129))] {
        let mut doc = doc.clone();
        doc["tenant_id"] = bad.clone();
        assert!(
            KeySet::from_jwks_json(doc.to_string().as_bytes()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn a_valid_eddsa_token_is_accepted_under_both_names() {
    for alg in ["EdDSA", "Ed25519"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": "ed-1"});
        assert!(
            verify(&sign_ed25519(&header, &claims(), &ed25519_key(2))).is_ok(),
            "{alg}"
        );
    }
}

#[test]
fn an_expired_token_is_refused_after_the_leeway() {
    let token = sign_es256(
        &es256_header(),
        &with(claims(), "exp", json!(NOW - 31)),
        &p256_key(1),
    );
    assert_eq!(verify(&token).unwrap_err(), Rejection::Expired);
    let token = sign_es256(
        &es256_header(),
        &with(claims(), "exp", json!(NOW - 30)),
        &p256_key(1),
    );
    assert!(verify(&token).is_ok(), "inside the leeway");
}

#[test]
fn a_token_not_yet_valid_is_refused() {
    let token = sign_es256(
        &es256_header(),
        &with(claims(), "nbf", json!(NOW + 31)),
        &p256_key(1),
    );
    assert_eq!(verify(&token).unwrap_err(), Rejection::NotYetValid);
    let token = sign_es256(
        &es256_header(),
        &with(claims(), "iat", json!(NOW + 3600)),
        &p256_key(1),
    );
    assert_eq!(verify(&token).unwrap_err().code(), "claims_invalid");
}

#[test]
fn a_wrong_issuer_is_refused() {
    let token = sign_es256(
        &es256_header(),
        &with(claims(), "iss", json!("https://evil.test")),
        &p256_key(1),
    );
    assert_eq!(verify(&token).unwrap_err(), Rejection::IssuerUntrusted);
}

#[test]
fn a_wrong_audience_is_refused() {
    for aud in [json!("other"), json!(["other", "more"]), json!([])] {
        let token = sign_es256(
            &es256_header(),
            &with(claims(), "aud", aud.clone()),
            &p256_key(1),
        );
        assert_eq!(
            verify(&token).unwrap_err(),
            Rejection::AudienceMismatch,
            "{aud}"
        );
    }
    let token = sign_es256(
        &es256_header(),
        &with(claims(), "aud", json!(["other", "api"])),
        &p256_key(1),
    );
    assert!(verify(&token).is_ok());
}

#[test]
fn a_token_signed_by_another_key_is_refused() {
    let token = sign_es256(&es256_header(), &claims(), &p256_key(9));
    assert_eq!(verify(&token).unwrap_err(), Rejection::SignatureInvalid);
    let header = with(es256_header(), "kid", json!("nobody"));
    assert_eq!(
        verify(&sign_es256(&header, &claims(), &p256_key(1))).unwrap_err(),
        Rejection::KeyUnknown
    );
}

#[test]
fn a_tampered_token_is_refused() {
    let token = sign_es256(&es256_header(), &claims(), &p256_key(1));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = encode(&with(claims(), "sub", json!("admin")));
    assert_eq!(
        verify(&parts.join(".")).unwrap_err(),
        Rejection::SignatureInvalid
    );
    let mut sig = parts[2].clone().into_bytes();
    sig[5] = if sig[5] == b'A' { b'B' } else { b'A' };
    let original = token.split('.').take(2).collect::<Vec<_>>().join(".");
    let tampered = format!("{original}.{}", String::from_utf8(sig).unwrap());
    assert_eq!(verify(&tampered).unwrap_err(), Rejection::SignatureInvalid);
}

#[test]
fn alg_none_is_refused_in_any_spelling() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": "es-1"});
        let unsigned = format!("{}.{}.", encode(&header), encode(&claims()));
        assert!(verify(&unsigned).is_err(), "{alg} unsigned");
        let signed = sign_es256(&header, &claims(), &p256_key(1));
        assert_eq!(
            verify(&signed).unwrap_err(),
            Rejection::AlgorithmNotAllowed,
            "{alg} signed"
        );
    }
}

#[test]
fn hmac_and_mismatched_algorithms_are_refused() {
    for alg in ["HS256", "RS256", "ES384", "EdDSA"] {
        let header = with(es256_header(), "alg", json!(alg));
        let token = sign_es256(&header, &claims(), &p256_key(1));
        assert_eq!(
            verify(&token).unwrap_err(),
            Rejection::AlgorithmNotAllowed,
            "{alg}"
        );
    }
}

#[test]
fn malformed_tokens_are_refused_with_a_reason() {
    let good = sign_es256(&es256_header(), &claims(), &p256_key(1));
    let cases: Vec<(String, &str)> = vec![
        ("abc".into(), "token_malformed"),
        ("a.b".into(), "token_malformed"),
        ("a.b.c.d".into(), "token_malformed"),
        ("a.b.c.d.e".into(), "token_unsupported"),
        (format!("{good} "), "token_malformed"),
        (format!("{good}="), "token_malformed"),
        ("{\"payload\":\"x\"}".into(), "token_unsupported"),
        (
            format!("{}.{}.AAAA", encode(&json!("str")), encode(&claims())),
            "token_malformed",
        ),
        (
            format!("{}.bm90LWpzb24.AAAA", encode(&es256_header())),
            "token_malformed",
        ),
        ("x".repeat(DEFAULT_MAX_TOKEN_BYTES + 1), "token_too_large"),
        (String::new(), "token_missing"),
    ];
    for (token, code) in cases {
        assert_eq!(verify(&token).unwrap_err().code(), code, "{token:.60}");
    }
}

#[test]
fn duplicate_member_names_are_refused() {
    let header = r#"{"alg":"ES256","typ":"at+jwt","kid":"es-1","kid":"es-1"}"#;
    let input = format!("{}.{}", b64url_encode(header.as_bytes()), encode(&claims()));
    let sig: p256::ecdsa::Signature = p256_key(1).sign(input.as_bytes());
    let token = format!("{input}.{}", b64url_encode(&sig.to_bytes()));
    assert_eq!(
        verify(&token).unwrap_err(),
        Rejection::Malformed("duplicate member name")
    );
}

#[test]
fn header_forms_we_do_not_verify_are_refused() {
    let cases = [
        ("jwk", json!({"kty": "EC"})),
        ("jku", json!("https://evil.test/jwks")),
        ("x5u", json!("https://evil.test/cert")),
        ("x5c", json!(["MIIB"])),
        ("crit", json!(["exp"])),
        ("b64", json!(false)),
        ("cty", json!("JWT")),
        ("enc", json!("A128GCM")),
    ];
    for (member, value) in cases {
        let token = sign_es256(
            &with(es256_header(), member, value),
            &claims(),
            &p256_key(1),
        );
        assert_eq!(
            verify(&token).unwrap_err().code(),
            "token_unsupported",
            "{member}"
        );
    }
}

#[test]
fn the_wrong_token_type_is_refused() {
    for header in [
        with(es256_header(), "typ", json!("JWT")),
        without(es256_header(), "typ"),
    ] {
        let token = sign_es256(&header, &claims(), &p256_key(1));
        assert_eq!(verify(&token).unwrap_err(), Rejection::TypeMismatch);
    }
    let token = sign_es256(
        &with(es256_header(), "typ", json!("application/at+jwt")),
        &claims(),
        &p256_key(1),
    );
    assert!(verify(&token).is_ok());
}

#[test]
fn bad_time_claims_are_refused() {
    for (name, value) in [
        ("exp", json!(NOW as f64 + 300.5)),
        ("exp", json!("1800000300")),
        ("exp", json!(-1)),
        ("exp", json!(1e300)),
        ("nbf", json!(true)),
        ("iat", json!(NOW as f64 + 0.25)),
    ] {
        let token = sign_es256(
            &es256_header(),
            &with(claims(), name, value.clone()),
            &p256_key(1),
        );
        assert_eq!(
            verify(&token).unwrap_err().code(),
            "claims_invalid",
            "{name}={value}"
        );
    }
    let token = sign_es256(&es256_header(), &without(claims(), "exp"), &p256_key(1));
    assert_eq!(
        verify(&token).unwrap_err(),
        Rejection::ClaimsInvalid("exp is missing")
    );
    let token = sign_es256(&es256_header(), &without(claims(), "sub"), &p256_key(1));
    assert_eq!(
        verify(&token).unwrap_err(),
        Rejection::ClaimsInvalid("sub is missing")
    );
}

#[test]
fn a_missing_key_set_is_unavailable_not_invalid() {
    let token = sign_es256(&es256_header(), &claims(), &p256_key(1));
    let err = verify_native(
        &token,
        DEFAULT_MAX_TOKEN_BYTES,
        &expectations(),
        |_| None,
        NOW,
    )
    .unwrap_err();
    assert_eq!((err.code(), err.status()), ("keys_unavailable", 503));
}

#[test]
fn an_oversized_kid_is_refused() {
    let header = with(es256_header(), "kid", json!("k".repeat(300)));
    assert_eq!(
        verify(&sign_es256(&header, &claims(), &p256_key(1))).unwrap_err(),
        Rejection::Malformed("kid")
    );
}
