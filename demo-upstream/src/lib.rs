//! A demo upstream API that stands where a customer's API would: it answers every request with the
//! method, path, query and headers it received, as JSON, so a person (or a test) can see exactly what
//! the edge forwarded. With `UPSTREAM_SIGNING_SECRET` set it also checks the edge's signature over the
//! forwarded identity, the way a real upstream should (`auth_core::identity::verify_forwarded`), and
//! reports the verdict as `edge_signature`. `?redirect_to=/path` answers a 302 to that path instead,
//! to show that the edge hands redirects back to the client rather than following them.

use auth_core::identity;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Json};
use axum::Router;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// The app: one fallback handler for every method and path. `signing_secret` is the secret shared
/// with the edge, if any.
pub fn router(signing_secret: Option<Vec<u8>>) -> Router {
    let secret = Arc::new(signing_secret);
    Router::new().fallback(move |request: Request| echo(request, secret.clone()))
}

async fn echo(request: Request, secret: Arc<Option<Vec<u8>>>) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let redirect_to = parts.uri.query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("redirect_to="))
            .filter(|to| to.starts_with('/') && !to.starts_with("//"))
    });
    if let Some(to) = redirect_to {
        return (StatusCode::FOUND, [(header::LOCATION, to.to_owned())]).into_response();
    }
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
    let edge_signature = match secret.as_deref() {
        None => "not_checked".to_owned(),
        Some(secret) => {
            let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            match identity::verify_forwarded(
                secret,
                header,
                parts.method.as_str(),
                target,
                now,
                identity::DEFAULT_MAX_SKEW_SECS,
            ) {
                Ok(()) => "valid".to_owned(),
                Err(e) => format!("refused: {e}"),
            }
        }
    };
    Json(json!({
        "edge_signature": edge_signature,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body_bytes": body.len(),
    }))
    .into_response()
}

/// Serves the app on an already bound listener until the process ends.
pub async fn serve(listener: TcpListener, signing_secret: Option<Vec<u8>>) -> anyhow::Result<()> {
    axum::serve(listener, router(signing_secret)).await?;
    Ok(())
}
