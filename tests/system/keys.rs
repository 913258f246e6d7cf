//! Signing keys that rotate, end to end through the edge: rotation while the edge holds the old key
//! set, emergency revocation within its bound (at the isolate the push reaches and at another one
//! that holds the key), the JWKS endpoint down (the last good set keeps serving; a cold isolate has
//! the set from KV), and an EdDSA tenant.
//!
//! Each test creates its own tenant through the admin API (`SYSTEM_ADMIN_TOKEN`): the edge trusts
//! these issuers with the cache settings `xtask/src/checks.rs` gives them (`key_test_issuers`), or,
//! for the revocation test's tenant, through the origin's template issuer.
//! "Another isolate" is a second `wrangler dev` at "another location" ([`SecondEdge`]): it starts
//! from a copy of the first edge's local KV and Durable Object state, holds its own key sets and
//! caches, never receives the origin's pushes, and sees a KV entry written at the first location only
//! once the test propagates it ([`SecondEdge::propagate_kv`]), as KV would.

use crate::jwks_proxy::JwksProxy;
use crate::revocation_bounds::REVOCATION_CACHE_SECONDS;
use crate::support::{admin_token, assert_refused, system_var, Stack, User};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The origin's JWKS max-age in this stack: how long a `next` key waits before it may sign.
fn jwks_max_age() -> Duration {
    let secs: u64 = system_var("SYSTEM_JWKS_MAX_AGE_SECS")
        .parse()
        .expect("whole seconds");
    Duration::from_secs(secs)
}

impl Stack {
    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.origin))
            .bearer_auth(admin_token());
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin request");
        let status = response.status();
        let body: Value = response.json().await.expect("admin body");
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    async fn create_key_tenant(&self, slug: &str, signing_alg: &str) {
        self.admin(
            reqwest::Method::POST,
            "/v1/admin/tenants",
            Some(json!({ "slug": slug, "name": slug, "signing_alg": signing_alg })),
        )
        .await;
    }

    /// A tenant of the test's own, signing with `signing_alg`, and a user of it signed in.
    async fn key_tenant_user(&self, slug: &str, signing_alg: &str) -> User {
        self.create_key_tenant(slug, signing_alg).await;
        self.signed_in_user(slug).await
    }

    /// A new access token of `user`, signed by whichever key of the tenant signs now.
    async fn fresh_token(&self, user: &User) -> String {
        self.sign_in(&user.tenant, &user.email, &user.password)
            .await
            .access_token
    }

    /// Rotates now, once the next key has been published for the max-age; returns the new kid.
    async fn rotate(&self, slug: &str) -> String {
        tokio::time::sleep(jwks_max_age() + Duration::from_millis(500)).await;
        let body = self
            .admin(
                reqwest::Method::POST,
                &format!("/v1/admin/tenants/{slug}/keys/rotate"),
                None,
            )
            .await;
        assert_eq!(body["rotated"], true, "{body}");
        key_with(&body, "current")
    }

    /// The kid of the tenant's key in `status`.
    async fn kid(&self, slug: &str, status: &str) -> String {
        let body = self
            .admin(
                reqwest::Method::GET,
                &format!("/v1/admin/tenants/{slug}/keys"),
                None,
            )
            .await;
        key_with(&body, status)
    }
}

fn key_with(body: &Value, status: &str) -> String {
    body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["status"] == status)
        .and_then(|k| k["kid"].as_str())
        .unwrap_or_else(|| panic!("no {status} key in {body}"))
        .to_owned()
}

fn header_of(token: &str) -> Value {
    use base64::Engine as _;
    let header = token.split('.').next().expect("header");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .expect("header encoding"),
    )
    .expect("header json")
}

fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().expect("kid").to_owned()
}

async fn status_at(stack: &Stack, edge: &str, token: &str) -> StatusCode {
    stack
        .http
        .get(format!("{edge}/api/orders"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request to the edge")
        .status()
}

#[tokio::test]
async fn tokens_of_a_rotated_key_and_of_its_successors_verify_at_an_edge_holding_the_old_set() {
    let stack = Stack::from_env();
    let slug = "systest-keys-rotate";
    let user = stack.key_tenant_user(slug, "ES256").await;
    let token_a = user.session.access_token.clone();
    // The edge fetches the set now ({a, b}) and keeps it fresh for its minimum TTL (60 s): longer
    // than this test.
    assert_eq!(
        status_at(&stack, &stack.edge, &token_a).await,
        StatusCode::OK
    );

    // b was published with a: the edge has it already.
    let b = stack.rotate(slug).await;
    let token_b = stack.fresh_token(&user).await;
    assert_eq!(kid_of(&token_b), b);
    assert_eq!(
        status_at(&stack, &stack.edge, &token_b).await,
        StatusCode::OK
    );

    // c did not exist when the edge fetched: its first token makes the edge refetch (unknown kid).
    let c = stack.rotate(slug).await;
    let token_c = stack.fresh_token(&user).await;
    assert_eq!(kid_of(&token_c), c);
    assert_eq!(
        status_at(&stack, &stack.edge, &token_c).await,
        StatusCode::OK
    );

    // The retired keys stay published until their tokens have expired: theirs keep verifying.
    assert_eq!(stack.kid(slug, "current").await, c);
    for token in [&token_a, &token_b] {
        assert_eq!(status_at(&stack, &stack.edge, token).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn after_an_emergency_revocation_the_keys_tokens_are_refused_within_the_bound_everywhere() {
    let stack = Stack::from_env();
    let slug = "systest-keys-revoke";
    let user = stack.key_tenant_user(slug, "ES256").await;
    let token_a = user.session.access_token.clone();
    let a = kid_of(&token_a);
    let second = SecondEdge::start("revoke").await;
    // Both edges verify (and cache) the token, and hold {a, b}.
    for edge in [stack.edge.as_str(), second.url.as_str()] {
        assert_eq!(status_at(&stack, edge, &token_a).await, StatusCode::OK);
        assert_eq!(status_at(&stack, edge, &token_a).await, StatusCode::OK);
    }

    // The push reaches the first edge before the origin answers 200 (202 would mean not yet).
    let response = stack
        .http
        .post(format!(
            "{}/v1/admin/tenants/{slug}/keys/{a}/revoke",
            stack.origin
        ))
        .bearer_auth(admin_token())
        .send()
        .await
        .expect("revoke");
    assert_eq!(response.status(), StatusCode::OK);

    // The edge that got the push refuses at once, its cached verification included.
    let first = stack.edge_get("/api/orders", Some(&token_a), &[]).await;
    assert_eq!(first.status(), StatusCode::UNAUTHORIZED);

    // The other one still holds a in its set and a cached verification, and until KV brings it the
    // revocation it keeps accepting the token...
    assert_eq!(
        status_at(&stack, &second.url, &token_a).await,
        StatusCode::OK
    );
    // ...once KV has the entry at its location, it refuses within REVOCATION_CACHE_SECONDS.
    let propagating = Instant::now();
    second.propagate_kv("REVOCATIONS", "revoked-key:");
    let revoked_at = Instant::now();
    println!(
        "KV propagation to the other edge (wrangler kv, by the test) took {:?}",
        revoked_at - propagating
    );
    let bound = Duration::from_secs(REVOCATION_CACHE_SECONDS + 1);
    let refused_after = loop {
        let response = stack
            .http
            .get(format!("{}/api/orders", second.url))
            .bearer_auth(&token_a)
            .send()
            .await
            .expect("request to the second edge");
        if response.status() == StatusCode::UNAUTHORIZED {
            let elapsed = revoked_at.elapsed();
            let body: Value = response.json().await.expect("error body");
            assert_eq!(body["error"]["code"], "key_revoked", "{body}");
            break elapsed;
        }
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            revoked_at.elapsed() < bound,
            "a revoked key's token still passes {bound:?} after the revocation"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!("key revocation seen by the other edge after {refused_after:?} (bound {bound:?})");

    // The next key signs now, at both edges (they published it with a).
    let token_b = stack.fresh_token(&user).await;
    assert_ne!(kid_of(&token_b), a);
    for edge in [stack.edge.as_str(), second.url.as_str()] {
        assert_eq!(status_at(&stack, edge, &token_b).await, StatusCode::OK);
    }
}

#[tokio::test]
async fn with_the_jwks_endpoint_down_the_edge_serves_its_last_good_set_and_a_cold_isolate_has_it_from_kv(
) {
    let stack = Stack::from_env();
    let slug = "systest-keys-outage";
    // The edge fetches this tenant's keys through it (`key_test_issuers` in xtask/src/checks.rs).
    let proxy = JwksProxy::start("SYSTEM_JWKS_PROXY_PORT", &stack.origin);
    let user = stack.key_tenant_user(slug, "ES256").await;
    let token = user.session.access_token.clone();
    assert_eq!(status_at(&stack, &stack.edge, &token).await, StatusCode::OK);
    assert!(proxy.passed_on() >= 1, "the edge fetched through the proxy");

    // The issuer's JWKS fails from now on; the edge's set (fresh for 1 s) goes stale.
    proxy.fail();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let refused_before = proxy.refused();
    assert_eq!(status_at(&stack, &stack.edge, &token).await, StatusCode::OK);
    // It did try to refresh (in the background), and kept serving when that failed.
    let tried = wait_until(|| proxy.refused() > refused_before).await;
    assert!(tried, "the edge never tried to refresh its stale set");
    assert_eq!(status_at(&stack, &stack.edge, &token).await, StatusCode::OK);

    // A cold isolate: nothing in memory, the issuer down; the set persisted in KV serves.
    let passed_on_before = proxy.passed_on();
    let cold = SecondEdge::start("cold").await;
    assert_eq!(status_at(&stack, &cold.url, &token).await, StatusCode::OK);
    assert_eq!(
        proxy.passed_on(),
        passed_on_before,
        "the issuer served nothing meanwhile"
    );
}

#[tokio::test]
async fn an_eddsa_tenants_tokens_verify_at_the_edge() {
    let stack = Stack::from_env();
    let slug = "systest-keys-eddsa";
    let user = stack.key_tenant_user(slug, "EdDSA").await;
    let token = &user.session.access_token;
    assert_eq!(header_of(token)["alg"], "EdDSA");
    assert_eq!(status_at(&stack, &stack.edge, token).await, StatusCode::OK);
    // A forged EdDSA signature is refused like any other.
    let signature_at = token.rfind('.').expect("three parts") + 1;
    let mut forged = token.clone();
    let first = if token[signature_at..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    forged.replace_range(signature_at..signature_at + 1, first);
    assert_refused(
        stack.edge_get("/api/orders", Some(&forged), &[]).await,
        StatusCode::UNAUTHORIZED,
        "signature_invalid",
    )
    .await;
}

/// Polls `done` for up to 10 s.
async fn wait_until(done: impl Fn() -> bool) -> bool {
    for _ in 0..100 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

/// A second `wrangler dev` of the same Worker on the same local KV and Durable Object state: another
/// isolate, with its own memory, that the origin's pushes never reach. Stopped on drop.
struct SecondEdge {
    url: String,
    /// The first edge's local state, and this one's copy of it.
    first_state: PathBuf,
    state: PathBuf,
    _service: xtask::process::Service,
}

impl SecondEdge {
    async fn start(name: &str) -> SecondEdge {
        let state = PathBuf::from(system_var("SYSTEM_EDGE_STATE"));
        let run_dir = state
            .parent()
            .expect("the run's state directory")
            .to_owned();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let config = second_config(&root, &run_dir, name);
        let own_state = run_dir.join(format!("wrangler-state-{name}"));
        copy_dir(&state, &own_state);
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port()
        };
        let (port, inspector) = (free(), free());
        let mut cmd = std::process::Command::new(root.join("node_modules/.bin/wrangler"));
        cmd.current_dir(&root)
            .args([
                "dev",
                "--ip",
                "127.0.0.1",
                "--show-interactive-dev-session=false",
            ])
            .arg("--config")
            .arg(&config)
            .args(["--port", &port.to_string()])
            .args(["--inspector-port", &inspector.to_string()])
            .arg("--persist-to")
            .arg(&own_state)
            .arg("--env-file")
            .arg(run_dir.join("edge.env"));
        xtask::edge::offline_env(&root, &mut cmd);
        let log = run_dir.join(format!("edge-{name}.log"));
        let mut service =
            xtask::process::Service::spawn(&format!("second edge ({name})"), cmd, &log)
                .expect("starting a second wrangler dev");
        let url = format!("http://127.0.0.1:{port}");
        let ready = format!("{url}/__auth/health");
        tokio::task::spawn_blocking(move || {
            xtask::process::wait_ready(&mut service, &ready, &log, Duration::from_secs(60))
                .expect("the second edge never became ready");
            service
        })
        .await
        .map(|service| SecondEdge {
            url,
            first_state: state,
            state: own_state,
            _service: service,
        })
        .expect("waiting for the second edge")
    }
}

impl SecondEdge {
    /// Copies the entries of KV namespace `binding` whose keys start with `prefix` from the first
    /// edge's location to this one's (what KV's propagation does between locations).
    fn propagate_kv(&self, binding: &str, prefix: &str) {
        let listed = wrangler_kv(
            &self.first_state,
            &["list", "--binding", binding, "--prefix", prefix],
        );
        let keys: Vec<Value> = serde_json::from_str(&listed).expect("wrangler kv key list json");
        assert!(
            !keys.is_empty(),
            "nothing under {prefix} in {binding} to propagate"
        );
        for key in keys {
            let name = key["name"].as_str().expect("key name");
            let value = wrangler_kv(&self.first_state, &["get", name, "--binding", binding]);
            wrangler_kv(
                &self.state,
                &["put", name, value.trim_end(), "--binding", binding],
            );
        }
    }
}

/// `wrangler kv key <args> --local --persist-to <state>`; its standard output.
fn wrangler_kv(state: &Path, args: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = std::process::Command::new(root.join("node_modules/.bin/wrangler"))
        .current_dir(&root)
        .args(["kv", "key"])
        .args(args)
        .arg("--local")
        .arg("--persist-to")
        .arg(state)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running wrangler kv key");
    assert!(
        output.status.success(),
        "wrangler kv key {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// Copies a directory tree (the edge's local state: KV and Durable Object storage).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the state copy");
    for entry in std::fs::read_dir(from).expect("reading the edge state") {
        let entry = entry.expect("a state entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying the edge state");
        }
    }
}

/// The stack's `wrangler.toml` without its `[build]` hook (the bundle is built; a build would wait
/// for the cargo lock this test run holds) and with `main` made absolute, written into the run's
/// directory.
fn second_config(root: &Path, run_dir: &Path, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(root.join("wrangler.toml")).expect("reading wrangler.toml");
    let mut config: toml::Table = text.parse().expect("wrangler.toml parses");
    config.remove("build");
    let main = config
        .get("main")
        .and_then(|m| m.as_str())
        .expect("main")
        .to_owned();
    let absolute = root
        .join(main)
        .canonicalize()
        .expect("the entry module exists");
    config.insert(
        "main".to_owned(),
        toml::Value::String(absolute.display().to_string()),
    );
    let path = run_dir.join(format!("wrangler-{name}.toml"));
    std::fs::write(&path, toml::to_string(&config).expect("config serialises"))
        .expect("writing the second edge's config");
    path
}
