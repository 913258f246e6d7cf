//! Allowed requests reach the upstream with the verified identity, and only that identity.

use crate::support::{claims_of, Stack};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn a_signed_in_user_reaches_the_upstream_with_its_verified_identity() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let response = stack
        .edge_get("/api/orders?page=2", Some(&user.session.access_token), &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Value = response.json().await.unwrap();
    let headers = &echoed["headers"];
    let claims = claims_of(&user.session.access_token);
    assert_eq!(echoed["method"], "GET");
    assert_eq!(echoed["path"], "/api/orders");
    assert_eq!(echoed["query"], "page=2");
    assert_eq!(headers["x-auth-subject"], user.id.as_str());
    assert_eq!(headers["x-auth-session"], user.session.session_id.as_str());
    assert_eq!(headers["x-auth-tenant"], claims["tid"]);
    assert_eq!(headers["x-auth-issuer"], claims["iss"]);
    assert!(
        headers.get("authorization").is_none(),
        "the bearer token is not forwarded: {headers}"
    );
}

#[tokio::test]
async fn a_forged_identity_header_does_not_reach_the_upstream() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let forged = [
        ("x-auth-subject", "admin"),
        ("X-Auth-Tenant", "someone-else"),
        ("x-auth-roles", "[\"root\"]"),
    ];

    let response = stack
        .edge_get("/api/me", Some(&user.session.access_token), &forged)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.json::<Value>().await.unwrap()["headers"].clone();
    assert_eq!(headers["x-auth-subject"], user.id.as_str());
    assert_ne!(headers["x-auth-tenant"], "someone-else");
    assert!(headers.get("x-auth-roles").is_none(), "{headers}");

    let response = stack.edge_get("/public/info", None, &forged).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.json::<Value>().await.unwrap()["headers"].clone();
    for name in ["x-auth-subject", "x-auth-tenant", "x-auth-roles"] {
        assert!(
            headers.get(name).is_none(),
            "{name} reached the upstream: {headers}"
        );
    }
}

#[tokio::test]
async fn a_public_path_passes_without_a_token() {
    let stack = Stack::from_env();
    let response = stack.edge_get("/public/hello", None, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Value = response.json().await.unwrap();
    assert_eq!(echoed["path"], "/public/hello");
}

#[tokio::test]
async fn each_trusted_tenant_reaches_the_upstream_as_itself() {
    let stack = Stack::from_env();
    let a = stack.signed_in_user(&stack.tenant).await;
    let b = stack.signed_in_user(&stack.other_tenant).await;
    let tenant_of = |token: &str| claims_of(token)["tid"].clone();
    assert_ne!(
        tenant_of(&a.session.access_token),
        tenant_of(&b.session.access_token)
    );
    for user in [&a, &b] {
        let response = stack
            .edge_get("/api/whoami", Some(&user.session.access_token), &[])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.json::<Value>().await.unwrap()["headers"].clone();
        assert_eq!(
            headers["x-auth-tenant"],
            tenant_of(&user.session.access_token)
        );
        assert_eq!(headers["x-auth-subject"], user.id.as_str());
    }
}

#[tokio::test]
async fn the_upstream_can_verify_that_a_request_passed_the_edge() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let through_edge = stack
        .edge_get("/api/orders?x=1", Some(&user.session.access_token), &[])
        .await;
    assert_eq!(
        through_edge.json::<Value>().await.unwrap()["edge_signature"],
        "valid"
    );
    let public = stack.edge_get("/public/x", None, &[]).await;
    assert_eq!(
        public.json::<Value>().await.unwrap()["edge_signature"],
        "valid"
    );

    // The same identity sent straight to the upstream, bypassing the edge, is not signed...
    let direct = stack
        .http
        .get(format!("{}/api/orders", stack.upstream))
        .header("x-auth-subject", user.id.as_str())
        .send()
        .await
        .unwrap();
    let verdict = direct.json::<Value>().await.unwrap()["edge_signature"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(verdict.starts_with("refused"), "{verdict}");

    // ...and a signature lifted from a real forwarded request does not cover another subject.
    let echoed = stack
        .edge_get("/api/orders", Some(&user.session.access_token), &[])
        .await
        .json::<Value>()
        .await
        .unwrap();
    let h = &echoed["headers"];
    let replayed = stack
        .http
        .get(format!("{}/api/orders", stack.upstream))
        .header("x-auth-subject", "someone-else")
        .header("x-auth-issuer", h["x-auth-issuer"].as_str().unwrap())
        .header("x-auth-tenant", h["x-auth-tenant"].as_str().unwrap())
        .header("x-auth-session", h["x-auth-session"].as_str().unwrap())
        .header("x-auth-timestamp", h["x-auth-timestamp"].as_str().unwrap())
        .header("x-auth-signature", h["x-auth-signature"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let verdict = replayed.json::<Value>().await.unwrap()["edge_signature"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(verdict.contains("does not match"), "{verdict}");
}

#[tokio::test]
async fn a_repeated_token_keeps_passing_with_the_same_identity() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    for _ in 0..3 {
        let response = stack
            .edge_get("/api/again", Some(&user.session.access_token), &[])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.json::<Value>().await.unwrap()["headers"].clone();
        assert_eq!(headers["x-auth-subject"], user.id.as_str());
    }
}

#[tokio::test]
async fn an_upstream_redirect_goes_back_to_the_client_unfollowed() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;

    let response = stack
        .edge_get(
            "/api/old-place?redirect_to=/api/new-place",
            Some(&user.session.access_token),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()[reqwest::header::LOCATION],
        "/api/new-place"
    );
}

#[tokio::test]
async fn a_post_reaches_the_upstream_with_its_body_and_its_own_headers() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let body = r#"{"item":"book","quantity":2}"#;
    let response = stack
        .http
        .post(format!("{}/api/orders?draft=1", stack.edge))
        .bearer_auth(&user.session.access_token)
        .header("content-type", "application/json")
        .header("x-request-id", "req-42")
        .header("proxy-authorization", "Basic c2VjcmV0")
        .body(body)
        .send()
        .await
        .expect("request to the edge");
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Value = response.json().await.unwrap();
    let headers = &echoed["headers"];
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["query"], "draft=1");
    assert_eq!(echoed["body_bytes"], body.len());
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-request-id"], "req-42");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert!(headers["x-forwarded-host"].is_string(), "{headers}");
    assert_eq!(headers["x-auth-subject"], user.id.as_str());
    for dropped in ["authorization", "proxy-authorization"] {
        assert!(
            headers.get(dropped).is_none(),
            "{dropped} was relayed: {headers}"
        );
    }
}
