//! `demo-upstream [ADDR]`: serves the echo API (default 127.0.0.1:8081, or `UPSTREAM_ADDR`), checking
//! the edge's identity signature when `UPSTREAM_SIGNING_SECRET` is set.

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("UPSTREAM_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!("demo-upstream listening on http://{addr}");
    let secret = std::env::var("UPSTREAM_SIGNING_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .map(String::into_bytes);
    demo_upstream::serve(listener, secret).await
}
