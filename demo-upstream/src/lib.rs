//! A demo upstream API that stands where a customer's API would: it answers every request with the
//! method, path, query and headers it received, as JSON, so a person (or a test) can see exactly what
//! the edge forwarded.

use axum::body::Bytes;
use axum::extract::Request;
use axum::response::{IntoResponse, Json};
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;

/// The app: one fallback handler for every method and path.
pub fn router() -> Router {
    Router::new().fallback(echo)
}

async fn echo(request: Request) -> impl IntoResponse {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let mut headers = Map::new();
    for (name, value) in &parts.headers {
        headers.insert(
            name.as_str().to_owned(),
            Value::String(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        );
    }
    Json(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body_bytes": body.len(),
    }))
}

/// Serves the app on an already bound listener until the process ends.
pub async fn serve(listener: TcpListener) -> anyhow::Result<()> {
    axum::serve(listener, router()).await?;
    Ok(())
}
