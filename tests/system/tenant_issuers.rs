//! Issue 10 §3, tenants without a redeploy: the edge trusts the origin's tenants through a template
//! issuer (`{origin}/t/{tenant}`, `xtask/src/stack.rs`), so a tenant created while the stack runs is
//! usable at once; and a flood of made-up tenants costs a bounded number of JWKS fetches, counted at
//! a proxy in front of a second template (`SYSTEM_FLOOD_TEMPLATE`, whose keys are fetched through
//! `SYSTEM_TENANT_PROXY_PORT` with a budget of `SYSTEM_FLOOD_NEW_TENANTS_PER_MINUTE` first lookups).

use crate::support::{assert_refused, claims_of, Stack};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn var(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name}: run the system tests with `cargo xtask test`"))
}

#[tokio::test]
async fn a_tenant_created_through_the_admin_api_is_usable_through_the_edge_at_once() {
    let stack = Stack::from_env();
    let slug = format!(
        "systest-new-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let created = stack
        .http
        .post(format!("{}/v1/admin/tenants", stack.origin))
        .bearer_auth(var("SYSTEM_ADMIN_TOKEN"))
        .json(&json!({ "slug": slug, "name": slug }))
        .send()
        .await
        .expect("creating a tenant");
    assert_eq!(created.status(), StatusCode::CREATED);

    let user = stack.signed_in_user(&slug).await;
    let response = stack
        .edge_get("/api/orders", Some(&user.session.access_token), &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK, "no redeploy, no wait");
    let echoed: Value = response.json().await.expect("echo");
    assert_eq!(
        echoed["headers"]["x-auth-tenant"],
        claims_of(&user.session.access_token)["tid"],
        "the tenant its key set was published for"
    );
    assert_eq!(
        echoed["headers"]["x-auth-issuer"],
        format!("{}/t/{slug}", stack.origin)
    );

    // The new tenant's token does not pass as another tenant's: its `tid` is bound to its own keys.
    let other = stack.signed_in_user(&stack.other_tenant).await;
    assert_ne!(
        claims_of(&other.session.access_token)["tid"],
        claims_of(&user.session.access_token)["tid"]
    );
}

/// An ES256 token nobody signed, naming `iss` (the edge never gets as far as its signature).
fn forged(iss: &str) -> String {
    use base64::Engine as _;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        b64(json!({ "alg": "ES256", "typ": "at+jwt", "kid": "made-up-kid" })),
        b64(json!({ "iss": iss, "sub": "u", "aud": "api", "exp": 4_000_000_000u64, "tid": "t" })),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 64]),
    )
}

async fn code_of(stack: &Stack, token: &str) -> (StatusCode, String) {
    let response = stack.edge_get("/api/orders", Some(token), &[]).await;
    let status = response.status();
    let body: Value = response.json().await.expect("json error body");
    (
        status,
        body["error"]["code"].as_str().unwrap_or("").to_owned(),
    )
}

#[tokio::test]
async fn a_flood_of_made_up_tenants_costs_a_bounded_number_of_jwks_fetches() {
    let stack = Stack::from_env();
    let proxy = CountingProxy::start(&stack.origin);
    let template = var("SYSTEM_FLOOD_TEMPLATE");
    let per_minute: usize = var("SYSTEM_FLOOD_NEW_TENANTS_PER_MINUTE")
        .parse()
        .expect("a number");
    let iss = |slug: &str| template.replace("{tenant}", slug);

    // A tenant the origin serves, through this template: its set is fetched (the forged kid is then
    // unknown), and it is held from now on.
    let real = forged(&iss(&stack.tenant));
    assert_eq!(
        code_of(&stack, &real).await,
        (StatusCode::UNAUTHORIZED, "key_unknown".to_owned())
    );
    assert!(proxy.count() >= 1, "the real tenant's set was fetched");

    // Slugs the origin could never have are refused before anything is fetched.
    let before = proxy.count();
    for slug in ["UPPER", "-dash", "a.b", "a%2Fb", &"x".repeat(64), ""] {
        assert_refused(
            stack
                .edge_get("/api/orders", Some(&forged(&iss(slug))), &[])
                .await,
            StatusCode::UNAUTHORIZED,
            "issuer_untrusted",
        )
        .await;
    }
    assert_eq!(proxy.count(), before, "no fetch for an impossible slug");

    // The flood: 300 made-up tenants, then the same 300 again.
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let slugs: Vec<String> = (0..300).map(|i| format!("made-up-{run}-{i}")).collect();
    let started = Instant::now();
    let before = proxy.count();
    let mut answers = std::collections::BTreeMap::<(u16, String), usize>::new();
    for _round in 0..2 {
        for slug in &slugs {
            let (status, code) = code_of(&stack, &forged(&iss(slug))).await;
            *answers.entry((status.as_u16(), code)).or_default() += 1;
        }
    }
    let elapsed = started.elapsed();
    let fetches = proxy.count() - before;
    let bound = per_minute + (elapsed.as_secs_f64() * per_minute as f64 / 60.0).ceil() as usize;
    println!(
        "made-up tenant flood: 600 requests for 300 tenants in {elapsed:?}: {fetches} JWKS fetches \
         (bound {bound}: new_tenants_per_minute {per_minute} + its refill); answers {answers:?}"
    );
    assert!(fetches <= bound, "{fetches} fetches > {bound}");
    // The real tenant above took one first lookup of the budget.
    assert!(fetches >= per_minute - 1, "the budget is used: {fetches}");
    for ((status, code), n) in &answers {
        assert!(
            matches!(
                (*status, code.as_str()),
                (401, "issuer_untrusted") | (503, "keys_unavailable")
            ),
            "{n} answers {status} {code}"
        );
    }

    // A tenant held before the flood is not affected by it: its set is still held (no 503).
    let after = proxy.count();
    assert_eq!(
        code_of(&stack, &real).await,
        (StatusCode::UNAUTHORIZED, "key_unknown".to_owned())
    );
    assert_eq!(proxy.count(), after, "the held set served, nothing fetched");
}

/// A stand-in in front of the origin's JWKS endpoints (`SYSTEM_TENANT_PROXY_PORT`) that counts the
/// requests it passes on and passes the origin's status through (404 for a tenant it does not know).
struct CountingProxy {
    count: Arc<AtomicUsize>,
}

impl CountingProxy {
    fn start(origin: &str) -> CountingProxy {
        let port = var("SYSTEM_TENANT_PROXY_PORT");
        let listener = std::net::TcpListener::bind(format!("127.0.0.1:{port}"))
            .unwrap_or_else(|e| panic!("serving the counting proxy on port {port}: {e}"));
        let count = Arc::new(AtomicUsize::new(0));
        let (counter, origin) = (count.clone(), origin.to_owned());
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
                    let (counter, http, origin) = (counter.clone(), http.clone(), origin.clone());
                    tokio::spawn(async move { pass_on(stream, &http, &origin, &counter).await });
                }
            });
        });
        CountingProxy { count }
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

async fn pass_on(
    mut stream: tokio::net::TcpStream,
    http: &reqwest::Client,
    origin: &str,
    count: &AtomicUsize,
) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut request = vec![0u8; 8192];
    let n = stream.read(&mut request).await.unwrap_or(0);
    let head = String::from_utf8_lossy(&request[..n]);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    count.fetch_add(1, Ordering::SeqCst);
    let (status, cache_control, body) = match http.get(format!("{origin}{path}")).send().await {
        Ok(response) => {
            let status = response.status();
            let cache_control = response
                .headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok())
                .map(|v| format!("cache-control: {v}\r\n"))
                .unwrap_or_default();
            (
                status,
                cache_control,
                response.text().await.unwrap_or_default(),
            )
        }
        Err(_) => (StatusCode::BAD_GATEWAY, String::new(), "{}".to_owned()),
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
