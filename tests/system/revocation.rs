//! Sign-out takes effect at the edge: the origin revokes the session and pushes the revocation
//! before the DELETE returns.

use crate::issuer::{now_unix, push_revocation, test_issuer};
use crate::support::{assert_refused, claims_of, system_var, Stack};
use auth_core::sessions::SessionKey;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn after_sign_out_the_token_is_refused_on_normal_and_strict_routes() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let token = user.session.access_token.clone();
    assert_eq!(
        stack
            .edge_get("/api/orders", Some(&token), &[])
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        stack
            .edge_get("/api/strict/orders", Some(&token), &[])
            .await
            .status(),
        StatusCode::OK
    );

    assert_eq!(
        stack.sign_out(&user, &user.session).await,
        StatusCode::NO_CONTENT
    );

    assert_refused(
        stack.edge_get("/api/orders", Some(&token), &[]).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert_refused(
        stack
            .edge_get("/api/strict/orders", Some(&token), &[])
            .await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn signing_out_one_session_leaves_the_users_other_sessions_working() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let second = stack
        .sign_in(&user.tenant, &user.email, &user.password)
        .await;
    assert_eq!(
        stack.sign_out(&user, &user.session).await,
        StatusCode::NO_CONTENT
    );

    assert_refused(
        stack
            .edge_get("/api/strict/orders", Some(&user.session.access_token), &[])
            .await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let response = stack
        .edge_get("/api/strict/orders", Some(&second.access_token), &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn after_sign_out_everywhere_every_token_of_the_user_is_refused_on_both_route_modes() {
    let stack = Stack::from_env();
    let user = stack.signed_in_user(&stack.tenant).await;
    let mut sessions = vec![user.session.clone()];
    for _ in 0..2 {
        sessions.push(
            stack
                .sign_in(&user.tenant, &user.email, &user.password)
                .await,
        );
    }
    let other = stack.signed_in_user(&stack.tenant).await;
    for session in sessions.iter().chain([&other.session]) {
        for path in ["/api/orders", "/api/strict/orders"] {
            let response = stack.edge_get(path, Some(&session.access_token), &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "{path} before");
        }
    }

    let response = stack
        .http
        .delete(stack.tenant_url(&user.tenant, "/v1/sessions"))
        .bearer_auth(&sessions[1].access_token)
        .send()
        .await
        .expect("sign out everywhere");
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("json body");
    assert_eq!(body["revoked"], 3, "{body}");

    for session in &sessions {
        for path in ["/api/orders", "/api/strict/orders"] {
            assert_refused(
                stack.edge_get(path, Some(&session.access_token), &[]).await,
                StatusCode::UNAUTHORIZED,
                "token_revoked",
            )
            .await;
        }
    }
    for path in ["/api/orders", "/api/strict/orders"] {
        let response = stack
            .edge_get(path, Some(&other.session.access_token), &[])
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "another user keeps access"
        );
    }
}

/// Issue 10 §1.3 and §1.4. A third-party `sid` can be any string: the tenant's object must find it
/// (the edge used to put it in the object's URL percent-encoded, and the object compared the encoded
/// path with raw ids, so it never did). And strict routes must take the object's word even where KV
/// does not know (KV lags by a minute between locations; here it is emptied).
#[tokio::test]
async fn a_revoked_session_whose_id_holds_reserved_characters_is_refused_on_strict_routes_even_when_kv_forgot_it(
) {
    let stack = Stack::from_env();
    let issuer = test_issuer();
    let sid = format!("third/party?sid=%2F{}#x y&+", uuid::Uuid::new_v4());
    let token = issuer.token(json!({ "sid": sid }));
    for path in ["/api/orders", "/api/strict/orders"] {
        let response = stack.edge_get(path, Some(&token), &[]).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{path} before revocation"
        );
    }

    // A third-party issuer is its own tenant.
    assert_eq!(
        push_revocation(&stack, &issuer.issuer, &sid).await,
        StatusCode::NO_CONTENT
    );
    for path in ["/api/orders", "/api/strict/orders"] {
        assert_refused(
            stack.edge_get(path, Some(&token), &[]).await,
            StatusCode::UNAUTHORIZED,
            "token_revoked",
        )
        .await;
    }

    let deny_entry = SessionKey {
        tenant: &issuer.issuer,
        session: &sid,
    }
    .deny_entry_key();
    stack.forget_in_kv("REVOCATIONS", &deny_entry);
    // Eventual routes go by KV, so they accept the token again once the isolate's memo of KV's
    // answer lapses: proof that only the object still knows.
    let eventual_accepts = async {
        loop {
            let response = stack.edge_get("/api/orders", Some(&token), &[]).await;
            if response.status() == StatusCode::OK {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), eventual_accepts)
        .await
        .expect("the eventual route accepts the token once KV has forgotten the revocation");
    assert_refused(
        stack
            .edge_get("/api/strict/orders", Some(&token), &[])
            .await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
}

/// Issue 10 §1.1. A token passes the edge until its expiry plus the issuer's leeway, so every record
/// of its revocation must outlive that: the KV deny entry (eventual routes; KV keeps nothing under
/// 60 s) and the tenant object's entry (strict routes; forgotten by its alarm). The short-lived tenant
/// issues 10 s tokens and the edge gives them 90 s of leeway: 65 s after the sign-out the token is
/// past its expiry and past KV's minimum TTL, and still inside the leeway.
#[tokio::test]
async fn a_revoked_token_stays_refused_after_its_expiry_for_as_long_as_the_leeway_lets_it_pass() {
    const TOKEN_TTL_SECS: i64 = 10;
    const EDGE_LEEWAY_SECS: i64 = 90;
    const PROBE_AFTER_REVOCATION_SECS: i64 = 65;
    let stack = Stack::from_env();
    let tenant = system_var("SYSTEM_SHORT_LIVED_TENANT");
    let user = stack.signed_in_user(&tenant).await;
    let kept = stack
        .sign_in(&user.tenant, &user.email, &user.password)
        .await;
    let claims = claims_of(&user.session.access_token);
    let exp = claims["exp"].as_i64().expect("exp");
    assert_eq!(exp - claims["iat"].as_i64().expect("iat"), TOKEN_TTL_SECS);

    assert_eq!(
        stack.sign_out(&user, &user.session).await,
        StatusCode::NO_CONTENT
    );
    let probe_at = now_unix() + PROBE_AFTER_REVOCATION_SECS;
    assert!(
        probe_at > exp && probe_at + 5 < exp + EDGE_LEEWAY_SECS,
        "the probe falls between the expiry and the end of the leeway"
    );
    let wait = u64::try_from(probe_at - now_unix()).unwrap_or(0);
    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;

    let mut accepted = Vec::new();
    for path in ["/api/orders", "/api/strict/orders"] {
        let response = stack.edge_get(path, Some(&kept.access_token), &[]).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{path}: an expired token of a live session still passes inside the leeway"
        );
        let response = stack
            .edge_get(path, Some(&user.session.access_token), &[])
            .await;
        if response.status() != StatusCode::UNAUTHORIZED {
            accepted.push(path);
            continue;
        }
        assert_refused(response, StatusCode::UNAUTHORIZED, "token_revoked").await;
    }
    assert!(
        accepted.is_empty(),
        "the revoked token passed on {accepted:?}: its revocation was forgotten"
    );
}
