//! Fuzzes bearer tokens end to end: `UnverifiedToken::parse` and `verify_native`, from the header
//! checks through the signature to claims validation.
//!
//! Every input is used twice:
//! - as a raw string, verified at the fixed clock `NOW` (the seeds are valid tokens, so mutations
//!   start from something that parses);
//! - as a recipe (`arbitrary`) for a header and claims, built from chosen pieces (the trusted issuer,
//!   audience and kid sometimes, near misses and junk otherwise), signed with the fixed keys and
//!   maybe tampered with, so that inputs get past the signature check into claims validation.
//!
//! Invariants:
//! - every refusal has a non-empty snake_case code and answers 401, or 503 for `keys_unavailable`
//!   only, which is the answer exactly when the issuer's keys cannot be had;
//! - a token parsing refuses is refused by verification with the same rejection, and a token over
//!   the size cap is refused as too large;
//! - verified claims name the configured issuer, an accepted audience, a non-empty subject and an
//!   expiry no earlier than `now - leeway`;
//! - a built token is accepted only if it is untampered, signed by the key its `kid` names under that
//!   key's algorithm, typed `at+jwt`, free of key-carrying, critical and duplicate members, with
//!   integral `exp`/`nbf`/`iat` inside the leeway, and the verified claims are the ones signed;
//! - a well-formed current token signed by a trusted key is accepted, so the checks above cannot be
//!   met by refusing everything.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use auth_core::token::{UnverifiedToken, DEFAULT_MAX_TOKEN_BYTES};
use auth_core::verify::verify_native;
use auth_core::{IssuerPolicy, Rejection, VerifiedClaims};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use fuzz::{
    assert_rejection_shape, Signer, AUDIENCE, ED25519_KID, ES256_KID, FIXTURE, ISSUER, LEEWAY_SECS,
    NOW, TOKEN_TYPE,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use std::cell::Cell;

/// Latest NumericDate a token may carry (9999-12-31T23:59:59Z), as auth-core documents.
const MAX_NUMERIC_DATE: i64 = 253_402_300_799;
/// Header members that embed or point at a key, or that we cannot honour: never in an accepted token.
const FORBIDDEN_HEADER_MEMBERS: [&str; 8] =
    ["jwk", "jku", "x5u", "x5c", "crit", "b64", "enc", "zip"];

fuzz_target!(|data: &[u8]| {
    check_raw(&String::from_utf8_lossy(data));
    if let Ok(recipe) = Recipe::arbitrary_take_rest(Unstructured::new(data)) {
        check_recipe(&recipe);
    }
});

fn check_raw(raw: &str) {
    let outcome = verify(raw, DEFAULT_MAX_TOKEN_BYTES, NOW, true);
    if outcome.parsed {
        // RFC 7515 compact serialization: three base64url parts, nothing else.
        assert_eq!(
            raw.matches('.').count(),
            2,
            "parsed a token without three parts"
        );
        assert!(raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
    }
}

/// What verification answered, and what it did on the way.
struct Outcome {
    result: Result<VerifiedClaims, Rejection>,
    parsed: bool,
}

/// Verifies `raw` and checks the invariants that hold for any input.
fn verify(raw: &str, max_bytes: usize, now: i64, keys_available: bool) -> Outcome {
    let fx = &*FIXTURE;
    let parsed = UnverifiedToken::parse(raw, max_bytes);
    let asked_for_keys = Cell::new(false);
    let result = verify_native(
        raw,
        max_bytes,
        &fx.expectations,
        |policy: &IssuerPolicy| {
            asked_for_keys.set(true);
            assert_eq!(policy.issuer, ISSUER, "keys asked for an untrusted issuer");
            keys_available.then_some(&fx.keys)
        },
        now,
    );
    let asked_for_keys = asked_for_keys.get();
    if raw.len() > max_bytes {
        // The cap is checked before anything is decoded.
        assert_eq!(parsed.as_ref().err(), Some(&Rejection::TooLarge));
    }
    if let Err(e) = &parsed {
        assert_eq!(result.as_ref().err(), Some(e), "parse and verify disagree");
        assert!(
            !asked_for_keys,
            "keys asked for a token that does not parse"
        );
    }
    match &result {
        Err(e) => {
            assert_rejection_shape(e);
            let unavailable = asked_for_keys && !keys_available;
            assert_eq!(
                e.code() == "keys_unavailable",
                unavailable,
                "keys_unavailable must be the answer exactly when keys cannot be had, got {e:?}"
            );
        }
        Ok(claims) => {
            assert!(parsed.is_ok() && asked_for_keys && keys_available);
            assert!(raw.len() <= max_bytes);
            assert_eq!(claims.issuer(), ISSUER);
            assert!(claims.audiences().iter().any(|a| a == AUDIENCE));
            assert!(!claims.subject().is_empty());
            assert!(
                i128::from(claims.expires_at()) >= i128::from(now) - i128::from(LEEWAY_SECS),
                "accepted a token that expired at {} at {now}",
                claims.expires_at()
            );
        }
    }
    Outcome {
        result,
        parsed: parsed.is_ok(),
    }
}

/// How to build one token. The first variant of every choice, and zero, is the well-formed case, so
/// the empty input is a valid token and each byte the fuzzer adds is a deviation from one.
#[derive(Debug, Arbitrary)]
struct Recipe {
    signer: Signer,
    alg: Alg,
    kid: Kid,
    typ: Typ,
    cty: Option<Text>,
    extra_header: Vec<(HeaderName, Leaf)>,
    iss: Text,
    aud: Aud,
    sub: Text,
    exp: Time,
    nbf: Time,
    iat: Time,
    jti: Text,
    client_id: Text,
    sid: Text,
    tid: Text,
    extra_claims: Vec<(String, Leaf)>,
    header_form: Form,
    claims_form: Form,
    clock: Clock,
    limit: Limit,
    keys_unavailable: bool,
    tamper: Tamper,
}

#[derive(Debug, Arbitrary)]
enum Alg {
    /// The signing key's algorithm.
    Matching,
    Named(AlgName),
    Custom(String),
    Absent,
    NotAString(Leaf),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum AlgName {
    Es256,
    EdDsa,
    Ed25519,
    LowerNone,
    TitleNone,
    Hs256,
    Rs256,
    Ps256,
    Es384,
    LowerEs256,
}

impl AlgName {
    fn name(self) -> &'static str {
        match self {
            AlgName::Es256 => "ES256",
            AlgName::EdDsa => "EdDSA",
            AlgName::Ed25519 => "Ed25519",
            AlgName::LowerNone => "none",
            AlgName::TitleNone => "None",
            AlgName::Hs256 => "HS256",
            AlgName::Rs256 => "RS256",
            AlgName::Ps256 => "PS256",
            AlgName::Es384 => "ES384",
            AlgName::LowerEs256 => "es256",
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Kid {
    /// The kid of the signing key.
    Matching,
    /// The kid of the other fixed key.
    Other,
    Custom(String),
    Absent,
    NotAString(Leaf),
}

#[derive(Debug, Arbitrary)]
enum Typ {
    AtJwt,
    MediaType,
    Upper,
    Jwt,
    Custom(String),
    Absent,
    NotAString(Leaf),
}

#[derive(Debug, Arbitrary)]
enum HeaderName {
    Jwk,
    Jku,
    X5u,
    X5c,
    Crit,
    B64,
    Enc,
    Zip,
    Custom(String),
}

/// A string member: the expected value, a near miss of it, or anything else.
#[derive(Debug, Arbitrary)]
enum Text {
    Expected,
    Near(NearMiss),
    Custom(String),
    Empty,
    Absent,
    NotAString(Leaf),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum NearMiss {
    TrailingSlash,
    Uppercase,
    LeadingSpace,
    Truncated,
    NulSuffix,
}

#[derive(Debug, Arbitrary)]
enum Aud {
    One(Text),
    List(Vec<Text>),
    Absent,
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Time {
    /// Seconds from `now`: small, so the leeway boundaries get hit.
    Relative(i16),
    Absent,
    Absolute(i64),
    /// `now + d + 0.5`: not a whole number of seconds.
    Fractional(i16),
    /// `now + d` written as a JSON string.
    Quoted(i16),
    Float(f64),
}

#[derive(Debug, Arbitrary)]
enum Leaf {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<String>),
    Object(Vec<(String, i64)>),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Form {
    Compact,
    Pretty,
    /// One member written twice, the first time as `null`: a lenient parser reads the second.
    DuplicateMember(u8),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Clock {
    Fixed,
    Offset(i32),
    Any(i64),
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Limit {
    Default,
    Bytes(u16),
}

#[derive(Debug, Arbitrary)]
enum Tamper {
    None,
    FlipSignatureBit(u16, u8),
    ReplaceChar(u16, u8),
    Truncate(u16),
    Append(String),
}

fn check_recipe(r: &Recipe) {
    let fx = &*FIXTURE;
    let now = match r.clock {
        Clock::Fixed => NOW,
        Clock::Offset(d) => NOW + i64::from(d),
        Clock::Any(t) => t,
    };
    let max_bytes = match r.limit {
        Limit::Default => DEFAULT_MAX_TOKEN_BYTES,
        Limit::Bytes(n) => usize::from(n),
    };
    let header = build_header(r);
    let claims = build_claims(r, now);
    let (header_text, header_dup) = serialize(&header, r.header_form);
    let (claims_text, claims_dup) = serialize(&claims, r.claims_form);
    let token = fx.sign(r.signer, &header_text, &claims_text);
    let raw = tamper(&token, &r.tamper);

    let outcome = verify(&raw, max_bytes, now, !r.keys_unavailable);
    match &outcome.result {
        Ok(verified) => {
            // Any change to a signed token must break it: base64url is decoded strictly, so no
            // other spelling of the same bytes passes either.
            assert_eq!(raw, token, "a tampered token was accepted");
            assert!(
                !header_dup && !claims_dup,
                "a duplicate member was accepted"
            );
            check_accepted_header(r.signer, &header);
            check_accepted_claims(&claims, verified, now);
        }
        Err(e) if is_clean(r, now) && raw.len() <= max_bytes => {
            panic!("a well-formed current token was refused: {e:?}\nheader: {header_text}\nclaims: {claims_text}")
        }
        Err(_) => {}
    }
}

fn check_accepted_header(signer: Signer, header: &Map<String, Value>) {
    let alg = header.get("alg").and_then(Value::as_str);
    assert!(
        alg.is_some_and(|a| signer.alg_names().contains(&a)),
        "accepted alg {alg:?} for a {signer:?} key"
    );
    assert_eq!(
        header.get("kid").and_then(Value::as_str),
        Some(signer.kid())
    );
    let typ = header.get("typ").and_then(Value::as_str);
    assert!(
        typ.is_some_and(|t| type_matches(t, TOKEN_TYPE)),
        "accepted typ {typ:?}"
    );
    if let Some(member) = FORBIDDEN_HEADER_MEMBERS
        .iter()
        .find(|m| header.contains_key(**m))
    {
        panic!("accepted a token whose header has `{member}`");
    }
    if let Some(Value::String(cty)) = header.get("cty") {
        assert!(!type_matches(cty, "JWT"), "accepted a nested token");
    }
}

fn check_accepted_claims(claims: &Map<String, Value>, verified: &VerifiedClaims, now: i64) {
    let leeway_after_now = i128::from(now) + i128::from(LEEWAY_SECS);
    assert_eq!(claims.get("iss").and_then(Value::as_str), Some(ISSUER));
    assert_eq!(
        claims.get("sub").and_then(Value::as_str),
        Some(verified.subject())
    );
    let exp = numeric_date(claims.get("exp")).expect("accepted without an integral exp");
    assert_eq!(verified.expires_at(), exp);
    for name in ["nbf", "iat"] {
        if let Some(value) = claims.get(name) {
            let t = numeric_date(Some(value))
                .unwrap_or_else(|| panic!("accepted a non-integral {name}: {value}"));
            assert!(
                i128::from(t) <= leeway_after_now,
                "accepted {name} {t} at {now}"
            );
        }
    }
    assert_eq!(verified.issued_at(), numeric_date(claims.get("iat")));
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        other => panic!("accepted aud {other:?}"),
    };
    assert!(audiences.contains(&AUDIENCE));
    assert!(
        verified
            .audiences()
            .iter()
            .all(|a| audiences.contains(&a.as_str())),
        "verified audiences {:?} were not all signed",
        verified.audiences()
    );
    // The verifier reports what was signed, nothing else.
    assert_eq!(
        verified.session(),
        claims.get("sid").and_then(Value::as_str)
    );
    // An issuer bound to no tenant (the fuzzed policy's default): its `tid` is never taken.
    assert_eq!(verified.tenant(), None);
    assert!(verified.claim("tid").is_none());
    assert_eq!(verified.jwt_id(), claims.get("jti").and_then(Value::as_str));
}

/// An integral NumericDate in the range auth-core documents.
fn numeric_date(value: Option<&Value>) -> Option<i64> {
    value
        .and_then(Value::as_i64)
        .filter(|t| (0..=MAX_NUMERIC_DATE).contains(t))
}

/// A token a real issuer would mint: the trusted issuer and audience, every claim RFC 9068 asks for,
/// signed by a trusted key, valid now. Deliberately conservative (lifetimes of an hour at most, no
/// extra members), so that stricter rules added to the core later do not make this oracle wrong.
fn is_clean(r: &Recipe, now: i64) -> bool {
    let within =
        |t: Time, lo: i16, hi: i16| matches!(t, Time::Relative(d) if (lo..=hi).contains(&d));
    let leeway = LEEWAY_SECS as i16;
    let texts_ok = [&r.sub, &r.jti, &r.client_id, &r.sid, &r.tid]
        .iter()
        .all(|t| matches!(t, Text::Expected) || matches!(t, Text::Custom(s) if !s.is_empty()));
    let iat_before_exp = match (r.iat, r.exp) {
        (Time::Relative(i), Time::Relative(e)) => i <= e,
        _ => false,
    };
    matches!(r.alg, Alg::Matching)
        && matches!(r.kid, Kid::Matching)
        && matches!(r.typ, Typ::AtJwt | Typ::MediaType)
        && r.cty.is_none()
        && r.extra_header.is_empty()
        && matches!(r.iss, Text::Expected)
        && matches!(&r.aud, Aud::One(Text::Expected))
        && texts_ok
        && within(r.exp, -leeway, 3600)
        && within(r.iat, -3600, leeway)
        && (matches!(r.nbf, Time::Absent) || within(r.nbf, -3600, leeway))
        && iat_before_exp
        && r.extra_claims.is_empty()
        && !matches!(r.header_form, Form::DuplicateMember(_))
        && !matches!(r.claims_form, Form::DuplicateMember(_))
        && (3600..=MAX_NUMERIC_DATE - 100_000).contains(&now)
        && !r.keys_unavailable
        && matches!(r.tamper, Tamper::None)
}

fn build_header(r: &Recipe) -> Map<String, Value> {
    let mut h = Map::new();
    for (name, value) in &r.extra_header {
        let name = match name {
            HeaderName::Jwk => "jwk",
            HeaderName::Jku => "jku",
            HeaderName::X5u => "x5u",
            HeaderName::X5c => "x5c",
            HeaderName::Crit => "crit",
            HeaderName::B64 => "b64",
            HeaderName::Enc => "enc",
            HeaderName::Zip => "zip",
            HeaderName::Custom(s) => s,
        };
        h.insert(name.to_owned(), value.to_json());
    }
    // Chosen members go in after the extras, so they win a name clash.
    match &r.alg {
        Alg::Matching => put(&mut h, "alg", r.signer.alg_names()[0].into()),
        Alg::Named(n) => put(&mut h, "alg", n.name().into()),
        Alg::Custom(s) => put(&mut h, "alg", s.as_str().into()),
        Alg::Absent => {}
        Alg::NotAString(v) => put(&mut h, "alg", v.to_json()),
    }
    let other_kid = match r.signer {
        Signer::Es256 => ED25519_KID,
        Signer::Ed25519 => ES256_KID,
    };
    match &r.kid {
        Kid::Matching => put(&mut h, "kid", r.signer.kid().into()),
        Kid::Other => put(&mut h, "kid", other_kid.into()),
        Kid::Custom(s) => put(&mut h, "kid", s.as_str().into()),
        Kid::Absent => {}
        Kid::NotAString(v) => put(&mut h, "kid", v.to_json()),
    }
    match &r.typ {
        Typ::AtJwt => put(&mut h, "typ", TOKEN_TYPE.into()),
        Typ::MediaType => put(&mut h, "typ", format!("application/{TOKEN_TYPE}").into()),
        Typ::Upper => put(&mut h, "typ", TOKEN_TYPE.to_uppercase().into()),
        Typ::Jwt => put(&mut h, "typ", "JWT".into()),
        Typ::Custom(s) => put(&mut h, "typ", s.as_str().into()),
        Typ::Absent => {}
        Typ::NotAString(v) => put(&mut h, "typ", v.to_json()),
    }
    if let Some(cty) = &r.cty {
        text_member(&mut h, "cty", cty, "JWT");
    }
    h
}

fn build_claims(r: &Recipe, now: i64) -> Map<String, Value> {
    let mut c = Map::new();
    for (name, value) in &r.extra_claims {
        c.insert(name.clone(), value.to_json());
    }
    text_member(&mut c, "iss", &r.iss, ISSUER);
    match &r.aud {
        Aud::One(t) => text_member(&mut c, "aud", t, AUDIENCE),
        Aud::List(items) => {
            let list = items
                .iter()
                .filter_map(|t| text_value(t, AUDIENCE))
                .collect();
            put(&mut c, "aud", Value::Array(list));
        }
        Aud::Absent => {}
    }
    text_member(&mut c, "sub", &r.sub, "user-1");
    time_member(&mut c, "exp", r.exp, now);
    time_member(&mut c, "nbf", r.nbf, now);
    time_member(&mut c, "iat", r.iat, now);
    text_member(&mut c, "jti", &r.jti, "jti-1");
    text_member(&mut c, "client_id", &r.client_id, "client-1");
    text_member(&mut c, "sid", &r.sid, "session-1");
    text_member(&mut c, "tid", &r.tid, "tenant-1");
    c
}

fn put(map: &mut Map<String, Value>, name: &str, value: Value) {
    map.insert(name.to_owned(), value);
}

fn text_member(map: &mut Map<String, Value>, name: &str, text: &Text, expected: &str) {
    if let Some(v) = text_value(text, expected) {
        put(map, name, v);
    }
}

fn text_value(text: &Text, expected: &str) -> Option<Value> {
    Some(match text {
        Text::Expected => expected.into(),
        Text::Near(miss) => near_miss(expected, *miss).into(),
        Text::Custom(s) => s.as_str().into(),
        Text::Empty => "".into(),
        Text::Absent => return None,
        Text::NotAString(v) => v.to_json(),
    })
}

fn near_miss(expected: &str, miss: NearMiss) -> String {
    match miss {
        NearMiss::TrailingSlash => format!("{expected}/"),
        NearMiss::Uppercase => expected.to_uppercase(),
        NearMiss::LeadingSpace => format!(" {expected}"),
        NearMiss::Truncated => expected
            .get(..expected.len().saturating_sub(1))
            .unwrap_or_default()
            .to_owned(),
        NearMiss::NulSuffix => format!("{expected}\0"),
    }
}

fn time_member(map: &mut Map<String, Value>, name: &str, time: Time, now: i64) {
    let at = |d: i16| now.saturating_add(i64::from(d));
    let value = match time {
        Time::Absent => return,
        Time::Relative(d) => at(d).into(),
        Time::Absolute(t) => t.into(),
        Time::Fractional(d) => (at(d) as f64 + 0.5).into(),
        Time::Quoted(d) => at(d).to_string().into(),
        Time::Float(f) => f.into(),
    };
    put(map, name, value);
}

impl Leaf {
    fn to_json(&self) -> Value {
        match self {
            Leaf::Null => Value::Null,
            Leaf::Bool(b) => (*b).into(),
            Leaf::Int(i) => (*i).into(),
            Leaf::Float(f) => (*f).into(),
            Leaf::Str(s) => s.as_str().into(),
            Leaf::List(items) => items.iter().map(String::as_str).collect(),
            Leaf::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), (*v).into()))
                    .collect(),
            ),
        }
    }
}

/// The JSON text for a member map, and whether it holds a duplicate member.
fn serialize(map: &Map<String, Value>, form: Form) -> (String, bool) {
    let object = Value::Object(map.clone());
    match form {
        Form::Compact => (object.to_string(), false),
        Form::Pretty => (
            serde_json::to_string_pretty(&object).unwrap_or_default(),
            false,
        ),
        Form::DuplicateMember(i) => {
            let compact = object.to_string();
            match map.keys().nth(usize::from(i) % map.len().max(1)) {
                Some(key) => {
                    let rest = compact.get(1..).unwrap_or_default();
                    (format!("{{{}:null,{rest}", Value::from(key.as_str())), true)
                }
                None => (compact, false),
            }
        }
    }
}

fn tamper(token: &str, how: &Tamper) -> String {
    const ALPHABET: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";
    let mut bytes = token.as_bytes().to_vec();
    match how {
        Tamper::None => {}
        Tamper::FlipSignatureBit(at, bit) => {
            // Flip a bit of the decoded signature and re-encode, so the encoding stays valid.
            if let Some((input, sig)) = token.rsplit_once('.') {
                if let Ok(mut sig) = URL_SAFE_NO_PAD.decode(sig) {
                    let len = sig.len().max(1);
                    if let Some(b) = sig.get_mut(usize::from(*at) % len) {
                        *b ^= 1 << (bit % 8);
                    }
                    return format!("{input}.{}", fuzz::b64(&sig));
                }
            }
        }
        Tamper::ReplaceChar(at, ch) => {
            let len = bytes.len().max(1);
            if let Some(b) = bytes.get_mut(usize::from(*at) % len) {
                *b = ALPHABET[usize::from(*ch) % ALPHABET.len()];
            }
        }
        Tamper::Truncate(n) => bytes.truncate(usize::from(*n) % (bytes.len() + 1)),
        Tamper::Append(s) => bytes.extend_from_slice(s.as_bytes()),
    }
    String::from_utf8(bytes).unwrap_or_default()
}

/// `typ`/`cty` comparison as RFC 7515 §4.1.9 has it: case-insensitive, `application/` optional.
fn type_matches(typ: &str, expected: &str) -> bool {
    let lower = typ.to_ascii_lowercase();
    let bare = lower.strip_prefix("application/").unwrap_or(&lower);
    bare == expected.to_ascii_lowercase()
}
