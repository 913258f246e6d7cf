//! Issue 10 §3, tenants without a redeploy: the edge trusts the origin's tenants through a template
//! issuer (`{origin}/t/{tenant}`, `xtask/src/stack.rs`), so a tenant created while the stack runs is
//! usable at once; and a flood of made-up tenants costs a bounded number of JWKS fetches, counted at
//! a proxy in front of a second template (`SYSTEM_FLOOD_TEMPLATE`, whose keys are fetched through
//! `SYSTEM_TENANT_PROXY_PORT` with a budget of `SYSTEM_FLOOD_NEW_TENANTS_PER_MINUTE` first lookups).

use crate::jwks_proxy::JwksProxy;
use crate::support::{admin_token, assert_refused, claims_of, system_var, Stack};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Instant;

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
        .bearer_auth(admin_token())
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
    let proxy = JwksProxy::start("SYSTEM_TENANT_PROXY_PORT", &stack.origin);
    let template = system_var("SYSTEM_FLOOD_TEMPLATE");
    let per_minute: usize = system_var("SYSTEM_FLOOD_NEW_TENANTS_PER_MINUTE")
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
    assert!(proxy.passed_on() >= 1, "the real tenant's set was fetched");

    // Slugs the origin could never have are refused before anything is fetched.
    let before = proxy.passed_on();
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
    assert_eq!(proxy.passed_on(), before, "no fetch for an impossible slug");

    // The flood: 300 made-up tenants, then the same 300 again.
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let slugs: Vec<String> = (0..300).map(|i| format!("made-up-{run}-{i}")).collect();
    let started = Instant::now();
    let before = proxy.passed_on();
    let mut answers = std::collections::BTreeMap::<(u16, String), usize>::new();
    for _round in 0..2 {
        for slug in &slugs {
            let (status, code) = code_of(&stack, &forged(&iss(slug))).await;
            *answers.entry((status.as_u16(), code)).or_default() += 1;
        }
    }
    let elapsed = started.elapsed();
    let fetches = proxy.passed_on() - before;
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
    let after = proxy.passed_on();
    assert_eq!(
        code_of(&stack, &real).await,
        (StatusCode::UNAUTHORIZED, "key_unknown".to_owned())
    );
    assert_eq!(
        proxy.passed_on(),
        after,
        "the held set served, nothing fetched"
    );
}
