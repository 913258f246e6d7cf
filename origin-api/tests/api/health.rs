use crate::helpers::spawn_app;
use serde_json::{json, Value};
use sqlx::PgPool;

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn healthz_answers_ok_when_the_database_is_reachable(db: PgPool) {
    let app = spawn_app(db).await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn healthz_answers_500_without_internals_when_the_database_is_gone(db: PgPool) {
    let app = spawn_app(db).await;
    app.db.close().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 500);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {"code": "internal_error", "message": "internal error"}})
    );
}
