//! The real-browser test: Debian's `chromium`, headless, over the DevTools protocol, with a virtual
//! authenticator (CTAP2, internal transport, resident keys, user verification), against the stack
//! `cargo xtask test` runs (`SYSTEM_PAGES_URL`, `EDGE_URL`, `SYSTEM_TENANT`).
//!
//! The story: sign up with a passkey on the hosted page; the account page lists the session and the
//! passkey; an app on the page's origin signs in with the same passkey through the API and calls
//! the API through the edge with its token (200); sign out everywhere from the account page; the
//! edge refuses the old token; then passkey autofill sign-in succeeds. Each page's screenshot and
//! each step's time go to `target/browser/`.

mod cdp;

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

/// What an app on the pages' origin does to get tokens with a passkey: the API's username-less
/// ceremony (start, `navigator.credentials.get`, finish). Returns the access token.
fn api_passkey_sign_in(tenant: &str) -> String {
    format!(
        r#"(async () => {{
  const dec = (t) => {{ const b = t.replace(/-/g, '+').replace(/_/g, '/');
    const s = atob(b + '==='.slice((b.length + 3) % 4)); return Uint8Array.from(s, (c) => c.charCodeAt(0)).buffer; }};
  const enc = (buf) => {{ let s = ''; new Uint8Array(buf).forEach((b) => {{ s += String.fromCharCode(b); }});
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''); }};
  const post = async (path, body) => {{
    const r = await fetch(path, {{ method: 'POST', headers: {{ 'content-type': 'application/json' }}, body: JSON.stringify(body) }});
    const j = await r.json(); if (!r.ok) throw new Error(JSON.stringify(j)); return j; }};
  const started = await post('/t/{tenant}/v1/passkeys/authentications', {{}});
  const pk = started.options.publicKey; pk.challenge = dec(pk.challenge);
  const c = await navigator.credentials.get({{ publicKey: pk }});
  const done = await post('/t/{tenant}/v1/passkeys/authentications/finish', {{
    ceremony_id: started.ceremony_id,
    credential: {{ id: c.id, rawId: enc(c.rawId), type: c.type, response: {{
      authenticatorData: enc(c.response.authenticatorData), clientDataJSON: enc(c.response.clientDataJSON),
      signature: enc(c.response.signature), userHandle: enc(c.response.userHandle) }} }} }});
  return done.access_token;
}})()"#
    )
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

    // 1. Sign up with a passkey.
    let email = format!("browser-{}@example.com", uuid::Uuid::new_v4());
    let sign_up = story.url("/sign-up");
    story.cdp.goto(&sign_up);
    assert_eq!(
        story.eval("document.getElementById('passkey-sign-up').hidden"),
        false,
        "the passkey button is offered"
    );
    story.screenshot("sign-up");
    story.eval(&format!(
        "document.getElementById('email').value = {email:?}; document.getElementById('passkey-sign-up').click(); true"
    ));
    let account = story.path("/account");
    story.cdp.wait_for_path(&account, STEP_TIMEOUT);
    story.step("signed up with a passkey on the hosted page (sign-up -> account)");

    // 2. The account page lists this session and the passkey.
    assert_eq!(
        story.eval("document.getElementById('account-email').textContent"),
        email
    );
    assert_eq!(story.count("#sessions li"), 1);
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
    story.screenshot("account-after-sign-up");
    story.step("account page lists 1 session and 1 passkey");

    // 3. An app signs in with the passkey through the API and calls the API through the edge.
    let token = story
        .eval(&api_passkey_sign_in(&story.tenant.clone()))
        .as_str()
        .expect("an access token")
        .to_owned();
    let response = http
        .get(format!("{edge}/api/hello"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the edge");
    assert_eq!(response.status(), 200, "the edge lets the token through");
    story.cdp.goto(&story.url("/account"));
    assert_eq!(
        story.count("#sessions li"),
        2,
        "the app's session is listed too"
    );
    story.screenshot("account-two-sessions");
    story.step("passkey sign-in through the API; GET /api/hello through the edge: 200");

    // 4. Sign out everywhere from the account page; the edge refuses the old token. From here the
    // authenticator fails user verification, so the sign-in page's autofill request (which the
    // virtual authenticator answers without a person choosing) fails until step 5 lets it pass.
    story.cdp.call(
        "WebAuthn.setUserVerified",
        json!({ "authenticatorId": authenticator, "isUserVerified": false }),
    );
    story.eval("document.getElementById('sign-out-everywhere').click(); true");
    let sign_in = story.path("/sign-in");
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

    // 5. Passkey autofill: the e-mail field offers passkeys (conditional mediation). The first
    // attempt fails (no user verification) and the page shows why; the request starts again by
    // itself, and once the authenticator verifies the user, it signs in.
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

    // 6. The sign-in page as a person first sees it: signed out, the autofill request waiting (the
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

    let total = format!("{:>6} ms  total", story.started.elapsed().as_millis());
    story.log.push(total);
    std::fs::write(story.out.join("story.txt"), story.log.join("\n") + "\n").expect("story.txt");
}
