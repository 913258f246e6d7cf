//! Requests the edge refuses, each with its precise status and code.

use crate::support::{assert_refused, Stack};
use auth_core::encoding::{b64url_decode, b64url_encode};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn a_protected_path_without_a_token_is_refused() {
    let stack = Stack::from_env();
    let response = stack.edge_get("/api/orders", None, &[]).await;
    assert_refused(response, StatusCode::UNAUTHORIZED, "token_missing").await;
}

#[tokio::test]
async fn a_tampered_token_is_refused() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let parts: Vec<&str> = user.session.access_token.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&b64url_decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = Value::String("someone-else".into());
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64url_encode(claims.to_string().as_bytes()),
        parts[2]
    );
    let response = stack.edge_get("/api/orders", Some(&tampered), &[]).await;
    assert_refused(response, StatusCode::UNAUTHORIZED, "signature_invalid").await;
}

#[tokio::test]
async fn garbage_and_unsigned_tokens_are_refused() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let parts: Vec<&str> = user.session.access_token.split('.').collect();
    let none_header = b64url_encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert_refused(
        stack.edge_get("/api/x", Some(&unsigned), &[]).await,
        StatusCode::UNAUTHORIZED,
        "algorithm_not_allowed",
    )
    .await;
    assert_refused(
        stack.edge_get("/api/x", Some("not-a-token"), &[]).await,
        StatusCode::UNAUTHORIZED,
        "token_malformed",
    )
    .await;
    let huge = "a".repeat(20_000);
    assert_refused(
        stack.edge_get("/api/x", Some(&huge), &[]).await,
        StatusCode::UNAUTHORIZED,
        "token_too_large",
    )
    .await;
}

#[tokio::test]
async fn a_path_no_policy_names_is_denied() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let response = stack
        .edge_get("/admin/users", Some(&user.session.access_token), &[])
        .await;
    assert_refused(response, StatusCode::FORBIDDEN, "route_denied").await;
}

#[tokio::test]
async fn an_encoded_path_separator_is_refused_rather_than_guessed() {
    let stack = Stack::from_env();
    let response = stack.edge_get("/public/..%2Fapi%2Fsecret", None, &[]).await;
    assert_refused(response, StatusCode::BAD_REQUEST, "path_ambiguous").await;
}

#[tokio::test]
async fn a_revocation_push_without_a_valid_signature_is_refused() {
    let stack = Stack::from_env();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = r#"{"tenant_id":"t","session_id":"s","expires_at":1}"#;
    let response = stack
        .http
        .post(format!("{}/__auth/revocations", stack.edge))
        .header(auth_core::notice::TIMESTAMP_HEADER, now.to_string())
        .header(
            auth_core::notice::SIGNATURE_HEADER,
            format!("v1={}", "00".repeat(32)),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "signature_invalid");
}

#[tokio::test]
async fn a_token_naming_an_unknown_key_is_refused() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let parts: Vec<&str> = user.session.access_token.split('.').collect();
    let mut header: Value = serde_json::from_slice(&b64url_decode(parts[0]).unwrap()).unwrap();
    header["kid"] = Value::String("no-such-key".into());
    let token = format!(
        "{}.{}.{}",
        b64url_encode(header.to_string().as_bytes()),
        parts[1],
        parts[2]
    );
    for _ in 0..3 {
        let response = stack.edge_get("/api/x", Some(&token), &[]).await;
        assert_refused(response, StatusCode::UNAUTHORIZED, "key_unknown").await;
    }
}

#[tokio::test]
async fn a_token_whose_issuer_keys_cannot_be_had_gets_503_not_401() {
    use p256::ecdsa::signature::Signer as _;
    let stack = Stack::from_env();
    let issuer = std::env::var("SYSTEM_UNREACHABLE_ISSUER")
        .expect("SYSTEM_UNREACHABLE_ISSUER (run via cargo xtask test)");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"});
    let claims =
        serde_json::json!({"iss": issuer, "sub": "u", "aud": "api", "exp": now + 300, "iat": now});
    let input = format!(
        "{}.{}",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(claims.to_string().as_bytes())
    );
    let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
    let signature: p256::ecdsa::Signature = key.sign(input.as_bytes());
    let token = format!("{input}.{}", b64url_encode(&signature.to_bytes()));

    let response = stack.edge_get("/api/x", Some(&token), &[]).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        response.headers().get("retry-after").is_some(),
        "503 carries Retry-After"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "keys_unavailable");
}
