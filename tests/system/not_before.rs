//! Issue 10 §2: the not-before levels at the edge, each shown to work alone, and the tenant object's
//! record of live sessions.
//!
//! The test issuer's tokens name sessions the origin never revoked one by one, so when they are
//! refused it is the not-before that refuses them, in KV (eventual routes) and in the tenant's object
//! (strict routes). The origin's own sign-out everywhere is shown to hold with the per-session deny
//! entries gone from KV.

use crate::issuer::{now_unix, push_not_before, push_signed, test_issuer};
use crate::revocation_bounds::{
    assert_eventual_within_bound, assert_refused_on_both_routes_once_kv_is_read_again,
    assert_within_bounds, forget_deny_entries, into_the_next_second, prime,
};
use crate::support::{assert_refused, claims_of, Stack};
use auth_core::notice::NotBeforeNotice;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn a_users_not_before_alone_refuses_their_older_tokens_on_both_route_modes_and_no_newer_one()
{
    let stack = Stack::from_env();
    let issuer = test_issuer();
    // A subject of its own: other tests share the issuer.
    let user = format!("third-party-user-{}", uuid::Uuid::new_v4());
    let now = now_unix();
    let older: Vec<String> = (0..2)
        .map(|_| {
            issuer.token(json!({"sub": user, "sid": uuid::Uuid::new_v4().to_string(),
                "iat": now - 5}))
        })
        .collect();
    let someone_else = issuer.token(
        json!({"sid": uuid::Uuid::new_v4().to_string(), "iat": now - 5,
            "sub": format!("bystander-{}", uuid::Uuid::new_v4())}),
    );
    prime(&stack, &older).await;

    let notice = NotBeforeNotice {
        tenant_id: issuer.issuer.clone(),
        user_id: Some(user.clone()),
        not_before: now,
        expires_at: now + 600,
    };
    let answered = push_not_before(&stack, &notice).await;
    let delay = assert_within_bounds(&stack, &older, answered).await;
    println!("user not-before alone: eventual route refused after {delay:?}; strict at once");

    // Issued at the not-before's second or later: accepted, and so is another user's older token.
    let newer = issuer.token(json!({"sub": user, "sid": uuid::Uuid::new_v4().to_string(),
        "iat": now}));
    prime(&stack, &[newer, someone_else]).await;

    // A late, older notice cannot pull the not-before back.
    let older_notice = NotBeforeNotice {
        not_before: now - 60,
        ..notice
    };
    push_not_before(&stack, &older_notice).await;
    assert_refused_on_both_routes_once_kv_is_read_again(&stack, &older).await;
}

#[tokio::test]
async fn a_token_without_a_session_older_than_its_users_not_before_is_refused_on_the_eventual_route(
) {
    let stack = Stack::from_env();
    let issuer = test_issuer();
    // Third-party access tokens mostly carry no `sid`: only the user's not-before can refuse them.
    let user = format!("sessionless-user-{}", uuid::Uuid::new_v4());
    let now = now_unix();
    let older = issuer.token(json!({"sub": user, "iat": now - 5}));
    let someone_else = issuer.token(
        json!({"sub": format!("sessionless-bystander-{}", uuid::Uuid::new_v4()), "iat": now - 5}),
    );
    for token in [&older, &someone_else] {
        let response = stack.edge_get("/api/orders", Some(token), &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "eventual route before");
        // A strict route promises that a revoked session is refused at once: no session, no entry.
        assert_refused(
            stack.edge_get("/api/strict/orders", Some(token), &[]).await,
            StatusCode::UNAUTHORIZED,
            "claims_invalid",
        )
        .await;
    }

    let notice = NotBeforeNotice {
        tenant_id: issuer.issuer.clone(),
        user_id: Some(user.clone()),
        not_before: now,
        expires_at: now + 600,
    };
    let answered = push_not_before(&stack, &notice).await;
    let delay = assert_eventual_within_bound(&stack, std::slice::from_ref(&older), answered).await;
    println!("user not-before, token without sid: eventual route refused after {delay:?}");

    // Issued at the not-before's second: accepted, and so is another user's older token.
    let newer = issuer.token(json!({"sub": user, "iat": now}));
    for token in [&newer, &someone_else] {
        let response = stack.edge_get("/api/orders", Some(token), &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "eventual route after");
    }
}

/// The tenant object's sessions of `user_id`, as the edge's signed query answers them.
async fn sessions_at_the_edge(stack: &Stack, tenant_id: &str, user_id: &str) -> Vec<Value> {
    let response = push_signed(
        stack,
        "/__auth/sessions/query",
        &json!({"tenant_id": tenant_id, "user_id": user_id}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json body");
    body["sessions"].as_array().expect("sessions").clone()
}

#[tokio::test]
async fn the_tenants_object_lists_sessions_as_the_origin_opens_and_signs_them_out_everywhere() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let second = stack.sign_in_again(&user).await;
    let tenant_id = claims_of(&second.access_token)["tid"]
        .as_str()
        .expect("tid")
        .to_owned();
    let tokens = [
        user.session.access_token.clone(),
        second.access_token.clone(),
    ];
    prime(&stack, &tokens).await;

    // Sign-ins are reported to the object in the background: wait for both, up to 30 s (a loaded
    // machine can take seconds; a push that failed waits for the origin's retry pass, every 5 s).
    let mut listed = Vec::new();
    for _ in 0..300 {
        listed = sessions_at_the_edge(&stack, &tenant_id, &user.id).await;
        if listed.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed.len(), 2, "{listed:?}");
    // Checked below with their sessions' entries gone.
    into_the_next_second().await;
    let origin_list: Value = stack
        .http
        .get(stack.tenant_url(&user.tenant, "/v1/sessions"))
        .bearer_auth(&second.access_token)
        .send()
        .await
        .expect("list my sessions")
        .json()
        .await
        .expect("json body");
    for session in &listed {
        assert_eq!(session["user_id"], user.id.as_str());
        assert_eq!(session["revoked"], false);
        let at_origin = origin_list["sessions"]
            .as_array()
            .expect("sessions")
            .iter()
            .find(|s| s["id"] == session["session_id"])
            .unwrap_or_else(|| panic!("{session} is not one of the origin's"));
        assert_eq!(session["client"], at_origin["client"]);
    }

    let response = stack.sign_out_everywhere(&user, &second.access_token).await;
    assert_eq!(response.status(), StatusCode::OK, "the edge acknowledged");
    for session in sessions_at_the_edge(&stack, &tenant_id, &user.id).await {
        assert_eq!(session["revoked"], true, "{session}");
    }

    // With the sessions' deny entries gone from KV, the user's not-before alone refuses them on
    // the eventual route once the isolate reads KV again.
    forget_deny_entries(&stack, &tokens);
    assert_refused_on_both_routes_once_kv_is_read_again(&stack, &tokens).await;

    // Signing in again works.
    let again = stack.sign_in_again(&user).await;
    prime(&stack, &[again.access_token]).await;
}
