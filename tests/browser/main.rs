//! The real-browser test: Debian's `chromium`, headless, over the DevTools protocol, with a virtual
//! authenticator (CTAP2, internal transport, resident keys, user verification), against the stack
//! `cargo xtask test` runs (`SYSTEM_PAGES_URL`, `EDGE_URL`, `SYSTEM_TENANT`).
//!
//! The story: an app sends the person to `/authorize`; with no hosted sign-in they land on the sign-in
//! page, follow "Create one" and sign up with a passkey; `/authorize` sends them back to the app with
//! a code, which the app exchanges at `/token` (PKCE) and calls the API through the edge with (200);
//! the account page lists both sessions and the passkey; sign out everywhere from the account page;
//! the edge refuses the old token; then passkey autofill sign-in succeeds, after one failed attempt
//! that the page reports and recovers from by itself. Each page's screenshot and each step's time go
//! to `target/browser/`.

mod cdp;

use base64::Engine as _;
use cdp::{Cdp, Chromium};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a page may take to get where a step sends it.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

struct Story {
    cdp: Cdp,
    pages: String,
    tenant: String,
    out: PathBuf,
    started: Instant,
    step_started: Instant,
    log: Vec<String>,
    shots: usize,
    pending_shots: Vec<String>,
}

impl Story {
    fn url(&self, path: &str) -> String {
        format!("{}/t/{}{path}", self.pages, self.tenant)
    }

    fn path(&self, path: &str) -> String {
        format!("/t/{}{path}", self.tenant)
    }

    /// Records a finished step and its time.
    fn step(&mut self, what: &str) {
        let elapsed = self.step_started.elapsed().as_millis();
        let mut line = format!("{elapsed:>6} ms  {what}");
        for shot in self.pending_shots.drain(..) {
            line.push_str(&format!("\n          screenshot {shot}"));
        }
        println!("{line}");
        self.log.push(line);
        self.step_started = Instant::now();
    }

    /// A full-page screenshot, listed with the step it belongs to.
    fn screenshot(&mut self, name: &str) {
        self.shots += 1;
        let file = self.out.join(format!("{:02}-{name}.png", self.shots));
        self.cdp.screenshot(&file);
        self.pending_shots
            .push(format!("target/browser/{:02}-{name}.png", self.shots));
    }

    fn eval(&mut self, expression: &str) -> Value {
        self.cdp
            .eval(expression)
            .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
    }

    /// Waits for the page to show an error and returns its stable code.
    fn wait_for_error(&mut self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Value::String(code)) = self.cdp.eval(
                "(() => { const e = document.getElementById('error'); return e && !e.hidden ? e.dataset.code : null; })()",
            ) {
                return code;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the page showed no error within {timeout:?}");
    }

    fn count(&mut self, selector: &str) -> u64 {
        self.eval(&format!("document.querySelectorAll({selector:?}).length"))
            .as_u64()
            .expect("a count")
    }
}

/// Where the test's app wants its user back: an address nobody listens on, answered inside the
/// browser by interception (`Fetch.requestPaused`).
const APP_CALLBACK: &str = "http://127.0.0.1:9/callback";

/// Registers the app as a public client of the tenant; returns its `client_id`.
async fn register_app(http: &reqwest::Client, origin: &str, tenant: &str, admin: &str) -> String {
    let response = http
        .post(format!("{origin}/v1/admin/tenants/{tenant}/clients"))
        .bearer_auth(admin)
        .json(&json!({ "name": "browser test app", "redirect_uris": [APP_CALLBACK] }))
        .send()
        .await
        .expect("the admin API");
    assert_eq!(response.status(), 201, "registering the app");
    let body: Value = response.json().await.expect("client json");
    body["client_id"].as_str().expect("client_id").to_owned()
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    use sha2::Digest as _;
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn base64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn url_query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the browser test with `cargo xtask test`, which starts the stack")
    })
}

#[tokio::test]
async fn a_person_signs_up_with_a_passkey_signs_out_everywhere_and_signs_in_again_by_autofill() {
    let pages = var("SYSTEM_PAGES_URL");
    let edge = var("EDGE_URL");
    let tenant = var("SYSTEM_TENANT");
    let origin = var("ORIGIN_URL");
    let admin_token = var("SYSTEM_ADMIN_TOKEN");
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser");
    // Only this run's pictures.
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("target/browser");
    let http = reqwest::Client::new();

    let launched = Instant::now();
    let browser = Chromium::launch();
    let mut cdp = Cdp::open_page(&browser);
    for method in ["Page.enable", "Runtime.enable"] {
        cdp.call(method, json!({}));
    }
    cdp.call("WebAuthn.enable", json!({ "enableUI": false }));
    let authenticator = cdp.call(
        "WebAuthn.addVirtualAuthenticator",
        json!({ "options": {
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        }}),
    )["authenticatorId"]
        .as_str()
        .expect("an authenticator id")
        .to_owned();
    let mut story = Story {
        cdp,
        pages,
        tenant,
        out,
        started: Instant::now(),
        step_started: launched,
        log: Vec::new(),
        shots: 0,
        pending_shots: Vec::new(),
    };
    story.step("chromium started, virtual authenticator added (ctap2, internal, resident key, UV)");
    let email = format!("browser-{}@example.com", uuid::Uuid::new_v4());

    // 1. An app sends the person to /authorize; with no hosted sign-in, the sign-in page.
    let app = register_app(&http, &origin, &story.tenant, &admin_token).await;
    let (verifier, challenge) = pkce();
    let state = uuid::Uuid::new_v4().to_string();
    let authorize = format!(
        "{}?{}",
        story.url("/authorize"),
        url_query(&[
            ("response_type", "code"),
            ("client_id", &app),
            ("redirect_uri", APP_CALLBACK),
            ("scope", "openid email"),
            ("state", &state),
            ("nonce", "browser-nonce"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
    );
    // The app's callback is answered here, in the browser: nothing listens at its address.
    story.cdp.call(
        "Fetch.enable",
        json!({ "patterns": [{ "urlPattern": format!("{APP_CALLBACK}*"), "requestStage": "Request" }] }),
    );
    story.cdp.goto(&authorize);
    let sign_in = story.path("/sign-in");
    assert_eq!(story.eval("location.pathname"), sign_in.as_str());
    assert!(
        story
            .eval("document.querySelector('input[name=return_to]').value")
            .as_str()
            .is_some_and(|r| r.starts_with(&story.path("/authorize?"))),
        "the sign-in page comes back to /authorize"
    );
    story.screenshot("sign-in-from-authorize");
    story.step("app -> /authorize -> hosted sign-in page (return_to kept)");

    // 2. No account yet: to sign-up (keeping where to return), sign up with a passkey.
    story.eval("document.querySelector('a[href*=\"/sign-up\"]').click(); true");
    let sign_up = story.path("/sign-up");
    story.cdp.wait_for_path(&sign_up, STEP_TIMEOUT);
    assert_eq!(
        story.eval("document.getElementById('passkey-sign-up').hidden"),
        false,
        "the passkey button is offered"
    );
    story.screenshot("sign-up");
    story.eval(&format!(
        "document.getElementById('email').value = {email:?}; document.getElementById('passkey-sign-up').click(); true"
    ));
    // Signed up, the page goes back to /authorize, which redirects to the app with a code.
    let paused = story.cdp.wait_event("Fetch.requestPaused", STEP_TIMEOUT);
    let callback = url::Url::parse(paused["request"]["url"].as_str().expect("callback url"))
        .expect("a callback url");
    story.cdp.call(
        "Fetch.fulfillRequest",
        json!({
            "requestId": paused["requestId"],
            "responseCode": 200,
            "responseHeaders": [{ "name": "content-type", "value": "text/html; charset=utf-8" }],
            "body": base64_encode(b"<!doctype html><title>app</title><h1>The app got its code</h1>"),
        }),
    );
    let param = |name: &str| {
        callback
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some(state.as_str()));
    assert_eq!(param("error"), None, "{callback}");
    let code = param("code").expect("a code");
    story.cdp.wait_event("Page.loadEventFired", STEP_TIMEOUT);
    story.screenshot("app-callback");
    story.step("signed up with a passkey; back at /authorize; redirected to the app with a code");

    // 3. The app exchanges the code and calls the API through the edge.
    let response = http
        .post(format!("{origin}/t/{}/token", story.tenant))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP_CALLBACK),
            ("client_id", &app),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .expect("the token endpoint");
    assert_eq!(response.status(), 200, "code exchange");
    let tokens: Value = response.json().await.expect("token json");
    let token = tokens["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    assert!(tokens["id_token"].is_string(), "{tokens}");
    let response = http
        .get(format!("{edge}/api/hello"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the edge");
    assert_eq!(response.status(), 200, "the edge lets the token through");
    story.step("code exchanged at /token (PKCE S256); GET /api/hello through the edge: 200");

    // 4. The account page lists the sessions (the page's and the app's) and the passkey.
    let account = story.path("/account");
    story.cdp.goto(&story.url("/account"));
    assert_eq!(
        story.eval("document.getElementById('account-email').textContent"),
        email
    );
    assert_eq!(
        story.count("#sessions li"),
        2,
        "the page's session and the app's"
    );
    assert_eq!(story.count("#passkeys li"), 1);
    let credentials = story.cdp.call(
        "WebAuthn.getCredentials",
        json!({ "authenticatorId": authenticator }),
    );
    assert_eq!(
        credentials["credentials"].as_array().map(Vec::len),
        Some(1),
        "the authenticator holds one resident credential: {credentials}"
    );
    assert_eq!(credentials["credentials"][0]["isResidentCredential"], true);
    story.screenshot("account");
    story.step("account page lists 2 sessions and 1 passkey");

    // 5. Sign out everywhere from the account page; the edge refuses the old token. From here the
    // authenticator fails user verification, so the sign-in page's autofill request (which the
    // virtual authenticator answers without a person choosing) fails until step 5 lets it pass.
    story.cdp.call(
        "WebAuthn.setUserVerified",
        json!({ "authenticatorId": authenticator, "isUserVerified": false }),
    );
    story.eval("document.getElementById('sign-out-everywhere').click(); true");
    story.cdp.wait_for_path(&sign_in, STEP_TIMEOUT);
    let response = http
        .get(format!("{edge}/api/hello"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the edge");
    assert_eq!(response.status(), 401, "the edge refuses the old token");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "token_revoked", "{body}");
    story.step("signed out everywhere from the account page; edge: 401 token_revoked");

    // 6. Passkey autofill: the e-mail field offers passkeys (conditional mediation). The first
    // attempt fails (no user verification) and the page shows why; the request starts again by
    // itself, and once the authenticator verifies the user, it signs in.
    let sign_in = story.path("/sign-in");
    assert_eq!(
        story.eval("document.getElementById('email').autocomplete"),
        "username webauthn"
    );
    let code = story.wait_for_error(STEP_TIMEOUT);
    assert!(
        ["passkey_invalid", "passkey_cancelled"].contains(&code.as_str()),
        "a failed autofill attempt says why: {code}"
    );
    assert_eq!(story.eval("location.pathname"), sign_in.as_str());
    story.screenshot("sign-in-autofill-error");
    story.step(&format!(
        "autofill attempt without user verification refused ({code}), shown on the page"
    ));
    story.cdp.call(
        "WebAuthn.setUserVerified",
        json!({ "authenticatorId": authenticator, "isUserVerified": true }),
    );
    story.cdp.wait_for_path(&account, STEP_TIMEOUT);
    assert_eq!(
        story.eval("document.getElementById('account-email').textContent"),
        email
    );
    assert_eq!(
        story.count("#sessions li"),
        1,
        "only the new session is live"
    );
    story.screenshot("account-after-autofill");
    story.step("autofill restarted by itself after the error; signed in -> account");

    // 7. The sign-in page as a person first sees it: signed out, the autofill request waiting (the
    // authenticator no longer answers by itself: no one is there to touch it).
    story.cdp.call(
        "WebAuthn.setAutomaticPresenceSimulation",
        json!({ "authenticatorId": authenticator, "enabled": false }),
    );
    story.eval("document.getElementById('sign-out').click(); true");
    story.cdp.wait_for_path(&sign_in, STEP_TIMEOUT);
    assert_eq!(
        story.eval("document.getElementById('error').hidden"),
        true,
        "nothing failed"
    );
    story.screenshot("sign-in");
    story.step("signed out (form post) -> sign-in page");

    // 8. Without JavaScript, by keyboard alone: sign up with a password (the passkey button stays
    // hidden), Enter submits, the account page shows the new account.
    story.cdp.call(
        "Emulation.setScriptExecutionDisabled",
        json!({ "value": true }),
    );
    story.cdp.call(
        "Emulation.setFocusEmulationEnabled",
        json!({ "enabled": true }),
    );
    story.cdp.goto(&story.url("/sign-up"));
    let password_user = format!("keyboard-{}@example.com", uuid::Uuid::new_v4());
    // `autofocus` is applied at the next rendering update, which may come after the load event:
    // the person clicks into the field first.
    story.eval("document.getElementById('email').focus(); true");
    story.cdp.type_text(&password_user);
    story.cdp.press("Tab", 9);
    story.cdp.type_text("correct horse battery staple");
    story.screenshot("sign-up-without-javascript");
    story.cdp.press("Enter", 13);
    story.cdp.wait_for_path(&account, STEP_TIMEOUT);
    assert_eq!(
        story.eval("document.getElementById('account-email').textContent"),
        password_user.as_str()
    );
    assert_eq!(
        story.eval("document.getElementById('add-passkey').hidden"),
        true,
        "no script ran"
    );
    story.screenshot("account-without-javascript");
    story.step("without JavaScript, keyboard only: password sign-up (Tab, Enter) -> account");

    let total = format!("{:>6} ms  total", story.started.elapsed().as_millis());
    story.log.push(total);
    std::fs::write(story.out.join("story.txt"), story.log.join("\n") + "\n").expect("story.txt");
}
