//! Differential cases: tokens signed here, in Rust, and mutated; both paths must give the verdict
//! the mutation calls for, and the same one.
//!
//! Keys: two P-256 and two Ed25519 keys drawn from a fixed seed, and two fixed RSA test keys
//! (2048 and 4096 bits, `rsa-*.jwk.json` beside this file; generating RSA keys in a debug build takes
//! too long), each published twice, for RS256 and for PS256, under different `kid`s. All of them form
//! one JWKS, so every token also goes through the key-set policy and `kid` selection. With the seed
//! fixed (PSS salts come from it too), every run produces the same tokens and the same report.
//!
//! Mutations: bit flips, truncation and extension of the signature; non-canonical encodings
//! (base64url with trailing bits or padding, DER instead of P1363, padded integers, Ed25519 `S + L`,
//! `r`/`s` out of range); the other half of an ECDSA signature (`n − s`, valid: JWS does not require
//! low S); swapped and confused algorithms (another of our algorithms over the same key, RS256 and
//! PS256 over one modulus, `none`, HS256 keyed with the public key); PSS salts of the wrong length;
//! PKCS#1 v1.5 without the DigestInfo; headers the parser must refuse; a changed payload.

use super::{Case, Expected, Input, KeySource};
use anyhow::{Context as _, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use hmac::Mac as _;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPrivateKey};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use std::path::Path;

pub const SUITE: &str = "differential (generated tokens)";
const SEED: u64 = 0x636f_6e66_6f72_6d31;
/// Base tokens per key: every mutation is applied to each. RSA signing is slow in a debug build.
const TOKENS_PER_EC_KEY: usize = 8;
const TOKENS_PER_RSA_2048_KEY: usize = 4;
const TOKENS_PER_RSA_4096_KEY: usize = 2;
/// Tokens tried for an RSA signature `s` with `s + n` as long as `n` (each has a chance of
/// (2^k - n) / n: above 0.3 for both test keys).
const UNREDUCED_ATTEMPTS: usize = 24;
/// The order of P-256, big-endian.
const P256_N: [u8; 32] = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
/// The order of the Ed25519 base point, little-endian (as `S` is encoded).
const ED25519_L: [u8; 32] = {
    let mut le = hex32("1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed");
    let mut i = 0;
    while i < 16 {
        let t = le[i];
        le[i] = le[31 - i];
        le[31 - i] = t;
        i += 1;
    }
    le
};
const ALGS: [&str; 4] = ["ES256", "EdDSA", "RS256", "PS256"];

const fn hex32(text: &str) -> [u8; 32] {
    let t = text.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(t[2 * i]) << 4) | nibble(t[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'a' + 10,
    }
}

/// How a signature is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Natural,
    /// RSA: PKCS#1 v1.5 over the bare hash, without the DigestInfo.
    Pkcs1Unprefixed,
    Pkcs1,
    /// RSA-PSS with this salt length.
    Pss(usize),
}

enum Key {
    P256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
    Rsa(RsaPrivateKey),
}

/// A signing key as one algorithm publishes it.
struct Signer {
    kid: String,
    alg: &'static str,
    key: Key,
    jwk: Value,
    tokens: usize,
    /// Mutations that need a new signature. RSA signing in a debug build costs ~0.15 s at 2048 bits
    /// and ~1 s at 4096, so the 4096-bit key gets only those made from its tokens' signatures.
    resign: bool,
    /// Header and payload mutations the parser refuses whatever the algorithm: run with the cheap
    /// keys only.
    parser_mutations: bool,
}

impl Signer {
    fn sign(&self, message: &[u8], scheme: Scheme, rng: &mut StdRng) -> Result<Vec<u8>> {
        let digest = Sha256::digest(message);
        Ok(match (&self.key, scheme) {
            (Key::P256(k), _) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_bytes().to_vec()
            }
            (Key::Ed25519(k), _) => k.sign(message).to_bytes().to_vec(),
            (Key::Rsa(k), Scheme::Natural) if self.alg == "PS256" => {
                k.sign_with_rng(rng, Pss::new::<Sha256>(), &digest)?
            }
            (Key::Rsa(k), Scheme::Natural | Scheme::Pkcs1) => {
                k.sign(Pkcs1v15Sign::new::<Sha256>(), &digest)?
            }
            (Key::Rsa(k), Scheme::Pkcs1Unprefixed) => {
                k.sign(Pkcs1v15Sign::new_unprefixed(), &digest)?
            }
            (Key::Rsa(k), Scheme::Pss(salt)) => {
                k.sign_with_rng(rng, Pss::new_with_salt::<Sha256>(salt), &digest)?
            }
        })
    }

    fn modulus(&self) -> Option<BigUint> {
        match &self.key {
            Key::Rsa(k) => Some(rsa::traits::PublicKeyParts::n(k).clone()),
            _ => None,
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_key(root: &Path, bits: usize) -> Result<RsaPrivateKey> {
    let path = root.join(format!("conformance/fixtures/rsa-{bits}.jwk.json"));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let jwk: Value = serde_json::from_str(&text)?;
    let int = |name: &str| -> Result<BigUint> {
        let text = jwk[name]
            .as_str()
            .with_context(|| format!("{name} missing"))?;
        Ok(BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(text)?))
    };
    let mut key = RsaPrivateKey::from_components(
        int("n")?,
        int("e")?,
        int("d")?,
        vec![int("p")?, int("q")?],
    )?;
    key.precompute()?;
    Ok(key)
}

fn public_jwk(key: &Key, kid: &str, alg: &str) -> Value {
    let mut jwk = match key {
        Key::P256(k) => {
            let point = k.verifying_key().to_encoded_point(false);
            json!({
                "kty": "EC",
                "crv": "P-256",
                "x": b64(&point.x().map(|x| x.to_vec()).unwrap_or_default()),
                "y": b64(&point.y().map(|y| y.to_vec()).unwrap_or_default()),
            })
        }
        Key::Ed25519(k) => json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64(k.verifying_key().as_bytes()),
        }),
        Key::Rsa(k) => {
            use rsa::traits::PublicKeyParts as _;
            json!({"kty": "RSA", "n": b64(&k.n().to_bytes_be()), "e": b64(&k.e().to_bytes_be())})
        }
    };
    jwk["kid"] = kid.into();
    jwk["alg"] = alg.into();
    jwk["use"] = "sig".into();
    jwk
}

fn signers(root: &Path, rng: &mut StdRng) -> Result<Vec<Signer>> {
    let mut out = Vec::new();
    let mut add = |kid: String, alg: &'static str, key: Key, tokens: usize, resign: bool| {
        out.push(Signer {
            jwk: public_jwk(&key, &kid, alg),
            kid,
            alg,
            key,
            tokens,
            resign,
            parser_mutations: !matches!(alg, "RS256" | "PS256"),
        })
    };
    for name in ["a", "b"] {
        let es256 = Key::P256(p256::ecdsa::SigningKey::random(rng));
        add(
            format!("es256-{name}"),
            "ES256",
            es256,
            TOKENS_PER_EC_KEY,
            true,
        );
        let eddsa = Key::Ed25519(ed25519_dalek::SigningKey::from_bytes(&rng.gen()));
        add(
            format!("eddsa-{name}"),
            "EdDSA",
            eddsa,
            TOKENS_PER_EC_KEY,
            true,
        );
    }
    for (bits, tokens, resign) in [
        (2048, TOKENS_PER_RSA_2048_KEY, true),
        (4096, TOKENS_PER_RSA_4096_KEY, false),
    ] {
        let key = rsa_key(root, bits)?;
        add(
            format!("rs256-{bits}"),
            "RS256",
            Key::Rsa(key.clone()),
            tokens,
            resign,
        );
        add(
            format!("ps256-{bits}"),
            "PS256",
            Key::Rsa(key),
            tokens,
            resign,
        );
    }
    Ok(out)
}

/// Every differential case, in a fixed order. Each key's tokens are made on a thread of their own,
/// with a random source seeded for that key, so the output does not depend on scheduling.
pub fn cases(root: &Path) -> Result<Vec<Case>> {
    let signers = signers(root, &mut StdRng::seed_from_u64(SEED))?;
    let jwks = KeySource::Jwks(
        json!({"keys": signers.iter().map(|s| s.jwk.clone()).collect::<Vec<_>>()}).to_string(),
    );
    let per_signer: Vec<Result<Vec<Case>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = signers
            .iter()
            .enumerate()
            .map(|(i, signer)| {
                let (signers, key) = (&signers, jwks.clone());
                scope.spawn(move || -> Result<Vec<Case>> {
                    let mut rng = StdRng::seed_from_u64(SEED + 1 + i as u64);
                    let mut out = Cases {
                        key,
                        cases: Vec::new(),
                    };
                    for n in 0..signer.tokens {
                        mutate(signer, signers, n, &mut rng, &mut out)?;
                    }
                    if signer.resign && signer.modulus().is_some() {
                        unreduced(signer, &mut rng, &mut out)?;
                    }
                    Ok(out.cases)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("token generation panicked")))
            })
            .collect()
    });
    let mut all = Vec::new();
    for cases in per_signer {
        all.extend(cases?);
    }
    Ok(all)
}

struct Cases {
    key: KeySource,
    cases: Vec<Case>,
}

impl Cases {
    fn push(
        &mut self,
        signer: &Signer,
        n: usize,
        mutation: &str,
        expected: Expected,
        token: String,
    ) {
        self.push_as(
            format!("{}/{n}", signer.kid),
            signer,
            mutation,
            expected,
            token,
        );
    }

    fn push_as(
        &mut self,
        id: String,
        signer: &Signer,
        mutation: &str,
        expected: Expected,
        token: String,
    ) {
        self.cases.push(Case {
            suite: SUITE,
            group: format!("{} {mutation}", signer.alg),
            id,
            comment: mutation.into(),
            flags: vec![mutation.into()],
            alg: signer.alg.into(),
            expected: Some(expected),
            input: Input::Token {
                key: self.key.clone(),
                token,
                opaque_payload: false,
            },
        });
    }
}

fn claims(kid: &str, n: usize, nonce: &str) -> String {
    json!({
        "iss": "https://conformance.invalid",
        "sub": format!("user-{n}"),
        "aud": "conformance",
        "iat": 1_767_225_600 + n,
        "exp": 1_767_229_200 + n,
        "jti": format!("{kid}-{n}{nonce}"),
    })
    .to_string()
}

/// An RSA signature plus the modulus is the same residue: RFC 8017 §5.2.2 requires refusing a
/// representative not below `n`. Only when `s + n` still has the modulus's length does the check
/// matter (a longer signature fails the length check first), so search the first token whose
/// signature leaves room, and make it a case of its own.
fn unreduced(signer: &Signer, rng: &mut StdRng, out: &mut Cases) -> Result<()> {
    let modulus = signer.modulus().context("rsa signer without modulus")?;
    for attempt in 0..UNREDUCED_ATTEMPTS {
        let parts = sign_parts(
            signer,
            header(signer.alg, &signer.kid),
            claims(&signer.kid, attempt, "-unreduced"),
            Scheme::Natural,
            rng,
        )?;
        let plus_n = (BigUint::from_bytes_be(&parts.signature) + &modulus).to_bytes_be();
        if plus_n.len() == parts.signature.len() {
            let id = format!("{}/unreduced-{attempt}", signer.kid);
            let token = parts.with_signature(&plus_n);
            out.push_as(id, signer, "rsa_sig_unreduced", Expected::Invalid, token);
            return Ok(());
        }
    }
    anyhow::bail!(
        "{}: no signature below 2^k - n in {UNREDUCED_ATTEMPTS} attempts",
        signer.kid
    )
}

/// A token's parts, to be reassembled with changes.
struct Parts {
    header: String,
    payload: String,
    signature: Vec<u8>,
}

impl Parts {
    fn signing_input(&self) -> String {
        format!(
            "{}.{}",
            b64(self.header.as_bytes()),
            b64(self.payload.as_bytes())
        )
    }

    fn token(&self) -> String {
        self.with_signature_text(&b64(&self.signature))
    }

    fn with_signature(&self, signature: &[u8]) -> String {
        self.with_signature_text(&b64(signature))
    }

    fn with_signature_text(&self, signature: &str) -> String {
        format!("{}.{signature}", self.signing_input())
    }
}

fn sign_parts(
    signer: &Signer,
    header: String,
    payload: String,
    scheme: Scheme,
    rng: &mut StdRng,
) -> Result<Parts> {
    let mut parts = Parts {
        header,
        payload,
        signature: Vec::new(),
    };
    parts.signature = signer.sign(parts.signing_input().as_bytes(), scheme, rng)?;
    Ok(parts)
}

fn header(alg: &str, kid: &str) -> String {
    json!({"alg": alg, "kid": kid, "typ": "at+jwt"}).to_string()
}

fn mutate(
    signer: &Signer,
    all: &[Signer],
    n: usize,
    rng: &mut StdRng,
    out: &mut Cases,
) -> Result<()> {
    use Expected::{Invalid, Valid};
    let claims = claims(&signer.kid, n, "");
    let own_header = header(signer.alg, &signer.kid);
    let base = sign_parts(
        signer,
        own_header.clone(),
        claims.clone(),
        Scheme::Natural,
        rng,
    )?;
    let sig = &base.signature;
    out.push(signer, n, "original", Valid, base.token());

    // The signature's bytes.
    let flipped = |byte: usize, bit: u8| {
        let mut s = sig.clone();
        if let Some(b) = s.get_mut(byte) {
            *b ^= 1 << bit;
        }
        base.with_signature(&s)
    };
    let last = sig.len() - 1;
    out.push(signer, n, "sig_flip_first_bit", Invalid, flipped(0, 7));
    out.push(signer, n, "sig_flip_last_bit", Invalid, flipped(last, 0));
    let (byte, bit) = (n * 7919 % sig.len(), (n % 8) as u8);
    out.push(signer, n, "sig_flip_bit", Invalid, flipped(byte, bit));
    let truncated = |len: usize| base.with_signature(&sig[..len]);
    out.push(signer, n, "sig_truncated_1", Invalid, truncated(last));
    out.push(
        signer,
        n,
        "sig_truncated_half",
        Invalid,
        truncated(sig.len() / 2),
    );
    let appended = base.with_signature(&[sig.as_slice(), &[0]].concat());
    out.push(signer, n, "sig_appended_zero", Invalid, appended);
    let prepended = base.with_signature(&[&[0], sig.as_slice()].concat());
    out.push(signer, n, "sig_prepended_zero", Invalid, prepended);
    out.push(signer, n, "sig_empty", Invalid, base.with_signature(&[]));
    // Non-canonical base64url: the same bytes spelt with non-zero trailing bits, or padded.
    let text = b64(sig);
    if sig.len() % 3 != 0 {
        let mut chars = text.clone().into_bytes();
        if let Some(c) = chars.last_mut() {
            *c = b64_char(usize::from(b64_value(*c) | 1));
        }
        let spelt = base.with_signature_text(&String::from_utf8(chars)?);
        out.push(signer, n, "sig_b64_trailing_bits", Invalid, spelt);
        let padded = base.with_signature_text(&format!("{text}="));
        out.push(signer, n, "sig_b64_padded", Invalid, padded);
    }
    let changed = claims.replace(&format!("user-{n}"), &format!("user-{}", n + 1));
    let changed = Parts {
        payload: changed,
        ..clone_parts(&base)
    };
    out.push(signer, n, "payload_changed", Invalid, changed.token());

    // Algorithms: the token's `alg` must be the key's, even over a signature the key made.
    for other in ALGS.iter().filter(|a| **a != signer.alg) {
        let swapped = if signer.resign && signer.parser_mutations {
            let h = header(other, &signer.kid);
            sign_parts(signer, h, claims.clone(), Scheme::Natural, rng)?
        } else {
            Parts {
                header: header(other, &signer.kid),
                ..clone_parts(&base)
            }
        };
        out.push(
            signer,
            n,
            &format!("alg_swapped_to_{other}"),
            Invalid,
            swapped.token(),
        );
    }
    let none = Parts {
        header: header("none", &signer.kid),
        ..clone_parts(&base)
    };
    out.push(signer, n, "alg_none", Invalid, none.token());
    let mut hs = Parts {
        header: header("HS256", &signer.kid),
        ..clone_parts(&base)
    };
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(signer.jwk.to_string().as_bytes())?;
    mac.update(hs.signing_input().as_bytes());
    hs.signature = mac.finalize().into_bytes().to_vec();
    out.push(
        signer,
        n,
        "alg_hs256_keyed_with_public_key",
        Invalid,
        hs.token(),
    );
    if signer.resign {
        if let Some(other) = all
            .iter()
            .find(|s| s.alg == signer.alg && s.kid != signer.kid)
        {
            let h = header(signer.alg, &other.kid);
            let t = sign_parts(signer, h, claims.clone(), Scheme::Natural, rng)?;
            out.push(signer, n, "kid_of_another_key", Invalid, t.token());
        }
    }

    if signer.parser_mutations {
        parser_mutations(signer, n, &claims, rng, out)?;
    }
    match signer.alg {
        "ES256" => ecdsa_mutations(signer, n, &base, out),
        "EdDSA" => {
            let alias = sign_parts(
                signer,
                header("Ed25519", &signer.kid),
                claims,
                Scheme::Natural,
                rng,
            )?;
            out.push(signer, n, "alg_alias_Ed25519", Valid, alias.token());
            let (r, s) = sig.split_at(32);
            let s_plus_l = add_le(s, &ED25519_L);
            let t = base.with_signature(&[r, &s_plus_l[..]].concat());
            out.push(signer, n, "eddsa_s_plus_l", Invalid, t);
            let mut high = sig.clone();
            high[63] |= 0x80;
            out.push(
                signer,
                n,
                "eddsa_s_top_bit_set",
                Invalid,
                base.with_signature(&high),
            );
        }
        _ => rsa_mutations(signer, all, n, &claims, &base, rng, out)?,
    }
    Ok(())
}

/// Headers and payloads the token parser must refuse (or, for whitespace, accept), each with a
/// valid signature over it.
fn parser_mutations(
    signer: &Signer,
    n: usize,
    claims: &str,
    rng: &mut StdRng,
    out: &mut Cases,
) -> Result<()> {
    use Expected::{Invalid, Valid};
    let (alg, kid) = (signer.alg, &signer.kid);
    let mut signed = |header: String, payload: &str| {
        sign_parts(signer, header, payload.to_owned(), Scheme::Natural, rng).map(|p| p.token())
    };
    let extra = |member: Value| {
        let mut h = json!({"alg": alg, "kid": kid, "typ": "at+jwt"});
        if let (Some(h), Some(m)) = (h.as_object_mut(), member.as_object()) {
            h.extend(m.clone());
        }
        h.to_string()
    };
    let cases: [(&str, Expected, String, &str); 8] = [
        ("payload_not_claims", Invalid, header(alg, kid), "\"foo\""),
        (
            "header_whitespace",
            Valid,
            format!("{{ \"alg\" : \"{alg}\" ,\n  \"kid\" : \"{kid}\" ,\t\"typ\" : \"at+jwt\" }}"),
            claims,
        ),
        (
            "header_kid_missing",
            Invalid,
            json!({"alg": alg, "typ": "at+jwt"}).to_string(),
            claims,
        ),
        (
            "header_duplicate_alg",
            Invalid,
            format!("{{\"alg\":\"{alg}\",\"alg\":\"{alg}\",\"kid\":\"{kid}\",\"typ\":\"at+jwt\"}}"),
            claims,
        ),
        (
            "header_crit",
            Invalid,
            extra(json!({"crit": ["x-conformance"], "x-conformance": true})),
            claims,
        ),
        (
            "header_embedded_jwk",
            Invalid,
            extra(json!({"jwk": signer.jwk})),
            claims,
        ),
        (
            "header_b64_false",
            Invalid,
            extra(json!({"b64": false, "crit": ["b64"]})),
            claims,
        ),
        (
            "header_nested_jwt",
            Invalid,
            extra(json!({"cty": "JWT"})),
            claims,
        ),
    ];
    for (mutation, expected, header, payload) in cases {
        let token = signed(header, payload)?;
        out.push(signer, n, mutation, expected, token);
    }
    Ok(())
}

/// P1363 `r || s` spelt other ways, and values out of range.
fn ecdsa_mutations(signer: &Signer, n: usize, base: &Parts, out: &mut Cases) {
    use Expected::{Invalid, Valid};
    let (r, s) = base.signature.split_at(32);
    let zero = [0u8; 32];
    let variants: [(&str, Expected, Vec<u8>); 8] = [
        // The other signature of the same pair: JWS does not require low S, so both verify.
        (
            "ecdsa_s_negated",
            Valid,
            [r, &sub_be(&P256_N, s)[..]].concat(),
        ),
        ("ecdsa_der_encoded", Invalid, der(r, s)),
        ("ecdsa_r_s_swapped", Invalid, [s, r].concat()),
        ("ecdsa_r_zero", Invalid, [&zero[..], s].concat()),
        ("ecdsa_s_zero", Invalid, [r, &zero[..]].concat()),
        ("ecdsa_r_is_n", Invalid, [&P256_N[..], s].concat()),
        ("ecdsa_s_is_n", Invalid, [r, &P256_N[..]].concat()),
        (
            "ecdsa_integers_padded",
            Invalid,
            [&[0u8][..], r, &[0u8][..], s].concat(),
        ),
    ];
    for (mutation, expected, signature) in variants {
        out.push(
            signer,
            n,
            mutation,
            expected,
            base.with_signature(&signature),
        );
    }
}

/// Out-of-range representatives, the other RSA scheme, a modulus published for both algorithms,
/// PKCS#1 v1.5 without the DigestInfo, PSS salts of the wrong length.
fn rsa_mutations(
    signer: &Signer,
    all: &[Signer],
    n: usize,
    claims: &str,
    base: &Parts,
    rng: &mut StdRng,
    out: &mut Cases,
) -> Result<()> {
    use Expected::Invalid;
    let modulus = signer.modulus().context("rsa signer without modulus")?;
    let sig = &base.signature;
    let plus_n = (BigUint::from_bytes_be(sig) + &modulus).to_bytes_be();
    // As long as the modulus, `s + n` reaches the range check (see `unreduced`); longer, the
    // length check.
    let name = if plus_n.len() == sig.len() {
        "rsa_sig_unreduced"
    } else {
        "rsa_sig_plus_n_longer"
    };
    out.push(signer, n, name, Invalid, base.with_signature(&plus_n));
    out.push(
        signer,
        n,
        "rsa_sig_zero",
        Invalid,
        base.with_signature(&vec![0u8; sig.len()]),
    );
    out.push(
        signer,
        n,
        "rsa_sig_is_n",
        Invalid,
        base.with_signature(&modulus.to_bytes_be()),
    );
    if !signer.resign {
        return Ok(());
    }
    let own_header = header(signer.alg, &signer.kid);
    let (twin_alg, other_scheme) = if signer.alg == "RS256" {
        ("PS256", Scheme::Pss(32))
    } else {
        ("RS256", Scheme::Pkcs1)
    };
    // The other scheme's signature under this key's own `alg`.
    let t = sign_parts(signer, own_header.clone(), claims.into(), other_scheme, rng)?;
    out.push(
        signer,
        n,
        &format!("rsa_signed_as_{twin_alg}"),
        Invalid,
        t.token(),
    );
    // The same modulus published for the other algorithm: a token naming that key and algorithm,
    // signed with this key's scheme.
    let twin = all
        .iter()
        .find(|s| s.alg == twin_alg && s.modulus().as_ref() == Some(&modulus));
    if let Some(twin) = twin {
        let h = header(twin_alg, &twin.kid);
        let t = sign_parts(signer, h, claims.into(), Scheme::Natural, rng)?;
        out.push(
            signer,
            n,
            &format!("rsa_confused_with_{twin_alg}_twin"),
            Invalid,
            t.token(),
        );
    }
    if signer.alg == "RS256" {
        let t = sign_parts(
            signer,
            own_header,
            claims.into(),
            Scheme::Pkcs1Unprefixed,
            rng,
        )?;
        out.push(signer, n, "pkcs1_without_digest_info", Invalid, t.token());
    } else {
        for salt in [0, 20, 64] {
            let t = sign_parts(
                signer,
                own_header.clone(),
                claims.into(),
                Scheme::Pss(salt),
                rng,
            )?;
            out.push(signer, n, &format!("pss_salt_{salt}"), Invalid, t.token());
        }
    }
    Ok(())
}

fn clone_parts(p: &Parts) -> Parts {
    Parts {
        header: p.header.clone(),
        payload: p.payload.clone(),
        signature: p.signature.clone(),
    }
}

const B64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64_value(c: u8) -> u8 {
    B64_ALPHABET
        .iter()
        .position(|a| *a == c)
        .map_or(0, |p| p as u8)
}

fn b64_char(value: usize) -> u8 {
    B64_ALPHABET[value % 64]
}

/// `a - b` for 256-bit big-endian numbers (`a >= b`).
fn sub_be(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = d as u8;
    }
    out
}

/// `a + b` for 256-bit little-endian numbers (no overflow for `S + L`: both are below 2^253).
fn add_le(a: &[u8], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    out
}

/// An ECDSA signature as DER (`SEQUENCE { INTEGER r, INTEGER s }`), as X.509 carries it.
fn der(r: &[u8], s: &[u8]) -> Vec<u8> {
    let integer = |v: &[u8]| {
        let start = v.iter().position(|b| *b != 0).unwrap_or(v.len() - 1);
        let mut body = v[start..].to_vec();
        if body[0] & 0x80 != 0 {
            body.insert(0, 0);
        }
        let mut out = vec![0x02, body.len() as u8];
        out.extend(body);
        out
    };
    let body = [integer(r), integer(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier as _;

    #[test]
    fn negating_s_gives_the_other_signature_of_the_same_pair() {
        let key = p256::ecdsa::SigningKey::random(&mut StdRng::seed_from_u64(1));
        let sig: p256::ecdsa::Signature = key.sign(b"message");
        let bytes = sig.to_bytes();
        let (r, s) = bytes.split_at(32);
        let other = p256::ecdsa::Signature::from_slice(&[r, &sub_be(&P256_N, s)[..]].concat())
            .expect("n - s is in range");
        assert_ne!(other, sig);
        assert!(key.verifying_key().verify(b"message", &other).is_ok());
    }

    #[test]
    fn the_group_orders_are_the_published_constants() {
        // RFC 8032 §5.1: L = 2^252 + 27742317777372353535851937790883648493, little-endian.
        assert_eq!(ED25519_L[..4], [0xed, 0xd3, 0xf5, 0x5c]);
        assert_eq!(ED25519_L[31], 0x10);
        assert_eq!(P256_N[..4], [0xff, 0xff, 0xff, 0xff]);
        assert_eq!(P256_N[28..], [0xfc, 0x63, 0x25, 0x51]);
        let s = [7u8; 32];
        let sum = add_le(&s, &ED25519_L);
        assert_ne!(sum, s);
        assert_eq!(sum[0], 7 + 0xed);
    }

    #[test]
    fn der_encodes_minimal_non_negative_integers() {
        assert_eq!(
            der(&[0, 0, 0x7f], &[0x80]),
            [0x30, 0x07, 0x02, 0x01, 0x7f, 0x02, 0x02, 0x00, 0x80]
        );
    }
}
