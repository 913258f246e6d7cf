//! Rate limits in the real runtime, on the demo policy's limited routes (policies/routes.toml):
//! `/api/reports/**` (exact, 50 an hour per user) and `/public/search/**` (approximate, 10 at once
//! per client address).

use crate::support::{assert_refused, Stack};
use reqwest::{Response, StatusCode};
use std::collections::BTreeSet;

const APP: &str = "http://localhost:3000";

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{} lacks {name}", response.status()))
        .to_str()
        .expect("ascii header")
        .to_owned()
}

/// `r` of the one limit in a `RateLimit` field.
fn remaining(response: &Response) -> u64 {
    let field = header(response, "ratelimit");
    field
        .split(';')
        .find_map(|p| p.strip_prefix("r="))
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no r in {field:?}"))
}

/// Sends `n` requests at once, from `client_ip` when given; answers them all.
async fn concurrently(
    stack: &Stack,
    n: usize,
    path: &str,
    token: Option<&str>,
    client_ip: Option<&str>,
) -> Vec<Response> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (stack, path) = (stack.clone(), path.to_owned());
            let token = token.map(str::to_owned);
            let ip = client_ip.map(str::to_owned);
            tokio::spawn(async move {
                let headers: Vec<(&str, &str)> = ip
                    .iter()
                    .map(|ip| ("cf-connecting-ip", ip.as_str()))
                    .collect();
                stack.edge_get(&path, token.as_deref(), &headers).await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(n);
    for task in tasks {
        answers.push(task.await.expect("request task"));
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exact_limit_of_50_admits_exactly_50_of_200_concurrent_requests() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let token = user.session.access_token.clone();
    let answers = concurrently(&stack, 200, "/api/reports/monthly", Some(&token), None).await;
    let (admitted, refused): (Vec<_>, Vec<_>) = answers
        .into_iter()
        .partition(|r| r.status() == StatusCode::OK);
    println!(
        "exact tier: {} admitted, {} refused of 200 concurrent requests (limit 50)",
        admitted.len(),
        refused.len()
    );
    assert_eq!(admitted.len(), 50, "admitted");
    assert_eq!(refused.len(), 150, "refused");
    // Every admission saw its own count: the remaining values are 49, 48, …, 0, each once.
    let left: BTreeSet<u64> = admitted.iter().map(remaining).collect();
    assert_eq!(left, (0..50).collect::<BTreeSet<u64>>());
    for answer in &admitted {
        assert_eq!(
            header(answer, "ratelimit-policy"),
            r#""reports-per-user";q=50;w=3600"#
        );
    }
    for answer in refused {
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = header(&answer, "retry-after").parse().expect("seconds");
        assert!(
            (1..=72).contains(&retry),
            "one emission interval at most: {retry}"
        );
        assert_eq!(remaining(&answer), 0);
        assert_refused(answer, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
}

#[tokio::test]
async fn one_users_limit_is_not_anothers_and_forged_tokens_spend_nothing() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let other = stack.signed_in_user(&stack.tenant).await;
    // The user's own token with its signature broken: refused before the limit is looked at.
    let token = &user.session.access_token;
    let forged = format!("{}AAAA", &token[..token.len() - 4]);
    for _ in 0..3 {
        assert_refused(
            stack
                .edge_get("/api/reports/monthly", Some(&forged), &[])
                .await,
            StatusCode::UNAUTHORIZED,
            "signature_invalid",
        )
        .await;
    }
    let first = stack
        .edge_get("/api/reports/monthly", Some(token), &[])
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(remaining(&first), 49, "forgeries spent none of the quota");
    let theirs = stack
        .edge_get(
            "/api/reports/monthly",
            Some(&other.session.access_token),
            &[],
        )
        .await;
    assert_eq!(remaining(&theirs), 49, "another user counts apart");
}

#[tokio::test]
async fn a_limited_routes_fields_are_readable_cross_origin() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let answer = stack
        .edge_get(
            "/api/reports/weekly",
            Some(&user.session.access_token),
            &[("origin", APP)],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(header(&answer, "access-control-allow-origin"), APP);
    let exposed = header(&answer, "access-control-expose-headers").to_ascii_lowercase();
    for field in ["ratelimit", "ratelimit-policy", "retry-after"] {
        assert!(exposed.contains(field), "{field} not in {exposed:?}");
    }
    let unlimited = stack
        .edge_get(
            "/api/orders",
            Some(&user.session.access_token),
            &[("origin", APP)],
        )
        .await;
    assert!(
        unlimited.headers().get("ratelimit").is_none(),
        "routes without a limit carry no fields"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approximate_limit_in_one_isolate_admits_its_burst_exactly() {
    let stack = Stack::from_env();
    // wrangler dev keeps a CF-Connecting-IP the client sent (Cloudflare sets its own): a fresh
    // address per run gives this test a counter of its own.
    let ip = format!("2001:db8::{:x}", uuid::Uuid::new_v4().as_u128() as u32);
    let answers = concurrently(&stack, 25, "/public/search/books", None, Some(&ip)).await;
    let (admitted, refused): (Vec<_>, Vec<_>) = answers
        .into_iter()
        .partition(|r| r.status() == StatusCode::OK);
    println!(
        "approximate tier: {} admitted, {} refused of 25 concurrent requests (burst 10)",
        admitted.len(),
        refused.len()
    );
    assert_eq!(admitted.len(), 10);
    let left: BTreeSet<u64> = admitted.iter().map(remaining).collect();
    assert_eq!(left, (0..10).collect::<BTreeSet<u64>>());
    for answer in refused {
        assert_eq!(
            header(&answer, "ratelimit-policy"),
            r#""search-per-ip";q=60;w=3600"#
        );
        assert!(header(&answer, "retry-after").parse::<u64>().unwrap() >= 1);
        assert_refused(answer, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    }
    let elsewhere = stack
        .edge_get(
            "/public/search/books",
            None,
            &[("cf-connecting-ip", &format!("{ip}:1"))],
        )
        .await;
    assert_eq!(
        elsewhere.status(),
        StatusCode::OK,
        "another address counts apart"
    );
}
