//! The tests' stand-in in front of the origin's JWKS endpoints, on a port `cargo xtask test` told
//! the edge to fetch some issuer's keys through: it passes each request on to the origin (its status,
//! `cache-control` and body passed back) and counts it, or, once told to fail, answers 503 and counts
//! that.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug)]
pub struct JwksProxy {
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    failing: AtomicBool,
    passed_on: AtomicUsize,
    refused: AtomicUsize,
}

impl JwksProxy {
    /// Serves on the port named by the environment variable `port_var`, in front of `origin`.
    pub fn start(port_var: &str, origin: &str) -> JwksProxy {
        let port = crate::support::system_var(port_var);
        let listener = std::net::TcpListener::bind(format!("127.0.0.1:{port}"))
            .unwrap_or_else(|e| panic!("serving the JWKS proxy on port {port}: {e}"));
        let counts = Arc::new(Counts::default());
        let (shared, origin) = (counts.clone(), origin.to_owned());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                listener.set_nonblocking(true).expect("non-blocking");
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let http = reqwest::Client::new();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (counts, http, origin) = (shared.clone(), http.clone(), origin.clone());
                    tokio::spawn(async move { answer(stream, &http, &origin, &counts).await });
                }
            });
        });
        JwksProxy { counts }
    }

    /// From now on every request is answered 503.
    pub fn fail(&self) {
        self.counts.failing.store(true, Ordering::SeqCst);
    }

    /// Requests passed on to the origin so far.
    pub fn passed_on(&self) -> usize {
        self.counts.passed_on.load(Ordering::SeqCst)
    }

    /// Requests answered 503 so far.
    pub fn refused(&self) -> usize {
        self.counts.refused.load(Ordering::SeqCst)
    }
}

async fn answer(
    mut stream: tokio::net::TcpStream,
    http: &reqwest::Client,
    origin: &str,
    counts: &Counts,
) {
    use reqwest::StatusCode;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut request = vec![0u8; 8192];
    let n = stream.read(&mut request).await.unwrap_or(0);
    let head = String::from_utf8_lossy(&request[..n]);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (status, cache_control, body) = if counts.failing.load(Ordering::SeqCst) {
        counts.refused.fetch_add(1, Ordering::SeqCst);
        (
            StatusCode::SERVICE_UNAVAILABLE,
            String::new(),
            "{}".to_owned(),
        )
    } else {
        counts.passed_on.fetch_add(1, Ordering::SeqCst);
        match http.get(format!("{origin}{path}")).send().await {
            Ok(response) => {
                let cache_control = response
                    .headers()
                    .get("cache-control")
                    .and_then(|v| v.to_str().ok())
                    .map(|v| format!("cache-control: {v}\r\n"))
                    .unwrap_or_default();
                let status = response.status();
                (
                    status,
                    cache_control,
                    response.text().await.unwrap_or_default(),
                )
            }
            Err(_) => (StatusCode::BAD_GATEWAY, String::new(), "{}".to_owned()),
        }
    };
    let answer = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\n{cache_control}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}
