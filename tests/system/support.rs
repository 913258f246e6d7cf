//! The stack under test, and a signed-in user to call it with.

use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Stack {
    pub edge: String,
    pub origin: String,
    pub upstream: String,
    pub tenant: String,
    pub other_tenant: String,
    pub http: Client,
}

impl Stack {
    /// The stack described by the environment. Panics with instructions when it is not set: a system
    /// test that cannot reach the stack fails, it is never skipped.
    pub fn from_env() -> Stack {
        Stack {
            edge: system_var("EDGE_URL"),
            origin: system_var("ORIGIN_URL"),
            upstream: system_var("UPSTREAM_URL"),
            tenant: system_var("SYSTEM_TENANT"),
            other_tenant: system_var("SYSTEM_OTHER_TENANT"),
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                // wrangler dev's Node proxy closes a connection idle for 5 s; reusing one it is
                // closing fails with `IncompleteMessage` (seen after a slow `wrangler kv` call).
                .pool_idle_timeout(std::time::Duration::from_secs(2))
                .build()
                .expect("http client"),
        }
    }

    pub fn tenant_url(&self, tenant: &str, path: &str) -> String {
        format!("{}/t/{tenant}{path}", self.origin)
    }

    /// Signs up a fresh user of `tenant` and signs it in.
    pub async fn signed_in_user(&self, tenant: &str) -> User {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4());
        let password = "correct horse battery staple";
        let created = self
            .http
            .post(self.tenant_url(tenant, "/v1/users"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("sign up");
        assert_eq!(created.status(), StatusCode::CREATED, "sign up");
        let user_id = created.json::<Value>().await.expect("sign-up body")["id"]
            .as_str()
            .expect("user id")
            .to_owned();
        let session = self.sign_in(tenant, &email, password).await;
        User {
            id: user_id,
            email,
            password: password.to_owned(),
            tenant: tenant.to_owned(),
            session,
        }
    }

    pub async fn sign_in(&self, tenant: &str, email: &str, password: &str) -> Session {
        self.open_session(tenant, json!({ "email": email, "password": password }))
            .await
    }

    /// Another session of `user`.
    pub async fn sign_in_again(&self, user: &User) -> Session {
        self.sign_in(&user.tenant, &user.email, &user.password)
            .await
    }

    /// A new session of `user`, acting for the organization `org_id`.
    pub async fn sign_in_to_org(&self, user: &User, org_id: &str) -> Session {
        self.open_session(
            &user.tenant,
            json!({ "email": user.email, "password": user.password, "org_id": org_id }),
        )
        .await
    }

    async fn open_session(&self, tenant: &str, credentials: Value) -> Session {
        let response = self
            .http
            .post(self.tenant_url(tenant, "/v1/sessions"))
            .json(&credentials)
            .send()
            .await
            .expect("sign in");
        assert_eq!(response.status(), StatusCode::CREATED, "sign in");
        let body: Value = response.json().await.expect("sign-in body");
        Session {
            access_token: body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            session_id: body["session_id"].as_str().expect("session_id").to_owned(),
        }
    }

    /// `GET {edge}{path}` with an optional bearer token and extra headers.
    pub async fn edge_get(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut request = self.http.get(format!("{}{path}", self.edge));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request to the edge")
    }

    /// Deletes `key` from the edge's KV namespace `binding` in the local storage of the running
    /// `wrangler dev` (`SYSTEM_EDGE_STATE`), as if KV had not yet received it at this location.
    pub fn forget_in_kv(&self, binding: &str, key: &str) {
        let state = system_var("SYSTEM_EDGE_STATE");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let output = std::process::Command::new(root.join("node_modules/.bin/wrangler"))
            .current_dir(&root)
            .args(["kv", "key", "delete", key, "--binding", binding])
            .args(["--local", "--persist-to", &state])
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running wrangler kv key delete");
        assert!(
            output.status.success(),
            "wrangler kv key delete failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `DELETE /v1/sessions` with `token`: signs its user out of every session.
    pub async fn sign_out_everywhere(&self, user: &User, token: &str) -> Response {
        self.http
            .delete(self.tenant_url(&user.tenant, "/v1/sessions"))
            .bearer_auth(token)
            .send()
            .await
            .expect("sign out everywhere")
    }

    pub async fn sign_out(&self, user: &User, session: &Session) -> StatusCode {
        self.http
            .delete(self.tenant_url(
                &user.tenant,
                &format!("/v1/sessions/{}", session.session_id),
            ))
            .bearer_auth(&session.access_token)
            .send()
            .await
            .expect("sign out")
            .status()
    }
}

/// A variable `cargo xtask test` sets for the system tests. Panics with instructions when it is not
/// set: a system test that cannot reach the stack fails, it is never skipped.
pub fn system_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the system tests with `cargo xtask test`, which starts the stack")
    })
}

/// The operator's admin API token of the stack.
pub fn admin_token() -> String {
    system_var("SYSTEM_ADMIN_TOKEN")
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password: String,
    pub tenant: String,
    pub session: Session,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub access_token: String,
    pub session_id: String,
}

/// The unverified claims of a token (the test inspects what it was given).
pub fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).expect("claims part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("claims encoding");
    serde_json::from_slice(&bytes).expect("claims json")
}

/// Asserts a refusal: status, error code in the JSON envelope, and for 401 the RFC 6750 challenge.
pub async fn assert_refused(response: Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status, "status for {code}");
    if status == StatusCode::UNAUTHORIZED {
        let challenge = response
            .headers()
            .get("www-authenticate")
            .expect("401 carries WWW-Authenticate")
            .to_str()
            .expect("ascii challenge")
            .to_owned();
        assert!(challenge.starts_with("Bearer"), "challenge {challenge}");
        if code != "token_missing" {
            assert!(
                challenge.contains("error=\"invalid_token\""),
                "challenge {challenge}"
            );
        }
    }
    let body: Value = response.json().await.expect("json error body");
    assert_eq!(body["error"]["code"], code, "body {body}");
}
