//! The code flow (issue 12 §OAuth): registered clients, `/authorize`, `/token`, discovery, userinfo,
//! and every bad input refused without a redirect to anywhere unregistered.

use crate::helpers::{
    assert_error, jwt_part, no_redirects, now_unix, spawn_app, spawn_app_with_edge, Created,
    EdgeReceiver, TestApp, ADMIN_TOKEN, PAGES_URL, PUBLIC_URL,
};
use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use origin_api::{hosted_session, tenants};
use reqwest::Response;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use sqlx::PgPool;
use url::Url;
use uuid::Uuid;

pub const REDIRECT_URI: &str = "https://app.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more";

pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A tenant `acme` with one user signed in on the hosted pages, and one registered client.
struct Flow {
    app: TestApp,
    user_id: String,
    client_id: String,
    /// The `Cookie` header of the hosted sign-in.
    cookie: String,
    page_session_id: Uuid,
    browser: reqwest::Client,
}

impl Flow {
    async fn start(db: PgPool) -> Flow {
        Self::on(spawn_app(db).await).await
    }

    async fn on(app: TestApp) -> Flow {
        let Created {
            tenant,
            mut user_ids,
        } = app.tenant("acme").user("ada@example.com").create().await;
        let user_id = user_ids.remove(0);
        let client_id = register(&app, "acme", &[REDIRECT_URI]).await;
        let (cookie, page_session_id) = sign_in_on_pages(&app, &tenant, &user_id).await;
        Flow {
            app,
            user_id,
            client_id,
            cookie,
            page_session_id,
            browser: no_redirects(),
        }
    }

    /// A valid authorization request's parameters.
    fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("response_type", "code".into()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", REDIRECT_URI.into()),
            ("scope", "openid email".into()),
            ("state", "st-123".into()),
            ("nonce", "n-456".into()),
            ("code_challenge", challenge(VERIFIER)),
            ("code_challenge_method", "S256".into()),
        ]
    }

    /// [`Flow::params`] with `name` set to `value`, or left out for `None`.
    fn params_with(&self, name: &'static str, value: Option<&str>) -> Vec<(&'static str, String)> {
        let mut params = self.params();
        params.retain(|(n, _)| *n != name);
        if let Some(value) = value {
            params.push((name, value.to_owned()));
        }
        params
    }

    async fn authorize(&self, params: &[(&str, String)], cookie: Option<&str>) -> Response {
        let mut request = self
            .browser
            .get(self.app.url("/t/acme/authorize"))
            .query(params);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    /// Runs `/authorize` signed in and returns the code.
    async fn code(&self) -> String {
        let response = self.authorize(&self.params(), Some(&self.cookie)).await;
        let query = redirected_to(&response, REDIRECT_URI);
        assert_eq!(query.get("state").map(String::as_str), Some("st-123"));
        query["code"].clone()
    }

    async fn token(&self, form: &[(&str, &str)]) -> Response {
        self.app
            .client
            .post(self.app.url("/t/acme/token"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn refresh(&self, refresh_token: &str, client_id: &str) -> Response {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ])
        .await
    }

    async fn exchange(&self, code: &str, verifier: &str) -> Response {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &self.client_id),
            ("code_verifier", verifier),
        ])
        .await
    }

    async fn codes_stored(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM authorization_codes")
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }

    /// API sessions opened for a client (the hosted sign-in is one more session).
    async fn client_sessions(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE oauth_client_id IS NOT NULL")
            .fetch_one(&self.app.db)
            .await
            .unwrap()
    }
}

/// Registers a client through the admin API; returns its `client_id`.
pub async fn register(app: &TestApp, slug: &str, redirect_uris: &[&str]) -> String {
    let response = post_client(
        app,
        slug,
        &json!({"name": "Example app", "redirect_uris": redirect_uris}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["client_id"].as_str().unwrap().to_owned()
}

async fn post_client(app: &TestApp, slug: &str, body: &Value) -> Response {
    app.client
        .post(app.url(&format!("/v1/admin/tenants/{slug}/clients")))
        .bearer_auth(ADMIN_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// What the hosted sign-in page does once the user has proven who they are: returns the `Cookie`
/// header the browser then sends, and the hosted session's id.
pub async fn sign_in_on_pages(app: &TestApp, tenant: &Value, user_id: &str) -> (String, Uuid) {
    let tenant = tenants::find(&app.db, tenant["slug"].as_str().unwrap())
        .await
        .unwrap();
    // Outside a request: the test acts for the tenant in the database itself (row-level security).
    let (session, set_cookie) = origin_api::db::as_tenant(
        tenant.id,
        hosted_session::sign_in(
            &app.state,
            &tenant,
            Uuid::parse_str(user_id).unwrap(),
            &HeaderMap::new(),
        ),
    )
    .await
    .unwrap();
    let set_cookie = set_cookie.to_str().unwrap();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    (cookie, session.session_id)
}

/// Asserts a 302 to `base` and returns the query it added.
fn redirected_to(response: &Response, base: &str) -> std::collections::HashMap<String, String> {
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let location = Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let without_query = format!(
        "{}://{}{}",
        location.scheme(),
        location.host_str().unwrap(),
        location.path()
    );
    assert_eq!(without_query, base);
    location.query_pairs().into_owned().collect()
}

/// Asserts an error page: no redirect anywhere, the stable code on the page.
async fn assert_error_page(response: Response, status: u16, code: &str) {
    assert_eq!(response.status(), status);
    assert!(
        response.headers().get("location").is_none(),
        "never redirected"
    );
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(
        response.headers()["content-security-policy"],
        "default-src 'none'"
    );
    let html = response.text().await.unwrap();
    assert!(html.contains(&format!("<code>{code}</code>")), "{html}");
}

/// Asserts an RFC 6749 error: status, `error`, JSON, never cached.
async fn assert_oauth_error(response: Response, status: u16, error: &str) -> String {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body["error_description"].as_str().unwrap().to_owned()
}

// Registered clients.

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn clients_are_registered_listed_and_deleted_through_the_admin_api(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let response = post_client(
        &app,
        "acme",
        &json!({"name": "Example app", "redirect_uris": [REDIRECT_URI, "http://127.0.0.1:8910/cb"]}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    assert!(client_id.len() >= 16);
    assert_eq!(
        created["redirect_uris"],
        json!([REDIRECT_URI, "http://127.0.0.1:8910/cb"])
    );
    assert_eq!(created["token_endpoint_auth_method"], "none");

    let list = |app: &TestApp| {
        app.client
            .get(app.url("/v1/admin/tenants/acme/clients"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    let listed: Value = list(&app).await.unwrap().json().await.unwrap();
    assert_eq!(listed["clients"].as_array().unwrap().len(), 1);
    assert_eq!(listed["clients"][0]["client_id"], client_id.as_str());

    let delete = |app: &TestApp, id: &str| {
        app.client
            .delete(app.url(&format!("/v1/admin/tenants/acme/clients/{id}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
    };
    assert_eq!(delete(&app, &client_id).await.unwrap().status(), 204);
    assert_error(
        delete(&app, &client_id).await.unwrap(),
        404,
        "client_not_found",
    )
    .await;
    let listed: Value = list(&app).await.unwrap().json().await.unwrap();
    assert_eq!(listed["clients"], json!([]));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_client_needs_the_admin_token_and_exact_safe_redirect_uris(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    let no_admin = app
        .client
        .post(app.url("/v1/admin/tenants/acme/clients"))
        .json(&json!({"name": "x", "redirect_uris": [REDIRECT_URI]}))
        .send()
        .await
        .unwrap();
    assert_error(no_admin, 401, "unauthorized").await;
    for uris in [
        json!([]),
        json!(["http://app.example.com/cb"]),
        json!(["https://*.example.com/cb"]),
        json!(["https://app.example.com/cb#frag"]),
        json!(["/cb"]),
        json!([REDIRECT_URI, REDIRECT_URI]),
    ] {
        let response =
            post_client(&app, "acme", &json!({"name": "x", "redirect_uris": uris})).await;
        assert_error(response, 422, "redirect_uri_invalid").await;
    }
    let response = post_client(
        &app,
        "acme",
        &json!({"name": " ", "redirect_uris": [REDIRECT_URI]}),
    )
    .await;
    assert_error(response, 422, "name_invalid").await;
    let response = post_client(
        &app,
        "nope",
        &json!({"name": "x", "redirect_uris": [REDIRECT_URI]}),
    )
    .await;
    assert_error(response, 404, "tenant_not_found").await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM oauth_clients")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
}

// The authorization endpoint.

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_unregistered_client_or_redirect_uri_gets_an_error_page_never_a_redirect(db: PgPool) {
    let flow = Flow::start(db).await;
    let with = |name, value| flow.params_with(name, value);
    for (params, code) in [
        (with("client_id", None), "client_id_missing"),
        (
            with("client_id", Some("unknown-client-0123456789")),
            "client_unknown",
        ),
        (with("redirect_uri", None), "redirect_uri_missing"),
        (
            with("redirect_uri", Some("https://evil.example.net/callback")),
            "redirect_uri_unregistered",
        ),
        (
            with(
                "redirect_uri",
                Some("https://app.example.com/callback/more"),
            ),
            "redirect_uri_unregistered",
        ),
        (
            with("redirect_uri", Some("https://app.example.com/callback?x=1")),
            "redirect_uri_unregistered",
        ),
        (
            with("redirect_uri", Some("https://APP.example.com/callback")),
            "redirect_uri_unregistered",
        ),
    ] {
        // Even with a bad PKCE method, which would otherwise be reported by redirect.
        let mut params = params;
        params.retain(|(n, _)| *n != "code_challenge_method");
        params.push(("code_challenge_method", "plain".into()));
        let response = flow.authorize(&params, Some(&flow.cookie)).await;
        assert_error_page(response, 400, code).await;
    }
    // A repeated redirect_uri is ambiguous: a page too.
    let mut params = flow.params();
    params.push(("redirect_uri", "https://evil.example.net/callback".into()));
    assert_error_page(
        flow.authorize(&params, Some(&flow.cookie)).await,
        400,
        "redirect_uri_unregistered",
    )
    .await;

    let response = flow
        .browser
        .get(flow.app.url("/t/nope/authorize"))
        .query(&flow.params())
        .send()
        .await
        .unwrap();
    assert_error_page(response, 404, "tenant_not_found").await;
    assert_eq!(flow.codes_stored().await, 0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_missing_or_plain_pkce_method_and_other_bad_requests_go_back_as_errors(db: PgPool) {
    let flow = Flow::start(db).await;
    let replaced = |name, value| flow.params_with(name, value);
    for (params, error) in [
        (
            replaced("code_challenge_method", Some("plain")),
            "invalid_request",
        ),
        (replaced("code_challenge_method", None), "invalid_request"),
        (replaced("code_challenge", None), "invalid_request"),
        (
            replaced("code_challenge", Some(VERIFIER)),
            "invalid_request",
        ),
        (
            replaced("response_type", Some("token")),
            "unsupported_response_type",
        ),
        (replaced("response_type", None), "invalid_request"),
        (replaced("scope", Some("email")), "invalid_scope"),
        (replaced("scope", Some("openid admin")), "invalid_scope"),
        (replaced("request", Some("eyJ")), "request_not_supported"),
    ] {
        let response = flow.authorize(&params, Some(&flow.cookie)).await;
        let query = redirected_to(&response, REDIRECT_URI);
        assert_eq!(query["error"], error, "{params:?}");
        assert!(!query["error_description"].is_empty());
        assert_eq!(query["state"], "st-123");
        assert_eq!(query["iss"], format!("{PUBLIC_URL}/t/acme"));
        assert!(!query.contains_key("code"));
    }
    let mut twice = flow.params();
    twice.push(("scope", "openid".into()));
    let query = redirected_to(
        &flow.authorize(&twice, Some(&flow.cookie)).await,
        REDIRECT_URI,
    );
    assert_eq!(query["error"], "invalid_request");
    assert_eq!(flow.codes_stored().await, 0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn without_a_hosted_sign_in_the_user_is_sent_to_the_sign_in_page_and_back(db: PgPool) {
    let flow = Flow::start(db).await;
    for cookie in [None, Some("__Host-session-acme=not-a-session")] {
        let response = flow.authorize(&flow.params(), cookie).await;
        let query = redirected_to(&response, &format!("{PAGES_URL}/t/acme/sign-in"));
        let return_to = &query["return_to"];
        assert!(return_to.starts_with("/t/acme/authorize?"), "{return_to}");
        // Coming back to `return_to` signed in completes the request as first made.
        let back = flow
            .browser
            .get(flow.app.url(return_to))
            .header("cookie", &flow.cookie)
            .send()
            .await
            .unwrap();
        let query = redirected_to(&back, REDIRECT_URI);
        assert!(query.contains_key("code"));
        assert_eq!(query["state"], "st-123");
    }
    let mut silent = flow.params();
    silent.push(("prompt", "none".into()));
    let query = redirected_to(&flow.authorize(&silent, None).await, REDIRECT_URI);
    assert_eq!(query["error"], "login_required");
}

// The token endpoint.

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_code_and_its_verifier_buy_an_access_token_a_refresh_token_and_an_id_token(db: PgPool) {
    let flow = Flow::start(db).await;
    let code = flow.code().await;
    let response = flow.exchange(&code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid email");
    let access_token = tokens["access_token"].as_str().unwrap();

    // The same API session as a password sign-in: `/v1/me` accepts the access token.
    let me = flow.app.me("acme", access_token).await;
    assert_eq!(me.status(), 200);
    let access = jwt_part(access_token, 1);
    assert_eq!(access["sid"], tokens["session_id"]);
    // Its owner sees it, named after the app, beside the hosted sign-in.
    let listed: Value = flow
        .app
        .get_with_token("/t/acme/v1/sessions", access_token)
        .await
        .json()
        .await
        .unwrap();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    let this = sessions.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(this["id"], tokens["session_id"]);
    assert_eq!(this["client"], "Example app");

    let id_token = tokens["id_token"].as_str().unwrap();
    let header = jwt_part(id_token, 0);
    let keys = flow.app.key_set("acme").await;
    assert_eq!(header["alg"], "ES256");
    // Signed by a published key (the current one; the next one is published beside it).
    assert!(keys.find(header["kid"].as_str().unwrap()).is_some());
    let claims = jwt_part(id_token, 1);
    assert_eq!(claims["iss"], format!("{PUBLIC_URL}/t/acme"));
    assert_eq!(claims["sub"], flow.user_id.as_str());
    assert_eq!(claims["aud"], flow.client_id.as_str());
    assert_eq!(claims["nonce"], "n-456");
    assert_eq!(claims["sid"], tokens["session_id"]);
    let digest = Sha256::digest(access_token.as_bytes());
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    let (iat, exp, auth_time) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
        claims["auth_time"].as_i64().unwrap(),
    );
    assert!((iat - now_unix()).abs() < 60 && exp > iat && auth_time <= iat);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_reused_code_is_refused_and_revokes_the_session_it_opened(db: PgPool) {
    let flow = Flow::start(db).await;
    let code = flow.code().await;
    let first: Value = flow.exchange(&code, VERIFIER).await.json().await.unwrap();
    let access_token = first["access_token"].as_str().unwrap();
    assert_eq!(flow.app.me("acme", access_token).await.status(), 200);

    let message =
        assert_oauth_error(flow.exchange(&code, VERIFIER).await, 400, "invalid_grant").await;
    assert!(message.contains("already used"), "{message}");
    assert_eq!(flow.app.me("acme", access_token).await.status(), 401);
    let refresh = flow
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ("client_id", &flow.client_id),
        ])
        .await;
    assert_oauth_error(refresh, 400, "invalid_grant").await;
    assert_eq!(flow.client_sessions().await, 1, "the reuse opened nothing");
    let audited: (String, String) = sqlx::query_as(
        "SELECT subject_session_id::text, details->>'client_id' FROM audit_events
         WHERE event_type = 'session.authorization_code_reused'",
    )
    .fetch_one(&flow.app.db)
    .await
    .unwrap();
    assert_eq!(
        audited,
        (
            first["session_id"].as_str().unwrap().to_owned(),
            flow.client_id.clone()
        )
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn an_expired_code_is_refused(db: PgPool) {
    let flow = Flow::start(db).await;
    let code = flow.code().await;
    sqlx::query("UPDATE authorization_codes SET expires_at = now() - interval '1 second'")
        .execute(&flow.app.db)
        .await
        .unwrap();
    let message =
        assert_oauth_error(flow.exchange(&code, VERIFIER).await, 400, "invalid_grant").await;
    assert!(message.contains("expired"), "{message}");
    assert_eq!(flow.client_sessions().await, 0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_code_lives_about_a_minute_and_is_stored_only_as_its_hash(db: PgPool) {
    let flow = Flow::start(db).await;
    let code = flow.code().await;
    let (hash, lifetime): (Vec<u8>, f64) = sqlx::query_as(
        "SELECT code_hash, extract(epoch FROM expires_at - created_at)::float8 FROM authorization_codes",
    )
    .fetch_one(&flow.app.db)
    .await
    .unwrap();
    assert_eq!(hash, Sha256::digest(code.as_bytes()).to_vec());
    assert_eq!(lifetime, 60.0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_wrong_verifier_client_or_redirect_uri_is_refused_and_changes_nothing(db: PgPool) {
    let flow = Flow::start(db).await;
    let other_client = register(&flow.app, "acme", &[REDIRECT_URI]).await;
    let code = flow.code().await;

    let wrong_verifier = flow.exchange(&code, &"x".repeat(50)).await;
    let message = assert_oauth_error(wrong_verifier, 400, "invalid_grant").await;
    assert!(message.contains("code_verifier"), "{message}");
    let malformed_verifier = flow.exchange(&code, "short").await;
    assert_oauth_error(malformed_verifier, 400, "invalid_request").await;
    let other = flow
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &other_client),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_oauth_error(other, 400, "invalid_grant").await;
    let unknown = flow
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", "unknown-client-0123456789"),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_oauth_error(unknown, 401, "invalid_client").await;
    let redirect = flow
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.com/other"),
            ("client_id", &flow.client_id),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_oauth_error(redirect, 400, "invalid_grant").await;
    assert_eq!(flow.client_sessions().await, 0);

    // The client it was issued to still redeems it.
    assert_eq!(flow.exchange(&code, VERIFIER).await.status(), 200);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_code_is_worthless_once_its_hosted_sign_in_ended(db: PgPool) {
    let flow = Flow::start(db).await;
    let code = flow.code().await;
    sqlx::query("UPDATE sessions SET revoked_at = now() WHERE id = $1")
        .bind(flow.page_session_id)
        .execute(&flow.app.db)
        .await
        .unwrap();
    assert_oauth_error(flow.exchange(&code, VERIFIER).await, 400, "invalid_grant").await;
    // And /authorize no longer sees a sign-in.
    let response = flow.authorize(&flow.params(), Some(&flow.cookie)).await;
    redirected_to(&response, &format!("{PAGES_URL}/t/acme/sign-in"));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn malformed_token_requests_get_rfc_6749_errors(db: PgPool) {
    let flow = Flow::start(db).await;
    let json_body = flow
        .app
        .client
        .post(flow.app.url("/t/acme/token"))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_oauth_error(json_body, 400, "invalid_request").await;
    assert_oauth_error(
        flow.token(&[("grant_type", "password"), ("client_id", &flow.client_id)])
            .await,
        400,
        "unsupported_grant_type",
    )
    .await;
    assert_oauth_error(
        flow.token(&[("client_id", &flow.client_id)]).await,
        400,
        "invalid_request",
    )
    .await;
    assert_oauth_error(
        flow.token(&[("grant_type", "authorization_code")]).await,
        400,
        "invalid_request",
    )
    .await;
    let code = flow.code().await;
    let twice = flow
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &flow.client_id),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_oauth_error(twice, 400, "invalid_request").await;
    let unknown_code = flow.exchange("not-a-code", VERIFIER).await;
    assert_oauth_error(unknown_code, 400, "invalid_grant").await;
    let with_secret = flow
        .app
        .client
        .post(flow.app.url("/t/acme/token"))
        .basic_auth(&flow.client_id, Some("secret"))
        .form(&[("grant_type", "authorization_code"), ("code", &code)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(with_secret, 401, "invalid_client").await;
    assert_eq!(flow.client_sessions().await, 0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_refresh_grant_rotates_through_the_token_endpoint_for_its_own_client_only(db: PgPool) {
    let flow = Flow::start(db).await;
    let other_client = register(&flow.app, "acme", &[REDIRECT_URI]).await;
    let code = flow.code().await;
    let first: Value = flow.exchange(&code, VERIFIER).await.json().await.unwrap();
    let refresh_token = first["refresh_token"].as_str().unwrap();
    let by_other = flow.refresh(refresh_token, &other_client).await;
    assert_oauth_error(by_other, 400, "invalid_grant").await;

    let response = flow.refresh(refresh_token, &flow.client_id).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second: Value = response.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["session_id"], first["session_id"]);
    let access_token = second["access_token"].as_str().unwrap();
    assert_eq!(flow.app.me("acme", access_token).await.status(), 200);

    // The rotated token again: reuse, and the session is gone.
    assert_oauth_error(
        flow.refresh(refresh_token, &flow.client_id).await,
        400,
        "invalid_grant",
    )
    .await;
    assert_eq!(flow.app.me("acme", access_token).await.status(), 401);

    // A token of a password sign-in belongs to no client.
    let password = flow.app.sign_in("acme", "ada@example.com").await;
    let response = flow
        .refresh(password["refresh_token"].as_str().unwrap(), &flow.client_id)
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
}

// Discovery and userinfo.

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_discovery_document_is_openid_provider_metadata(db: PgPool) {
    let flow = Flow::start(db).await;
    let doc: Value = flow
        .app
        .get("/t/acme/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let issuer = format!("{PUBLIC_URL}/t/acme");
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{PAGES_URL}/t/acme/authorize")
    );
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(doc["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        doc["token_endpoint_auth_methods_supported"],
        json!(["none"])
    );
    assert_eq!(doc["scopes_supported"], json!(["openid", "email"]));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn userinfo_shows_what_the_scope_grants_for_the_access_token(db: PgPool) {
    let flow = Flow::start(db).await;
    let tokens: Value = flow
        .exchange(&flow.code().await, VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    let access_token = tokens["access_token"].as_str().unwrap();
    let get = flow
        .app
        .get_with_token("/t/acme/userinfo", access_token)
        .await;
    assert_eq!(get.status(), 200);
    let info: Value = get.json().await.unwrap();
    assert_eq!(
        info,
        json!({"sub": flow.user_id, "email": "ada@example.com", "email_verified": false})
    );
    let post = flow
        .app
        .client
        .post(flow.app.url("/t/acme/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(post.json::<Value>().await.unwrap(), info);

    // openid alone: the subject only.
    let mut params = flow.params();
    params.retain(|(n, _)| *n != "scope");
    params.push(("scope", "openid".into()));
    let query = redirected_to(
        &flow.authorize(&params, Some(&flow.cookie)).await,
        REDIRECT_URI,
    );
    let tokens: Value = flow
        .exchange(&query["code"], VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    let info: Value = flow
        .app
        .get_with_token("/t/acme/userinfo", tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info, json!({"sub": flow.user_id}));

    let refused = flow
        .app
        .get_with_token("/t/acme/userinfo", "not-a-token")
        .await;
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("www-authenticate"));
}

/// The cookies a browser keeps from `Set-Cookie` (the pages' cookies are `Secure` and the test
/// server is plain http, so by hand).
fn keep_cookies(jar: &mut Vec<(String, String)>, response: &Response) {
    for set in response.headers().get_all("set-cookie") {
        let pair = set.to_str().unwrap().split(';').next().unwrap();
        let (name, value) = pair.split_once('=').unwrap();
        jar.retain(|(k, _)| k != name);
        jar.push((name.to_owned(), value.to_owned()));
    }
}

fn cookie_header(jar: &[(String, String)]) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_signed_out_user_signs_in_on_the_hosted_page_and_comes_back_with_a_code(db: PgPool) {
    let flow = Flow::start(db).await;
    let mut jar = Vec::new();
    let response = flow.authorize(&flow.params(), None).await;
    let return_to =
        redirected_to(&response, &format!("{PAGES_URL}/t/acme/sign-in"))["return_to"].clone();

    // The hosted sign-in page, then its password form, as a browser without JavaScript.
    let page_path = format!(
        "/t/acme/sign-in?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &return_to)
            .finish()
    );
    let page = flow
        .browser
        .get(flow.app.url(&page_path))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    keep_cookies(&mut jar, &page);
    let html = page.text().await.unwrap();
    let marker = "name=\"csrf-token\" content=\"";
    let start = html.find(marker).expect("a csrf token") + marker.len();
    let csrf = html[start..].split('"').next().unwrap().to_owned();
    let posted = flow
        .browser
        .post(flow.app.url("/t/acme/sign-in"))
        .header("cookie", cookie_header(&jar))
        .header("origin", PAGES_URL)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "ada@example.com"),
            ("password", crate::helpers::PASSWORD),
            ("return_to", &return_to),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 303);
    assert_eq!(
        posted.headers()["location"],
        return_to.as_str(),
        "back to /authorize"
    );
    keep_cookies(&mut jar, &posted);

    let back = flow
        .browser
        .get(flow.app.url(&return_to))
        .header("cookie", cookie_header(&jar))
        .send()
        .await
        .unwrap();
    let query = redirected_to(&back, REDIRECT_URI);
    assert_eq!(query["state"], "st-123");
    assert_eq!(flow.exchange(&query["code"], VERIFIER).await.status(), 200);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn prompt_login_and_max_age_need_a_fresh_sign_in(db: PgPool) {
    let flow = Flow::start(db).await;
    let with = |extra: &[(&'static str, &str)]| {
        let mut params = flow.params();
        params.extend(extra.iter().map(|(n, v)| (*n, (*v).to_owned())));
        params
    };
    let error_of =
        |response: Response| redirected_to(&response, REDIRECT_URI).get("error").cloned();

    // Signed in a moment ago: a recent enough sign-in gets its code; a forced one cannot be had.
    let fresh = flow
        .authorize(&with(&[("max_age", "3600")]), Some(&flow.cookie))
        .await;
    assert!(redirected_to(&fresh, REDIRECT_URI).contains_key("code"));
    let login = flow
        .authorize(&with(&[("prompt", "login")]), Some(&flow.cookie))
        .await;
    assert_eq!(error_of(login).as_deref(), Some("login_required"));
    sqlx::query("UPDATE sessions SET created_at = now() - interval '2 hours' WHERE id = $1")
        .bind(flow.page_session_id)
        .execute(&flow.app.db)
        .await
        .unwrap();
    let old = flow
        .authorize(&with(&[("max_age", "3600")]), Some(&flow.cookie))
        .await;
    assert_eq!(error_of(old).as_deref(), Some("login_required"));
    for bad in [
        [("max_age", "soon")],
        [("prompt", "none login")],
        [("prompt", "always")],
    ] {
        let response = flow.authorize(&with(&bad), Some(&flow.cookie)).await;
        assert_eq!(
            error_of(response).as_deref(),
            Some("invalid_request"),
            "{bad:?}"
        );
    }

    // Signed out: the sign-in page, coming back without them (the sign-in it leads to is fresh).
    let signed_out = flow
        .authorize(&with(&[("prompt", "login"), ("max_age", "0")]), None)
        .await;
    let return_to =
        redirected_to(&signed_out, &format!("{PAGES_URL}/t/acme/sign-in"))["return_to"].clone();
    assert!(
        !return_to.contains("prompt") && !return_to.contains("max_age"),
        "{return_to}"
    );
    assert!(
        return_to.contains("code_challenge_method=S256"),
        "{return_to}"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn two_exchanges_of_one_code_at_once_give_one_session_and_then_revoke_it(db: PgPool) {
    let flow = Flow::start(db).await;
    let code = flow.code().await;
    let (a, b) = tokio::join!(
        flow.exchange(&code, VERIFIER),
        flow.exchange(&code, VERIFIER)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 400]);
    let winner = if a.status() == 200 { a } else { b };
    let tokens: Value = winner.json().await.unwrap();
    // The loser presented a used code: the winner's session is revoked.
    let me = flow
        .app
        .me("acme", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me.status(), 401);
    assert_eq!(flow.client_sessions().await, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_deleted_client_can_no_longer_refresh_or_start_a_flow(db: PgPool) {
    let flow = Flow::start(db).await;
    let tokens: Value = flow
        .exchange(&flow.code().await, VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    let deleted = flow
        .app
        .client
        .delete(flow.app.url(&format!(
            "/v1/admin/tenants/acme/clients/{}",
            flow.client_id
        )))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let refresh = flow
        .refresh(tokens["refresh_token"].as_str().unwrap(), &flow.client_id)
        .await;
    assert_oauth_error(refresh, 401, "invalid_client").await;
    assert_error_page(
        flow.authorize(&flow.params(), Some(&flow.cookie)).await,
        400,
        "client_unknown",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_revocation_of_a_reused_code_is_pushed_to_the_edge(db: PgPool) {
    let edge = EdgeReceiver::start().await;
    let flow = Flow::on(spawn_app_with_edge(db, &edge.url).await).await;
    let code = flow.code().await;
    let tokens: Value = flow.exchange(&code, VERIFIER).await.json().await.unwrap();
    assert!(edge.notices().is_empty());
    assert_oauth_error(flow.exchange(&code, VERIFIER).await, 400, "invalid_grant").await;
    edge.wait_for(1).await;
    let notices = edge.notices();
    assert_eq!(notices.len(), 1);
    assert_eq!(
        notices[0].session_id,
        tokens["session_id"].as_str().unwrap()
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_browser_app_on_another_origin_may_call_token_userinfo_and_discovery_without_credentials(
    db: PgPool,
) {
    let flow = Flow::start(db).await;
    let app_origin = "https://app.example.com";
    for (path, method) in [
        ("/t/acme/token", "POST"),
        ("/t/acme/userinfo", "GET"),
        ("/t/acme/.well-known/openid-configuration", "GET"),
        ("/t/acme/.well-known/jwks.json", "GET"),
    ] {
        let preflight = flow
            .app
            .client
            .request(reqwest::Method::OPTIONS, flow.app.url(path))
            .header("origin", app_origin)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
            .await
            .unwrap();
        assert!(
            preflight.status().is_success(),
            "{path}: {}",
            preflight.status()
        );
        let headers = preflight.headers();
        assert_eq!(headers["access-control-allow-origin"], "*", "{path}");
        assert!(headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains(method));
        assert!(headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization"));
        assert!(
            headers.get("access-control-allow-credentials").is_none(),
            "{path}"
        );
    }
    // The real call and its refusals carry it too, so the app can read the error.
    let code = flow.code().await;
    let exchanged = flow
        .app
        .client
        .post(flow.app.url("/t/acme/token"))
        .header("origin", app_origin)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &flow.client_id),
            ("code_verifier", "x".repeat(43).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(exchanged.headers()["access-control-allow-origin"], "*");
    assert_oauth_error(exchanged, 400, "invalid_grant").await;
    // Not the pages' endpoints.
    let authorize = flow
        .browser
        .get(flow.app.url("/t/acme/authorize"))
        .header("origin", app_origin)
        .query(&flow.params())
        .send()
        .await
        .unwrap();
    assert!(authorize
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}
