//! The error envelope for requests the router itself refuses. These run in-process with `oneshot`.

use crate::helpers::{test_config, ADMIN_TOKEN};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::response::Response;
use origin_api::{router, AppState, MAX_BODY_BYTES};
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt as _;

async fn call(db: PgPool, request: Request<Body>) -> Response {
    let state = AppState::new(db, &test_config(None)).unwrap();
    router(state).oneshot(request).await.unwrap()
}

async fn envelope(response: Response) -> Value {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn json_post(uri: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .body(body.into())
        .unwrap()
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn malformed_json_returns_400_invalid_json_with_the_envelope(db: PgPool) {
    let response = call(db, json_post("/v1/admin/tenants", "{\"slug\": \"acme\",")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = envelope(response).await;
    assert_eq!(body["error"]["code"], "invalid_json");
    assert!(body["error"]["message"].is_string());
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_body_that_is_not_declared_as_json_returns_415(db: PgPool) {
    let request = Request::post("/v1/admin/tenants")
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
        .body(Body::from("{}"))
        .unwrap();
    let response = call(db, request).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        envelope(response).await["error"]["code"],
        "unsupported_media_type"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_body_over_64_kib_returns_413_payload_too_large(db: PgPool) {
    let big = json!({"slug": "acme", "name": "x".repeat(MAX_BODY_BYTES)}).to_string();
    let response = call(db, json_post("/v1/admin/tenants", big)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        envelope(response).await["error"]["code"],
        "payload_too_large"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_unknown_route_returns_404_not_found_with_the_envelope(db: PgPool) {
    let response = call(
        db,
        Request::get("/nothing/here").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        envelope(response).await,
        json!({"error": {"code": "not_found", "message": "no such resource"}})
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_known_route_with_the_wrong_method_returns_405_with_the_envelope(db: PgPool) {
    let response = call(
        db,
        Request::put("/v1/admin/tenants")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        envelope(response).await["error"]["code"],
        "method_not_allowed"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_router_serves_healthz_in_process(db: PgPool) {
    let response = call(db, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(envelope(response).await, json!({"status": "ok"}));
}
