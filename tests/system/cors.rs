//! CORS preflights are answered at the edge from the route policy, without a token.

use crate::support::Stack;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const APP: &str = "http://localhost:3000";

async fn preflight(stack: &Stack, origin: &str, method: &str, headers: &str) -> reqwest::Response {
    stack
        .http
        .request(Method::OPTIONS, format!("{}/api/orders", stack.edge))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_allowed_origin_gets_its_preflight_answered_without_a_token() {
    let stack = Stack::from_env();
    let response = preflight(&stack, APP, "POST", "authorization, content-type").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], APP);
    assert!(h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("POST"));
    assert!(h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
}

#[tokio::test]
async fn other_origins_methods_and_headers_are_refused() {
    let stack = Stack::from_env();
    for (origin, method, headers) in [
        ("https://evil.example", "GET", ""),
        (APP, "CONNECT", ""),
        (APP, "GET", "x-not-allowed"),
    ] {
        let response = preflight(&stack, origin, method, headers).await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "{origin} {method} {headers}"
        );
        assert!(response
            .headers()
            .get("access-control-allow-origin")
            .is_none());
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"]["code"],
            "cors_denied"
        );
    }
}

#[tokio::test]
async fn an_allowed_origin_can_read_both_answers_and_refusals() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let ok = stack
        .edge_get(
            "/api/orders",
            Some(&user.session.access_token),
            &[("origin", APP)],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["access-control-allow-origin"], APP);
    let refused = stack
        .edge_get("/api/orders", None, &[("origin", APP)])
        .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["access-control-allow-origin"], APP);
    let foreign = stack
        .edge_get("/api/orders", None, &[("origin", "https://evil.example")])
        .await;
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}
