//! An OpenID Connect client nobody here wrote (the `openidconnect` crate) completes the code flow
//! against the origin knowing only the issuer: everything else comes from the discovery document.

use crate::helpers::spawn_self_addressed;
use crate::oauth::{register, sign_in_on_pages};
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse as _,
};
use sqlx::PgPool;
use url::Url;

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_outside_oidc_client_completes_the_code_flow_from_discovery_alone(db: PgPool) {
    let app = spawn_self_addressed(db).await;
    let tenant = app.create_tenant("acme").await;
    let user_id = app.create_user("acme", "ada@example.com").await;
    let redirect_uri = "http://127.0.0.1:8910/callback";
    let client_id = register(&app, "acme", &[redirect_uri]).await;
    let (cookie, _) = sign_in_on_pages(&app, &tenant, &user_id).await;

    // The library's own advice: an HTTP client that follows no redirects.
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let issuer = IssuerUrl::new(app.url("/t/acme")).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("the discovery document is valid provider metadata");
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new(client_id), None)
        .set_redirect_uri(RedirectUrl::new(redirect_uri.to_owned()).unwrap());

    let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, csrf, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .set_pkce_challenge(pkce_challenge)
        .url();

    // The browser: signed in on the hosted pages, it follows the app's link and is sent back.
    let response = http
        .get(authorize_url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let back = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(redirect_uri));
    let query: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(&query["state"], csrf.secret());

    let tokens = client
        .exchange_code(AuthorizationCode::new(query["code"].clone()))
        .unwrap()
        .set_pkce_verifier(pkce_verifier)
        .request_async(&http)
        .await
        .expect("the token endpoint answers a valid token response");
    assert!(tokens.refresh_token().is_some());

    // The library checks signature (JWKS), iss, aud, exp, iat and nonce.
    let id_token = tokens.id_token().expect("an id token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the id token verifies");
    assert_eq!(claims.subject().as_str(), user_id);
    assert!(claims.auth_time().is_some());
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash));

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo answers for the access token");
    assert_eq!(info.subject().as_str(), user_id);
    assert_eq!(info.email().map(|e| e.as_str()), Some("ada@example.com"));

    // The refresh grant through the same endpoint.
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&http)
        .await
        .expect("the refresh grant answers new tokens");
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        tokens.refresh_token().unwrap().secret()
    );
}
