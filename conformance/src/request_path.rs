//! What a request makes the edge pay for, through the conformance Worker's adapter counts
//! (`GET /__conformance/adapter-calls`): a token whose signature has not been verified costs no KV
//! read, no Durable Object call and no fetch beyond the JWKS lifecycle's own rules, whatever its
//! `iss`, `kid` and `sid` say: a forged token naming a trusted issuer and key and a random session
//! is refused before any storage is asked about that session.
//!
//! The harness plays the issuer (its JWKS) and the upstream on one local port ([`Issuer`]); the
//! Worker trusts it (`worker::wrangler_toml`).

use crate::worker::Edge;
use anyhow::{ensure, Context as _, Result};
use auth_core::encoding::b64url_encode;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::time::{SystemTime, UNIX_EPOCH};

const KID: &str = "request-path-1";
/// Forged tokens sent per check: enough that any per-request cost shows as a count of its own.
const FORGERIES: usize = 40;

/// The issuer the Worker trusts in this run, and the upstream it forwards to: `/jwks.json` answers
/// the key set, anything else 200.
#[derive(Debug)]
pub struct Issuer {
    pub url: String,
    key: SigningKey,
}

impl Issuer {
    /// Starts serving on a free port (for the life of the process).
    pub fn start() -> Result<Issuer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
        let key = SigningKey::random(&mut rand::thread_rng());
        let point = key.verifying_key().to_encoded_point(false);
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": KID,
            "x": b64url_encode(point.x().context("uncompressed point")?),
            "y": b64url_encode(point.y().context("uncompressed point")?),
        }]})
        .to_string();
        std::thread::spawn(move || serve(listener, &jwks));
        Ok(Issuer { url, key })
    }

    /// The entry of `AUTH_ISSUERS` that trusts this issuer.
    pub fn policy(&self) -> Value {
        json!({
            "issuer": self.url,
            "jwks_uri": format!("{}/jwks.json", self.url),
            "audiences": ["api"],
            "algorithms": ["ES256"],
            "token_type": "at+jwt",
        })
    }

    /// A token naming this issuer, `kid` and session `sid`, signed by `key` (this issuer's, or a
    /// forger's).
    fn token(&self, kid: &str, sid: &str, key: &SigningKey) -> String {
        let now = now_unix();
        let header = json!({"alg": "ES256", "kid": kid, "typ": "at+jwt"});
        let claims = json!({
            "iss": self.url, "sub": "request-path", "aud": "api", "iat": now, "exp": now + 300,
            "sid": sid,
        });
        let input = format!(
            "{}.{}",
            b64url_encode(header.to_string().as_bytes()),
            b64url_encode(claims.to_string().as_bytes())
        );
        let signature: Signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64url_encode(&signature.to_bytes()))
    }
}

fn serve(listener: TcpListener, jwks: &str) {
    for mut stream in listener.incoming().flatten() {
        let mut request = [0u8; 8192];
        let n = stream.read(&mut request).unwrap_or(0);
        let head = String::from_utf8_lossy(&request[..n]);
        let body = if head.starts_with("GET /jwks.json ") {
            jwks
        } else {
            "{}"
        };
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=300\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
    }
}

/// The adapter counts, by name.
type Calls = BTreeMap<String, u64>;

/// What the checks found, for the report.
#[derive(Debug)]
pub struct Findings {
    pub lines: Vec<String>,
}

impl Findings {
    /// The section of `docs/conformance.md`.
    pub fn markdown(&self) -> String {
        let mut md = String::from(
            "## What a request through the gate costs\n\nAdapter calls counted by the conformance \
             Worker (`GET /__conformance/adapter-calls`) around each step of \
             `conformance/src/request_path.rs`; the run fails if a token whose signature was not \
             verified costs a deny-entry read, a Durable Object call, an upstream fetch, or a JWKS \
             fetch beyond the unknown-`kid` rule.\n\n",
        );
        for line in &self.lines {
            md.push_str(&format!("- {line}\n"));
        }
        md
    }
}

/// Runs the checks; fails on the first cost a request should not have had.
pub fn check(edge: &Edge, issuer: &Issuer) -> Result<Findings> {
    let mut lines = Vec::new();
    let fresh_sid = || format!("rp-{}", rand::random::<u64>());
    // Warm up: the first good token makes the Worker load the issuer's keys (restore, fetch, persist).
    let good = issuer.token(KID, &fresh_sid(), &issuer.key);
    let before = calls(edge)?;
    expect(edge, "/api/request-path", &good, 200, "a good token")?;
    let warm = delta(&before, &calls(edge)?);
    ensure!(
        warm["deny_entry_reads"] == 1 && warm["upstream"] == 1,
        "a good token on an eventual route should cost one deny-entry read and the forward: {warm:?}"
    );
    lines.push(format!("first good token: {}", show(&warm)));

    let forger = SigningKey::random(&mut rand::thread_rng());
    let before = calls(edge)?;
    for i in 0..FORGERIES {
        // Eventual, strict, and a route limited per subject (its limit is checked after the
        // signature: a forgery must not reach the limiter's object).
        let path = match i % 3 {
            0 => "/api/request-path",
            1 => "/api/strict/request-path",
            _ => "/api/reports/request-path",
        };
        let forged = issuer.token(KID, &fresh_sid(), &forger);
        expect(edge, path, &forged, 401, "a forged token")?;
    }
    let forged = delta(&before, &calls(edge)?);
    ensure!(
        forged.values().all(|n| *n == 0),
        "{FORGERIES} forged tokens (trusted iss and kid, random sid, eventual, strict and \
         rate-limited routes) cost adapter calls: {forged:?}"
    );
    lines.push(format!(
        "{FORGERIES} forged tokens, trusted iss and kid, random sid: {}",
        show(&forged)
    ));

    let before = calls(edge)?;
    for _ in 0..FORGERIES {
        let kid = format!("kid-{}", rand::random::<u64>());
        expect(
            edge,
            "/api/strict/request-path",
            &issuer.token(&kid, &fresh_sid(), &forger),
            401,
            "an unknown kid",
        )?;
    }
    let unknown = delta(&before, &calls(edge)?);
    let beyond_jwks: u64 = unknown
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "jwks_fetches" | "persisted_keys"))
        .map(|(_, n)| n)
        .sum();
    ensure!(
        beyond_jwks == 0 && unknown["jwks_fetches"] <= 1,
        "{FORGERIES} tokens with random kids may cost one JWKS refetch (the unknown-kid cooldown) and \
         nothing else: {unknown:?}"
    );
    lines.push(format!("{FORGERIES} random kids: {}", show(&unknown)));

    let before = calls(edge)?;
    expect(
        edge,
        "/api/strict/request-path",
        &good,
        200,
        "a good token on a strict route",
    )?;
    let strict = delta(&before, &calls(edge)?);
    ensure!(
        strict["tenant_object"] == 1 && strict["deny_entry_reads"] == 0,
        "a good token on a strict route should ask the tenant's object once and read no deny entry: {strict:?}"
    );
    lines.push(format!("good token, strict route: {}", show(&strict)));
    lines.push(limiter_down(edge, &good)?);
    Ok(Findings { lines })
}

/// After a panic (`Edge::recovers_from_a_panic`): a good token passes on an eventual route (the fetch
/// handler) and on a strict one (the tenant's Durable Object, made before the panic, asked again).
pub fn answers_after_a_panic(edge: &Edge, issuer: &Issuer) -> Result<()> {
    let good = issuer.token(KID, &format!("rp-{}", rand::random::<u64>()), &issuer.key);
    expect(
        edge,
        "/api/request-path",
        &good,
        200,
        "after a panic, a good token",
    )?;
    expect(
        edge,
        "/api/strict/request-path",
        &good,
        200,
        "after a panic, a good token on a strict route (the tenant's Durable Object)",
    )
}

/// With every rate limit's object unreachable, each limit follows its `on_error`, logged, and no
/// answer is a 5xx: the exact per-user limit (`deny`) answers 429 with `Retry-After: 1` and no
/// RateLimit field; the approximate per-address limit decides in the isolate as before.
fn limiter_down(edge: &Edge, good: &str) -> Result<String> {
    let fields = ["retry-after", "ratelimit"];
    edge.set_limiter_down(true)?;
    let exact = edge.get_with_headers("/api/reports/request-path", Some(good), &fields);
    let approximate = edge.get_with_headers("/public/search/request-path", None, &fields);
    edge.set_limiter_down(false)?;
    let (exact, approximate) = (exact?, approximate?);
    ensure!(
        exact == (429, vec![Some("1".to_owned()), None]),
        "an exact limit with on_error = \"deny\" whose object is down should answer 429, \
         Retry-After 1, no RateLimit field: {exact:?}"
    );
    ensure!(
        approximate.0 == 200 && approximate.1[1].is_some(),
        "an approximate limit decides without its object: {approximate:?}"
    );
    let logged = "ratelimit.unavailable limit.name=reports-per-user";
    // wrangler writes the Worker's console to its log a moment later.
    let seen = (0..20).any(|_| {
        let found = edge.log_text().contains(logged);
        if !found {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        found
    });
    ensure!(seen, "the Worker's log should say `{logged}`");
    let (back, _) = edge.get_with_headers("/api/reports/request-path", Some(good), &fields)?;
    ensure!(
        back == 200,
        "with the object back, the request passes: {back}"
    );
    Ok(format!(
        "rate limiter objects unreachable: exact limit (on_error deny) {} Retry-After {}, approximate \
         limit {} (decided in the isolate); logged `{logged}`",
        exact.0,
        exact.1[0].clone().unwrap_or_default(),
        approximate.0
    ))
}

fn expect(edge: &Edge, path: &str, token: &str, status: u16, what: &str) -> Result<()> {
    let got = edge.get_status(path, token)?;
    ensure!(
        got == status,
        "{what} on {path} was answered {got}, not {status}"
    );
    Ok(())
}

fn calls(edge: &Edge) -> Result<Calls> {
    let value = edge.get_json("/__conformance/adapter-calls")?;
    serde_json::from_value(value).context("adapter counts")
}

fn delta(before: &Calls, after: &Calls) -> Calls {
    after
        .iter()
        .map(|(name, n)| (name.clone(), n - before.get(name).copied().unwrap_or(0)))
        .collect()
}

fn show(calls: &Calls) -> String {
    calls
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
