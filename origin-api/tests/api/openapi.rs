//! The OpenAPI document: the one served is the one committed, and it describes exactly what the
//! router serves.
//!
//! After adding or changing a route, regenerate `docs/openapi.json` with
//! `UPDATE_OPENAPI=1 cargo test -p origin-api --test api openapi` (or `cargo xtask openapi`).

use crate::helpers::{spawn_app, test_config};
use axum::body::Body;
use axum::http::{Method, Request};
use origin_api::error::Unrouted;
use origin_api::{router, AppState};
use serde_json::Value;
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::path::PathBuf;
use tower::ServiceExt as _;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "options", "head", "patch"];

/// Every (method, path template) the document describes.
fn operations(document: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                found.push((method.to_owned(), path.clone()));
            }
        }
    }
    found
}

/// A concrete path for a template: every `{param}` filled with a value any extractor accepts.
fn concrete(template: &str) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        path.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed parameter") + start;
        path.push_str("00000000-0000-4000-8000-000000000000");
        rest = &rest[end + 1..];
    }
    path.push_str(rest);
    path
}

async fn is_routed(state: &AppState, method: &str, path: &str) -> bool {
    let request = Request::builder()
        .method(Method::from_bytes(method.to_uppercase().as_bytes()).unwrap())
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = router(state.clone()).oneshot(request).await.unwrap();
    response.extensions().get::<Unrouted>().is_none()
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_served_document_is_the_committed_docs_openapi_json(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.text().await.unwrap();
    let path = committed_path();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &served).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        served == committed,
        "docs/openapi.json differs from the document the origin serves; regenerate it with \
         `UPDATE_OPENAPI=1 cargo test -p origin-api --test api openapi` (or `cargo xtask openapi`) \
         and commit it"
    );
    let document: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn every_documented_operation_is_routed_and_no_other_method_is(db: PgPool) {
    let state = AppState::new(db, &test_config(None)).unwrap();
    let document = origin_api::api().into_openapi();
    let document = serde_json::to_value(&document).unwrap();
    let documented: BTreeSet<(String, String)> = operations(&document).into_iter().collect();
    assert!(documented.len() > 30, "{documented:?}");
    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in METHODS {
            let described = documented.contains(&(method.to_owned(), path.clone()));
            // axum answers HEAD with the GET handler: HEAD is served wherever GET is.
            let served_anyway =
                method == "head" && documented.contains(&("get".to_owned(), path.clone()));
            let routed = is_routed(&state, method, &concrete(path)).await;
            assert_eq!(
                routed,
                described || served_anyway,
                "{} {path}: routed {routed}, described {described}",
                method.to_uppercase()
            );
        }
    }
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_undocumented_path_is_not_routed(db: PgPool) {
    let state = AppState::new(db, &test_config(None)).unwrap();
    assert!(!is_routed(&state, "get", "/t/acme/v1/undocumented").await);
    assert!(!is_routed(&state, "get", "/v1/admin/undocumented").await);
}

#[test]
fn routes_are_registered_only_through_the_documented_router() {
    // `OpenApiRouter::routes` takes its paths and methods from the annotations; a plain axum
    // `.route(` would serve something the document does not describe. The hosted pages (HTML for
    // browsers, see origin-api/src/openapi.md) are the one exception.
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("pages/mod.rs")
            {
                let text = std::fs::read_to_string(&path).unwrap();
                // Unit tests build routers of their own.
                let text = text.split("#[cfg(test)]").next().unwrap_or_default();
                for needle in [".route(", ".route_service(", ".nest_service(", ".nest("] {
                    if text.contains(needle) {
                        offenders.push(format!("{}: {needle}", path.display()));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "routes outside OpenApiRouter::routes: {offenders:?}"
    );
}

#[test]
fn operation_ids_are_unique_and_every_operation_has_a_tag() {
    let document = serde_json::to_value(origin_api::api().into_openapi()).unwrap();
    let mut ids = BTreeSet::new();
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][&method];
        let id = operation["operationId"].as_str().unwrap().to_owned();
        assert!(ids.insert(id.clone()), "operationId {id} is used twice");
        assert!(
            operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path} has no tag"
        );
    }
}
