//! Issue 10 §1.5: the tenant forwarded in `x-auth-tenant`, and the one whose revocations are
//! consulted, is bound to the token's issuer, never taken from a `tid` any trusted issuer can write.

use crate::issuer::{push_revocation, test_issuer, ASSIGNED_TENANT, PUBLISHED_TENANT};
use crate::support::{assert_refused, claims_of, Stack};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn forwarded_tenant(stack: &Stack, token: &str) -> Option<String> {
    let response = stack.edge_get("/api/orders", Some(token), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let echoed: Value = response.json().await.expect("echo");
    echoed["headers"]["x-auth-tenant"]
        .as_str()
        .map(str::to_owned)
}

#[tokio::test]
async fn a_third_party_token_naming_one_of_our_tenants_is_not_taken_for_it() {
    let stack = Stack::from_env();
    let ours = stack.signed_in_user(&stack.tenant).await;
    let victim = claims_of(&ours.session.access_token)["tid"]
        .as_str()
        .expect("tid")
        .to_owned();
    let issuer = test_issuer();
    let sid = format!("third-party-{}", uuid::Uuid::new_v4());

    let unbound = issuer.token(json!({ "tid": victim, "sid": sid }));
    assert_eq!(forwarded_tenant(&stack, &unbound).await, None);
    let assigned = issuer.token(json!({
        "iss": format!("{}/assigned", issuer.issuer), "tid": victim, "sid": sid,
    }));
    assert_eq!(
        forwarded_tenant(&stack, &assigned).await.as_deref(),
        Some(ASSIGNED_TENANT)
    );

    // Revoking the session id under the victim tenant touches neither token; under the tenant each
    // issuer is bound to, it revokes that one alone.
    assert_eq!(
        push_revocation(&stack, &victim, &sid).await,
        StatusCode::NO_CONTENT
    );
    for token in [&unbound, &assigned] {
        let response = stack.edge_get("/api/strict/orders", Some(token), &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        push_revocation(&stack, ASSIGNED_TENANT, &sid).await,
        StatusCode::NO_CONTENT
    );
    assert_refused(
        stack
            .edge_get("/api/strict/orders", Some(&assigned), &[])
            .await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    let response = stack
        .edge_get("/api/strict/orders", Some(&unbound), &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_origin_issuers_token_whose_tid_is_another_tenant_is_refused() {
    let stack = Stack::from_env();
    let issuer = test_issuer();
    let origin_like = format!("{}/origin", issuer.issuer);
    let own = issuer.token(json!({ "iss": origin_like, "tid": PUBLISHED_TENANT, "sid": "s1" }));
    assert_eq!(
        forwarded_tenant(&stack, &own).await.as_deref(),
        Some(PUBLISHED_TENANT)
    );
    for tid in [json!("another-tenant"), Value::Null] {
        let mut claims = json!({ "iss": origin_like, "sid": "s1" });
        if !tid.is_null() {
            claims["tid"] = tid;
        }
        for path in ["/api/orders", "/api/strict/orders"] {
            assert_refused(
                stack
                    .edge_get(path, Some(&issuer.token(claims.clone())), &[])
                    .await,
                StatusCode::UNAUTHORIZED,
                "tenant_mismatch",
            )
            .await;
        }
    }
}
