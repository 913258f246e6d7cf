//! A third-party issuer whose tokens the tests sign themselves, for claims the origin never issues (a
//! `sid` holding reserved characters). `cargo xtask test` trusts it at `http://127.0.0.1:{port}`
//! (`SYSTEM_TEST_ISSUER_PORT`); its JWKS is served from this process on that port, started by the
//! first test that asks for the issuer. The key is fixed, so every isolate that fetched the set
//! before keeps verifying.
//!
//! Also here: revocation notices signed with the stack's push secret (`SYSTEM_EDGE_PUSH_SECRET`), as
//! the origin signs them, for sessions the origin does not know.

use auth_core::encoding::b64url_encode;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::OnceLock;

const KID: &str = "system-tests-1";

#[derive(Debug)]
pub struct TestIssuer {
    pub issuer: String,
    key: SigningKey,
}

/// The issuer, its JWKS served from here from the first call on.
pub fn test_issuer() -> &'static TestIssuer {
    static ISSUER: OnceLock<TestIssuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let port = crate::support::system_var("SYSTEM_TEST_ISSUER_PORT");
        let key = SigningKey::from_slice(&[0x5e; 32]).expect("a valid P-256 scalar");
        let jwks = jwks_of(&key).to_string();
        let listener = TcpListener::bind(format!("127.0.0.1:{port}"))
            .unwrap_or_else(|e| panic!("serving the test issuer's JWKS on port {port}: {e}"));
        std::thread::spawn(move || serve(listener, &jwks));
        TestIssuer {
            issuer: format!("http://127.0.0.1:{port}"),
            key,
        }
    })
}

impl TestIssuer {
    /// An access token of this issuer for the edge's `api` audience, valid for five minutes, with
    /// `extra` claims on top (a `sid`; an `iss` of one of its other names, say).
    pub fn token(&self, extra: Value) -> String {
        let now = now_unix();
        let mut claims = json!({
            "iss": self.issuer, "sub": "third-party-user", "aud": "api", "iat": now, "exp": now + 300,
        });
        for (name, value) in extra.as_object().expect("extra claims are an object") {
            claims[name] = value.clone();
        }
        let header = json!({"alg": "ES256", "kid": KID, "typ": "at+jwt"});
        let input = format!(
            "{}.{}",
            b64url_encode(header.to_string().as_bytes()),
            b64url_encode(claims.to_string().as_bytes())
        );
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64url_encode(&signature.to_bytes()))
    }
}

/// The tenant the test issuer's JWKS says it was published for: only the entry posing as an issuer
/// of the origin (`{issuer}/origin`, `tenant = "origin"`) is bound to it.
pub const PUBLISHED_TENANT: &str = "system-test-tenant";
/// The tenant the `{issuer}/assigned` entry acts for.
pub const ASSIGNED_TENANT: &str = "system-partner";

fn jwks_of(key: &SigningKey) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({"tenant_id": PUBLISHED_TENANT, "keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": KID,
        "x": b64url_encode(point.x().expect("uncompressed point")),
        "y": b64url_encode(point.y().expect("uncompressed point")),
    }]})
}

/// Answers every request with the JWKS: the edge asks for nothing else.
fn serve(listener: TcpListener, jwks: &str) {
    for mut stream in listener.incoming().flatten() {
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=300\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{jwks}",
            jwks.len()
        );
    }
}

/// Pushes a revocation of `session_id` of `tenant_id` to the edge, signed as the origin signs it;
/// answers the edge's status.
pub async fn push_revocation(
    stack: &crate::support::Stack,
    tenant_id: &str,
    session_id: &str,
) -> reqwest::StatusCode {
    let notice = auth_core::notice::RevocationNotice {
        tenant_id: tenant_id.to_owned(),
        session_id: session_id.to_owned(),
        expires_at: now_unix() + 300,
    };
    let body = serde_json::to_value(notice).expect("notice json");
    push_signed(stack, "/__auth/revocations", &body)
        .await
        .status()
}

/// Pushes `notice` to the edge, signed as the origin signs it; asserts that the edge took it and
/// answers when it did.
pub async fn push_not_before(
    stack: &crate::support::Stack,
    notice: &auth_core::notice::NotBeforeNotice,
) -> std::time::Instant {
    let body = serde_json::to_value(notice).expect("notice json");
    let pushed = push_signed(stack, "/__auth/not-before", &body).await;
    let answered = std::time::Instant::now();
    assert_eq!(
        pushed.status(),
        reqwest::StatusCode::NO_CONTENT,
        "not-before pushed"
    );
    answered
}

/// Posts `body` to the edge's `path`, signed with the stack's push secret as the origin signs its
/// notices.
pub async fn push_signed(
    stack: &crate::support::Stack,
    path: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    let secret = crate::support::system_var("SYSTEM_EDGE_PUSH_SECRET");
    let now = now_unix();
    let body = serde_json::to_vec(body).expect("notice json");
    stack
        .http
        .post(format!("{}{path}", stack.edge))
        .header(auth_core::notice::TIMESTAMP_HEADER, now.to_string())
        .header(
            auth_core::notice::SIGNATURE_HEADER,
            auth_core::notice::sign(secret.as_bytes(), now, &body),
        )
        .body(body)
        .send()
        .await
        .expect("push to the edge")
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}
