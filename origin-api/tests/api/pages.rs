//! The hosted pages over HTTP as a browser without JavaScript sees them: headers, CSRF, the session
//! cookie, password sign-in by form post, the account page's actions; and the page's passkey calls
//! driven by a software authenticator.

use crate::authenticator::SoftKey;
use crate::helpers::{no_redirects, spawn_app, TestApp, PAGES_URL, PASSWORD};
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

/// A browser's cookie jar and the page's CSRF token, by hand: the pages' cookies are `Secure`
/// (the test pages URL is https) and the test server is plain http.
#[derive(Default)]
struct Browser {
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &Response) {
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(k, _)| k != name);
            if !value.is_empty() && !set.contains("Max-Age=0") {
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    async fn get(&mut self, app: &TestApp, path: &str) -> Response {
        let response = app
            .client
            .get(app.url(path))
            .header(COOKIE, self.header())
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    async fn post_form(&mut self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> Response {
        let response = app
            .client
            .post(app.url(path))
            .header(COOKIE, self.header())
            .header("origin", PAGES_URL)
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    async fn post_json(&mut self, app: &TestApp, path: &str, csrf: &str, body: &Value) -> Response {
        let response = app
            .client
            .post(app.url(path))
            .header(COOKIE, self.header())
            .header("origin", PAGES_URL)
            .header("x-csrf-token", csrf)
            .json(body)
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    /// Opens the tenant's sign-in page and posts its form with `email` and `password`.
    async fn sign_in(
        &mut self,
        app: &TestApp,
        slug: &str,
        email: &str,
        password: &str,
    ) -> Response {
        let path = format!("/t/{slug}/sign-in");
        let (_, token) = self.open(app, &path).await;
        let form = [
            ("csrf", token.as_str()),
            ("email", email),
            ("password", password),
        ];
        self.post_form(app, &path, &form).await
    }

    /// Opens a page and returns its HTML and CSRF token.
    async fn open(&mut self, app: &TestApp, path: &str) -> (String, String) {
        let response = self.get(app, path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        let html = response.text().await.unwrap();
        let token = attribute_after(&html, "name=\"csrf-token\" content=\"");
        (html, token)
    }
}

async fn app_with_tenant(db: PgPool, slug: &str) -> TestApp {
    let mut app = spawn_app(db).await;
    app.client = no_redirects();
    app.tenant(slug).create().await;
    app
}

fn attribute_after(html: &str, marker: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

fn error_code(html: &str) -> String {
    attribute_after(html, "id=\"error\" role=\"alert\" data-code=\"")
}

async fn live_sessions(db: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
        .fetch_one(db)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn every_page_has_a_strict_content_security_policy_and_no_inline_script_or_style(db: PgPool) {
    let app = app_with_tenant(db, "acme").await;
    for path in ["/t/acme/sign-in", "/t/acme/sign-up"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let csp = response.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp} lacks {directive}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let html = response.text().await.unwrap();
        assert!(html.contains("<script src=\"/pages/pages.js\" defer></script>"));
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the one external script"
        );
        assert!(
            !html.contains(" style=") && !html.contains("<style"),
            "no inline style"
        );
        assert!(
            !html.contains(" on") || !html.contains("onclick"),
            "no inline handlers"
        );
    }
    let script = app.get("/pages/pages.js").await;
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(script.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_sign_in_page_offers_passkey_autofill_in_a_labelled_email_field(db: PgPool) {
    let app = app_with_tenant(db, "acme").await;
    let html = app.get("/t/acme/sign-in").await.text().await.unwrap();
    assert!(html.contains("<label for=\"email\">"), "{html}");
    assert!(html.contains("<label for=\"password\">"), "{html}");
    assert!(
        html.contains("autocomplete=\"username webauthn\""),
        "{html}"
    );
    assert!(
        html.contains("method=\"post\" action=\"/t/acme/sign-in\""),
        "{html}"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_form_post_without_a_valid_csrf_token_or_from_another_origin_is_refused(db: PgPool) {
    let app = app_with_tenant(db.clone(), "acme").await;
    app.create_user("acme", "ada@example.com").await;
    let mut browser = Browser::default();
    let (_, token) = browser.open(&app, "/t/acme/sign-in").await;
    let credentials = [("email", "ada@example.com"), ("password", PASSWORD)];

    // No token; a token for another cookie; the right token from another origin.
    let mut forged = credentials.to_vec();
    forged.push(("csrf", "AAAA"));
    let response = browser.post_form(&app, "/t/acme/sign-in", &forged).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(&response.text().await.unwrap()), "csrf_invalid");

    let response = browser
        .post_form(&app, "/t/acme/sign-in", &credentials)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let mut with_token = credentials.to_vec();
    with_token.push(("csrf", &token));
    let response = app
        .client
        .post(app.url("/t/acme/sign-in"))
        .header(COOKIE, browser.header())
        .header("origin", "https://evil.example")
        .form(&with_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(&response.text().await.unwrap()), "csrf_invalid");

    // The token of another browser's cookie does not pass with this one.
    let mut other = Browser::default();
    let (_, other_token) = other.open(&app, "/t/acme/sign-in").await;
    let mut mixed = credentials.to_vec();
    mixed.push(("csrf", &other_token));
    let response = browser.post_form(&app, "/t/acme/sign-in", &mixed).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        live_sessions(&db).await,
        0,
        "no refused post signed anyone in"
    );

    // Script calls need the header too.
    let response = browser
        .post_json(&app, "/t/acme/sign-in/passkey/start", "wrong", &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf_invalid");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn password_sign_in_by_form_post_sets_a_host_only_secure_http_only_lax_cookie(db: PgPool) {
    let app = app_with_tenant(db.clone(), "acme").await;
    app.create_user("acme", "ada@example.com").await;
    let mut browser = Browser::default();
    let (_, token) = browser.open(&app, "/t/acme/sign-in").await;
    let csrf_cookie = browser.header();
    assert!(csrf_cookie.starts_with("__Host-csrf="), "{csrf_cookie}");

    let response = browser
        .post_form(
            &app,
            "/t/acme/sign-in",
            &[
                ("csrf", &token),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/t/acme/account");
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-session-acme="), "{set}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");

    // The account page now knows who this is and lists the session.
    let (html, _) = browser.open(&app, "/t/acme/account").await;
    assert!(html.contains("ada@example.com"), "{html}");
    assert_eq!(html.matches("data-session-id=").count(), 1, "{html}");
    assert!(html.contains("this browser"), "{html}");

    // The cookie is the tenant's only: another tenant's pages do not know it.
    app.create_tenant("other").await;
    let response = browser.get(&app, "/t/other/account").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_wrong_password_shows_the_page_again_with_a_readable_error_and_its_code(db: PgPool) {
    let app = app_with_tenant(db.clone(), "acme").await;
    app.create_user("acme", "ada@example.com").await;
    let mut browser = Browser::default();
    let response = browser
        .sign_in(&app, "acme", "ada@example.com", "not the password")
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(SET_COOKIE).is_none());
    let html = response.text().await.unwrap();
    assert_eq!(error_code(&html), "invalid_credentials");
    assert!(
        html.contains("That e-mail and password do not match an account."),
        "{html}"
    );
    assert!(
        html.contains("value=\"ada@example.com\""),
        "the e-mail is kept: {html}"
    );
    assert_eq!(live_sessions(&db).await, 0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn sign_in_goes_on_to_a_return_to_of_the_tenants_pages_and_ignores_any_other(db: PgPool) {
    let app = app_with_tenant(db, "acme").await;
    app.create_user("acme", "ada@example.com").await;
    for (return_to, expected) in [
        (
            "/t/acme/authorize?client_id=app&state=xyz",
            "/t/acme/authorize?client_id=app&state=xyz",
        ),
        (
            "/t/acme/authorize?client_id=app&redirect_uri=http%3A%2F%2Flocalhost%3A9%2Fcb",
            "/t/acme/authorize?client_id=app&redirect_uri=http%3A%2F%2Flocalhost%3A9%2Fcb",
        ),
        ("/t/acme/%2e%2e/other/account", "/t/acme/account"),
        ("https://evil.example/", "/t/acme/account"),
        ("//evil.example/t/acme/", "/t/acme/account"),
        ("/t/other/account", "/t/acme/account"),
    ] {
        let mut browser = Browser::default();
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", return_to)
            .finish();
        let (html, token) = browser
            .open(&app, &format!("/t/acme/sign-in?{query}"))
            .await;
        let kept = html.contains("name=\"return_to\"");
        assert_eq!(kept, expected != "/t/acme/account", "{return_to}: {html}");
        let response = browser
            .post_form(
                &app,
                "/t/acme/sign-in",
                &[
                    ("csrf", &token),
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("return_to", return_to),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{return_to}");
        assert_eq!(response.headers()[LOCATION], expected, "{return_to}");
    }
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn sign_out_and_sign_out_everywhere_from_the_account_page_end_every_session(db: PgPool) {
    let app = app_with_tenant(db.clone(), "acme").await;
    app.create_user("acme", "ada@example.com").await;
    // An API session too: sign out everywhere must end it.
    let api = app.sign_in("acme", "ada@example.com").await;
    let api_token = api["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.me("acme", &api_token).await.status(), 200);

    let mut browser = Browser::default();
    let signed_in = browser
        .sign_in(&app, "acme", "ada@example.com", PASSWORD)
        .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let (html, token) = browser.open(&app, "/t/acme/account").await;
    assert_eq!(html.matches("data-session-id=").count(), 2, "{html}");

    let response = browser
        .post_form(
            &app,
            "/t/acme/account/sign-out-everywhere",
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/t/acme/sign-in");
    assert_eq!(live_sessions(&db).await, 0);
    assert_eq!(app.me("acme", &api_token).await.status(), 401);
    // The browser's cookie is cleared, and even a kept copy names a revoked session.
    let response = browser.get(&app, "/t/acme/account").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(response.headers()[LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/t/acme/sign-in?return_to="));
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn sign_out_by_form_post_revokes_this_browsers_session(db: PgPool) {
    let app = app_with_tenant(db.clone(), "acme").await;
    app.create_user("acme", "ada@example.com").await;
    let mut browser = Browser::default();
    browser
        .sign_in(&app, "acme", "ada@example.com", PASSWORD)
        .await;
    let kept = browser.header();
    let (_, token) = browser.open(&app, "/t/acme/account").await;
    let response = browser
        .post_form(&app, "/t/acme/sign-out", &[("csrf", &token)])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(live_sessions(&db).await, 0);
    // Replaying the old cookie does not sign anyone in.
    let response = app
        .client
        .get(app.url("/t/acme/account"))
        .header(COOKIE, kept)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn password_sign_up_by_form_post_creates_the_account_and_signs_it_in(db: PgPool) {
    let app = app_with_tenant(db.clone(), "acme").await;
    let mut browser = Browser::default();
    let (html, token) = browser.open(&app, "/t/acme/sign-up").await;
    assert!(
        html.contains("Create account with a passkey"),
        "passkey first: {html}"
    );
    let response = browser
        .post_form(
            &app,
            "/t/acme/sign-up",
            &[
                ("csrf", &token),
                ("email", "grace@example.com"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_code(&response.text().await.unwrap()),
        "password_too_short"
    );

    let response = browser
        .post_form(
            &app,
            "/t/acme/sign-up",
            &[
                ("csrf", &token),
                ("email", "grace@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (html, _) = browser.open(&app, "/t/acme/account").await;
    assert!(html.contains("grace@example.com"), "{html}");
    assert_eq!(live_sessions(&db).await, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn passkey_sign_up_then_autofill_sign_in_on_the_pages_open_page_sessions(db: PgPool) {
    let app = app_with_tenant(db.clone(), "acme").await;
    let mut key = SoftKey::new();
    let mut browser = Browser::default();
    let (_, token) = browser.open(&app, "/t/acme/sign-up").await;
    let started: Value = browser
        .post_json(
            &app,
            "/t/acme/sign-up/passkey/start",
            &token,
            &json!({"email": "ada@example.com"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let credential = key.create(PAGES_URL, &started["options"]).await.unwrap();
    let response = browser
        .post_json(
            &app,
            "/t/acme/sign-up/passkey",
            &token,
            &json!({"ceremony_id": started["ceremony_id"], "credential": credential, "return_to": "/t/acme/account"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .starts_with("__Host-session-acme="));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["redirect"], "/t/acme/account");
    assert!(
        body.get("access_token").is_none(),
        "the page never hands tokens to script"
    );
    let (html, token) = browser.open(&app, "/t/acme/account").await;
    assert_eq!(html.matches("data-passkey-id=").count(), 1, "{html}");

    // Sign out, then sign in username-less (what autofill does).
    browser
        .post_form(&app, "/t/acme/sign-out", &[("csrf", &token)])
        .await;
    let (_, token) = browser.open(&app, "/t/acme/sign-in").await;
    let started: Value = browser
        .post_json(&app, "/t/acme/sign-in/passkey/start", &token, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert!(started["options"]["publicKey"]["allowCredentials"]
        .as_array()
        .is_none_or(Vec::is_empty));
    let credential = key.get(PAGES_URL, &started["options"]).await.unwrap();
    let response = browser
        .post_json(
            &app,
            "/t/acme/sign-in/passkey",
            &token,
            &json!({"ceremony_id": started["ceremony_id"], "credential": credential}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let (html, _) = browser.open(&app, "/t/acme/account").await;
    assert!(html.contains("ada@example.com"), "{html}");
    assert_eq!(live_sessions(&db).await, 1);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_account_page_renames_adds_and_deletes_passkeys(db: PgPool) {
    let app = app_with_tenant(db.clone(), "acme").await;
    app.create_user("acme", "ada@example.com").await;
    let mut browser = Browser::default();
    browser
        .sign_in(&app, "acme", "ada@example.com", PASSWORD)
        .await;
    let (_, token) = browser.open(&app, "/t/acme/account").await;
    let mut key = SoftKey::new();
    let started: Value = browser
        .post_json(&app, "/t/acme/account/passkeys/start", &token, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let credential = key.create(PAGES_URL, &started["options"]).await.unwrap();
    let response = browser
        .post_json(
            &app,
            "/t/acme/account/passkeys/finish",
            &token,
            &json!({"ceremony_id": started["ceremony_id"], "credential": credential}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let response = browser
        .post_form(
            &app,
            &format!("/t/acme/account/passkeys/{id}/rename"),
            &[("csrf", &token), ("name", "Work laptop")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (html, token) = browser.open(&app, "/t/acme/account").await;
    assert!(html.contains("Work laptop"), "{html}");

    let response = browser
        .post_form(
            &app,
            &format!("/t/acme/account/passkeys/{id}/delete"),
            &[("csrf", &token)],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (html, _) = browser.open(&app, "/t/acme/account").await;
    assert_eq!(html.matches("data-passkey-id=").count(), 0, "{html}");
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_disabled_user_signing_in_on_the_page_is_told_why_and_gets_no_session(db: PgPool) {
    let app = app_with_tenant(db.clone(), "acme").await;
    let user = app.create_user("acme", "ada@example.com").await;
    let disabled = app
        .client
        .post(app.url(&format!("/v1/admin/tenants/acme/users/{user}/disable")))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    let mut browser = Browser::default();
    let response = browser
        .sign_in(&app, "acme", "ada@example.com", PASSWORD)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get(SET_COOKIE).is_none());
    let html = response.text().await.unwrap();
    assert_eq!(error_code(&html), "user_disabled");
    assert!(html.contains("This account is disabled."), "{html}");
    assert_eq!(live_sessions(&db).await, 0);
}
