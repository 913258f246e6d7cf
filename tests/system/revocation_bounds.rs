//! Issue 10 §2: the revocation bound of each route mode, measured end to end from the moment the
//! origin answers. Strict routes: the first request after the answer is refused. Eventual routes:
//! refused within `REVOCATION_CACHE_SECONDS` (the isolate's reuse of a KV answer) plus KV's
//! propagation, which locally is nothing: the test allows one second for it. Each test primes both
//! routes first, so that every isolate holds a fresh "not revoked" answer: the worst case.

use crate::support::{admin_token, assert_refused, claims_of, system_var, Stack};
use auth_core::sessions::SessionKey;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The edge's `REVOCATION_CACHE_SECONDS` under `cargo xtask test` (the default).
pub(crate) const REVOCATION_CACHE_SECONDS: u64 = 5;
const KV_PROPAGATION_ALLOWANCE: Duration = Duration::from_secs(1);

/// After the origin answered at `answered`: asserts that every token is refused on the strict
/// route at once and on the eventual route within the bound; answers the eventual route's delay
/// for the slowest token.
pub(crate) async fn assert_within_bounds(
    stack: &Stack,
    tokens: &[String],
    answered: Instant,
) -> Duration {
    for token in tokens {
        assert_refused(
            stack.edge_get("/api/strict/orders", Some(token), &[]).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
    }
    assert_eventual_within_bound(stack, tokens, answered).await
}

/// After the origin answered at `answered`: asserts that the eventual route refuses every token
/// within the bound; answers the delay for the slowest token.
pub(crate) async fn assert_eventual_within_bound(
    stack: &Stack,
    tokens: &[String],
    answered: Instant,
) -> Duration {
    let bound = Duration::from_secs(REVOCATION_CACHE_SECONDS) + KV_PROPAGATION_ALLOWANCE;
    let mut slowest = Duration::ZERO;
    for token in tokens {
        loop {
            let response = stack.edge_get("/api/orders", Some(token), &[]).await;
            let elapsed = answered.elapsed();
            if response.status() == StatusCode::UNAUTHORIZED {
                assert_refused(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
                slowest = slowest.max(elapsed);
                break;
            }
            assert_eq!(response.status(), StatusCode::OK);
            assert!(
                elapsed <= bound,
                "the eventual route still accepts a revoked token after {elapsed:?} (bound {bound:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    slowest
}

pub(crate) async fn prime(stack: &Stack, tokens: &[String]) {
    for token in tokens {
        for path in ["/api/orders", "/api/strict/orders"] {
            let response = stack.edge_get(path, Some(token), &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "{path} before");
        }
    }
}

/// Waits out the isolates' reuse of KV answers, then asserts that every token is refused on both
/// route modes.
pub(crate) async fn assert_refused_on_both_routes_once_kv_is_read_again(
    stack: &Stack,
    tokens: &[String],
) {
    tokio::time::sleep(Duration::from_secs(REVOCATION_CACHE_SECONDS + 1)).await;
    for token in tokens {
        for path in ["/api/orders", "/api/strict/orders"] {
            assert_refused(
                stack.edge_get(path, Some(token), &[]).await,
                StatusCode::UNAUTHORIZED,
                "token_revoked",
            )
            .await;
        }
    }
}

/// Deletes the KV deny entries of the sessions the tokens name (`tid`, `sid`), as at a location
/// they have not reached.
pub(crate) fn forget_deny_entries(stack: &Stack, tokens: &[String]) {
    for token in tokens {
        let claims = claims_of(token);
        let key = SessionKey {
            tenant: claims["tid"].as_str().expect("tid"),
            session: claims["sid"].as_str().expect("sid"),
        };
        stack.forget_in_kv("REVOCATIONS", &key.deny_entry_key());
    }
}

/// Lets the clock reach the next second: a not-before from now on covers the tokens issued so far
/// on its own (one of its own second is covered by its session's entry only).
pub(crate) async fn into_the_next_second() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn a_sign_out_reaches_its_session_within_each_route_modes_bound_and_no_other_session() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let other = stack.sign_in_again(&user).await;
    let tokens = [user.session.access_token.clone()];
    prime(&stack, &[tokens[0].clone(), other.access_token.clone()]).await;

    let status = stack.sign_out(&user, &user.session).await;
    let answered = Instant::now();
    assert_eq!(status, StatusCode::NO_CONTENT, "the edge acknowledged");
    let delay = assert_within_bounds(&stack, &tokens, answered).await;
    println!("one session: eventual route refused after {delay:?}; strict at once");
    prime(&stack, &[other.access_token]).await;
}

#[tokio::test]
async fn sign_out_everywhere_reaches_every_session_within_each_route_modes_bound() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let mut tokens = vec![user.session.access_token.clone()];
    for _ in 0..2 {
        tokens.push(stack.sign_in_again(&user).await.access_token);
    }
    prime(&stack, &tokens).await;

    let response = stack.sign_out_everywhere(&user, &tokens[0]).await;
    let answered = Instant::now();
    assert_eq!(response.status(), StatusCode::OK, "the edge acknowledged");
    let delay = assert_within_bounds(&stack, &tokens, answered).await;
    println!("sign out everywhere: eventual route refused after {delay:?}; strict at once");
}

#[tokio::test]
async fn a_tenants_not_before_reaches_every_users_sessions_within_each_route_modes_bound() {
    let stack = Stack::from_env();
    let tenant = system_var("SYSTEM_BREACHED_TENANT");
    let mut tokens = Vec::new();
    for _ in 0..2 {
        tokens.push(stack.signed_in_user(&tenant).await.session.access_token);
    }
    prime(&stack, &tokens).await;
    // Checked below with their sessions' entries gone.
    into_the_next_second().await;

    let response = stack
        .http
        .put(format!(
            "{}/v1/admin/tenants/{tenant}/sessions/not-before",
            stack.origin
        ))
        .bearer_auth(admin_token())
        .json(&json!({}))
        .send()
        .await
        .expect("tenant not-before");
    let answered = Instant::now();
    assert_eq!(response.status(), StatusCode::OK, "the edge acknowledged");
    let body: Value = response.json().await.expect("json body");
    assert!(body["revoked"].as_i64().is_some_and(|n| n >= 2), "{body}");
    let delay = assert_within_bounds(&stack, &tokens, answered).await;
    println!("tenant not-before: eventual route refused after {delay:?}; strict at once");

    // A session opened after the not-before works at once, on both route modes.
    let later = stack.signed_in_user(&tenant).await;
    prime(&stack, std::slice::from_ref(&later.session.access_token)).await;

    // With the sessions' deny entries gone from KV (as at a location they have not reached), the
    // eventual route still refuses the old tokens once its isolate reads KV again: the tenant's
    // not-before alone covers them.
    forget_deny_entries(&stack, &tokens);
    assert_refused_on_both_routes_once_kv_is_read_again(&stack, &tokens).await;
    prime(&stack, &[later.session.access_token]).await;
}
