//! Spawning the real app on a random port, and a stand-in for the edge's revocation endpoint.

use auth_core::notice::{
    self, KeyRevocationNotice, NotBeforeNotice, RevocationNotice, SessionNotice,
};
use auth_core::KeySet;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use origin_api::config::{Config, EdgePushConfig};
use origin_api::keys::KeyEncryptionKey;
use origin_api::{router, AppState};
use reqwest::Response;
use secrecy::SecretString;
use serde_json::{json, Value};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghijklmnop";
pub const EDGE_SECRET: &str = "test-edge-secret-0123456789abcdefghijklmnop";
pub const PUBLIC_URL: &str = "http://origin.test";
/// Where the hosted pages are: a domain under which the tests' passkeys are made.
pub const PAGES_URL: &str = "https://login.example.com";
pub const PASSWORD: &str = "correct horse battery staple";
pub const TTL_SECS: i64 = 300;

/// A running app and what tests need to poke at it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: PgPool,
    pub state: AppState,
    pub kek: KeyEncryptionKey,
}

pub fn test_config(edge_url: Option<String>) -> Config {
    Config {
        database_url: SecretString::from("postgres://unused".to_owned()),
        addr: "127.0.0.1:0".parse().unwrap(),
        public_url: PUBLIC_URL.to_owned(),
        pages_url: PAGES_URL.to_owned(),
        admin_token: SecretString::from(ADMIN_TOKEN.to_owned()),
        key_encryption_key: KeyEncryptionKey::generate(),
        edge_push: edge_url.map(|url| EdgePushConfig {
            url,
            secret: SecretString::from(EDGE_SECRET.to_owned()),
        }),
        access_token_ttl: Duration::from_secs(TTL_SECS as u64),
        client_ip: Default::default(),
        hash_workers: None,
        // Tests that want the hold set it; the rest would only wait.
        brute_force_hold: Duration::ZERO,
        // A loaded machine may make a test's queries wait long for a connection (64 concurrent
        // sign-ins share ten): it must make the test slower, never fail it with a 500.
        db_acquire_timeout: Duration::from_secs(60),
        key_rotation: Default::default(),
    }
}

/// The app with revocation pushes disabled.
pub async fn spawn_app(db: PgPool) -> TestApp {
    spawn_with(db, test_config(None)).await
}

/// The app pushing revocations to `edge_url`.
pub async fn spawn_app_with_edge(db: PgPool, edge_url: &str) -> TestApp {
    spawn_with(db, test_config(Some(edge_url.to_owned()))).await
}

/// The app with a configuration of the test's choosing.
pub async fn spawn_with(db: PgPool, config: Config) -> TestApp {
    let state = AppState::new(db.clone(), &config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        state,
        kek: config.key_encryption_key,
    }
}

/// The app with its public and pages urls set to where it listens, so that an outside client can
/// follow the discovery document's endpoints.
pub async fn spawn_self_addressed(db: PgPool) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let config = Config {
        public_url: address.clone(),
        pages_url: address.clone(),
        ..test_config(None)
    };
    let state = AppState::new(db.clone(), &config).unwrap();
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    TestApp {
        address,
        client: reqwest::Client::new(),
        db,
        state,
        kek: config.key_encryption_key,
    }
}

/// A tenant, a user in it, and a fresh sign-in.
pub struct SignedIn {
    pub tenant: Value,
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_with_token(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_tenant(&self, body: &Value, admin_token: Option<&str>) -> Response {
        let mut request = self.client.post(self.url("/v1/admin/tenants")).json(body);
        if let Some(token) = admin_token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Creates a tenant; panics unless it is created.
    pub async fn create_tenant(&self, slug: &str) -> Value {
        let response = self
            .post_tenant(
                &json!({"slug": slug, "name": format!("Tenant {slug}")}),
                Some(ADMIN_TOKEN),
            )
            .await;
        assert_eq!(response.status(), 201, "creating tenant {slug}");
        response.json().await.unwrap()
    }

    pub async fn post_user(&self, slug: &str, email: &str, password: &str) -> Response {
        self.post_json(
            &format!("/t/{slug}/v1/users"),
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Creates a user; panics unless it is created. Returns the user id.
    pub async fn create_user(&self, slug: &str, email: &str) -> String {
        let response = self.post_user(slug, email, PASSWORD).await;
        assert_eq!(response.status(), 201, "creating user {email}");
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn post_session(&self, slug: &str, email: &str, password: &str) -> Response {
        self.post_json(
            &format!("/t/{slug}/v1/sessions"),
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs in; panics unless it succeeds. Returns the token response.
    pub async fn sign_in(&self, slug: &str, email: &str) -> Value {
        let response = self.post_session(slug, email, PASSWORD).await;
        assert_eq!(response.status(), 201, "signing in {email}");
        response.json().await.unwrap()
    }

    /// A tenant with one signed-in user.
    pub async fn signed_in(&self, slug: &str, email: &str) -> SignedIn {
        let tenant = self.create_tenant(slug).await;
        let user_id = self.create_user(slug, email).await;
        let tokens = self.sign_in(slug, email).await;
        SignedIn {
            tenant,
            user_id,
            access_token: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
            session_id: tokens["session_id"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn refresh(&self, slug: &str, refresh_token: &str) -> Response {
        self.post_json(
            &format!("/t/{slug}/v1/sessions/refresh"),
            &json!({"refresh_token": refresh_token}),
        )
        .await
    }

    pub async fn me(&self, slug: &str, token: &str) -> Response {
        self.get_with_token(&format!("/t/{slug}/v1/me"), token)
            .await
    }

    pub async fn delete_session(&self, slug: &str, session_id: &str, token: &str) -> Response {
        self.client
            .delete(self.url(&format!("/t/{slug}/v1/sessions/{session_id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// The tenant's published keys, parsed as the edge parses them.
    pub async fn key_set(&self, slug: &str) -> KeySet {
        let response = self.get(&format!("/t/{slug}/.well-known/jwks.json")).await;
        assert_eq!(response.status(), 200);
        KeySet::from_jwks_json(&response.bytes().await.unwrap()).unwrap()
    }

    /// `(tenant_id, session_id, expires_at, attempts, last_error)` of every session revocation in
    /// the outbox, oldest first.
    pub async fn outbox_rows(&self) -> Vec<(String, String, i64, i32, Option<String>)> {
        sqlx::query_as(
            "SELECT tenant_id::text, payload->>'session_id', expires_at, attempts, last_error
             FROM revocation_outbox WHERE kind = 'session_revoked' ORDER BY id",
        )
        .fetch_all(&self.db)
        .await
        .unwrap()
    }

    /// `(kind, payload)` of every outbox row, oldest first.
    pub async fn outbox(&self) -> Vec<(String, Value)> {
        sqlx::query_as::<_, (String, sqlx::types::Json<Value>)>(
            "SELECT kind, payload FROM revocation_outbox ORDER BY id",
        )
        .fetch_all(&self.db)
        .await
        .unwrap()
        .into_iter()
        .map(|(kind, payload)| (kind, payload.0))
        .collect()
    }

    /// Waits (up to 10 s) until the outbox is empty: a background push settles its row only after
    /// the edge has answered, so a test that saw the notice arrive can still see its row.
    pub async fn wait_for_empty_outbox(&self) {
        for _ in 0..1000 {
            if self.outbox().await.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the outbox never emptied: {:?}", self.outbox().await);
    }

    /// Drops the notices that only feed the edge's session listing (each sign-in and refresh
    /// queues one), for tests that count what a retry pass pushes of the revocations.
    pub async fn drop_session_notices(&self) {
        sqlx::query("DELETE FROM revocation_outbox WHERE kind = 'session_seen'")
            .execute(&self.db)
            .await
            .unwrap();
    }
}

/// Asserts the status and the error envelope, and returns the message.
pub async fn assert_error(response: Response, status: u16, code: &str) -> String {
    assert_eq!(response.status(), status, "expected {status} {code}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    body["error"]["message"]
        .as_str()
        .expect("a message")
        .to_owned()
}

/// Decodes one base64url JSON part of a compact JWS.
pub fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Rebuilds a token with a changed claims part and the original signature.
pub fn with_claims(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap()),
        parts[2]
    )
}

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Stands in for the edge's revocation endpoint: authenticates each push with the shared secret and
/// records the notices it accepts.
#[derive(Clone)]
pub struct EdgeReceiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// Every push waits for a read guard before it is answered: a test holding the write guard
    /// keeps pushes in flight.
    gate: Arc<tokio::sync::RwLock<()>>,
    /// Session ids whose push is being answered right now, and how often one arrived while another
    /// push of the same session was still in flight.
    in_flight: Arc<Mutex<Vec<String>>>,
    overlaps: Arc<Mutex<usize>>,
    /// Key revocations (`/__auth/key-revocations`) that passed authentication.
    key_notices: Arc<Mutex<Vec<KeyRevocationNotice>>>,
    /// Not-befores (`/__auth/not-before`) that passed authentication.
    not_before_notices: Arc<Mutex<Vec<NotBeforeNotice>>>,
    /// Sessions opened or refreshed (`/__auth/sessions`) that passed authentication.
    session_notices: Arc<Mutex<Vec<SessionNotice>>>,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub notice: Result<RevocationNotice, notice::NoticeError>,
    pub content_type: Option<String>,
}

impl EdgeReceiver {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// Listens on `addr`, which may be one [`unused_addr`] gave out (an edge that comes up).
    pub async fn start_on(addr: SocketAddr) -> Self {
        let listener = listen_on(addr).await;
        let url = format!(
            "http://{}/__auth/revocations",
            listener.local_addr().unwrap()
        );
        let receiver = EdgeReceiver {
            url,
            received: Arc::default(),
            gate: Arc::default(),
            in_flight: Arc::default(),
            overlaps: Arc::default(),
            key_notices: Arc::default(),
            not_before_notices: Arc::default(),
            session_notices: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/__auth/revocations", axum::routing::post(receive))
            .route("/__auth/key-revocations", axum::routing::post(receive_key))
            .route(
                "/__auth/not-before",
                axum::routing::post(
                    |State(r): State<EdgeReceiver>, headers: HeaderMap, body: Bytes| async move {
                        receive_as(&r.not_before_notices, &headers, &body)
                    },
                ),
            )
            .route(
                "/__auth/sessions",
                axum::routing::post(
                    |State(r): State<EdgeReceiver>, headers: HeaderMap, body: Bytes| async move {
                        receive_as(&r.session_notices, &headers, &body)
                    },
                ),
            )
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    /// Notices that passed authentication.
    pub fn notices(&self) -> Vec<RevocationNotice> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| r.notice.clone().ok())
            .collect()
    }

    /// Key revocations that passed authentication.
    pub fn key_notices(&self) -> Vec<KeyRevocationNotice> {
        self.key_notices.lock().unwrap().clone()
    }

    /// Not-befores that passed authentication.
    pub fn not_before_notices(&self) -> Vec<NotBeforeNotice> {
        self.not_before_notices.lock().unwrap().clone()
    }

    /// Session notices that passed authentication.
    pub fn session_notices(&self) -> Vec<SessionNotice> {
        self.session_notices.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until at least `n` session notices have arrived (they are pushed in the
    /// background).
    pub async fn wait_for_session_notices(&self, n: usize) -> Vec<SessionNotice> {
        for _ in 0..1000 {
            let notices = self.session_notices();
            if notices.len() >= n {
                return notices;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{n} session notices never arrived");
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Holds every push until the guard is dropped.
    pub async fn hold(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.gate.clone().write_owned().await
    }

    /// How many pushes arrived while a push of the same session was still being answered.
    pub fn overlapping_pushes(&self) -> usize {
        *self.overlaps.lock().unwrap()
    }

    /// Waits (up to 10 s) until at least `n` pushes have arrived.
    pub async fn wait_for(&self, n: usize) {
        for _ in 0..1000 {
            if self.received.lock().unwrap().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{n} pushes never arrived");
    }
}

async fn receive(
    State(receiver): State<EdgeReceiver>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let opened = notice::open(
        EDGE_SECRET.as_bytes(),
        header(notice::TIMESTAMP_HEADER),
        header(notice::SIGNATURE_HEADER),
        &body,
        now_unix(),
    );
    let status = if opened.is_ok() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    };
    let session = opened
        .as_ref()
        .map(|n| n.session_id.clone())
        .unwrap_or_default();
    {
        let mut in_flight = receiver.in_flight.lock().unwrap();
        if in_flight.contains(&session) {
            *receiver.overlaps.lock().unwrap() += 1;
        }
        in_flight.push(session.clone());
    }
    receiver.received.lock().unwrap().push(Received {
        notice: opened,
        content_type: header("content-type").map(str::to_owned),
    });
    drop(receiver.gate.read().await);
    {
        let mut in_flight = receiver.in_flight.lock().unwrap();
        if let Some(i) = in_flight.iter().position(|s| s == &session) {
            in_flight.remove(i);
        }
    }
    status
}

async fn receive_key(
    State(receiver): State<EdgeReceiver>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match notice::open_as::<KeyRevocationNotice>(
        EDGE_SECRET.as_bytes(),
        header(notice::TIMESTAMP_HEADER),
        header(notice::SIGNATURE_HEADER),
        &body,
        now_unix(),
    ) {
        Ok(notice) => {
            receiver.key_notices.lock().unwrap().push(notice);
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}

/// Records a notice of type `T` that passes authentication.
fn receive_as<T: serde::de::DeserializeOwned>(
    into: &Mutex<Vec<T>>,
    headers: &HeaderMap,
    body: &[u8],
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match notice::open_as::<T>(
        EDGE_SECRET.as_bytes(),
        header(notice::TIMESTAMP_HEADER),
        header(notice::SIGNATURE_HEADER),
        body,
        now_unix(),
    ) {
        Ok(notice) => {
            into.lock().unwrap().push(notice);
            StatusCode::NO_CONTENT
        }
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}

/// Ports handed out by [`unused_addr`], each held by a socket that is bound but never listens.
/// Released instead, a port could be bound again at once by another test running beside this one
/// (an edge receiver or an app), and the pushes meant to fail would reach it.
static RESERVED: Mutex<Vec<tokio::net::TcpSocket>> = Mutex::new(Vec::new());

/// An address nothing listens on, for an unreachable edge: connecting to it is refused, and it
/// stays reserved for the whole run (without `SO_REUSEADDR`, so nothing else can bind it), unless
/// [`EdgeReceiver::start_on`] takes it over.
pub async fn unused_addr() -> SocketAddr {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    RESERVED.lock().unwrap().push(socket);
    addr
}

/// A listener on `addr`: the reserved socket of [`unused_addr`] if it is one, else a fresh bind.
async fn listen_on(addr: SocketAddr) -> tokio::net::TcpListener {
    let reserved = {
        let mut reserved = RESERVED.lock().unwrap();
        let index = reserved
            .iter()
            .position(|s| s.local_addr().ok() == Some(addr));
        index.map(|i| reserved.swap_remove(i))
    };
    match reserved {
        Some(socket) => socket.listen(1024).unwrap(),
        None => tokio::net::TcpListener::bind(addr).await.unwrap(),
    }
}

// pages, passkeys and oauth fixtures

/// A client that follows no redirect: a browser's view of the hosted pages' 303s and `/authorize`'s
/// 302s, whose `Location` the tests read.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A tenant a test starts from, built in steps and created through the admin and user APIs as a
/// client would: `app.tenant("acme").passkeys("example.com", &[..]).user("ada@example.com").create()`.
pub struct TenantFixture<'a> {
    app: &'a TestApp,
    body: Value,
    users: Vec<String>,
}

/// What [`TenantFixture::create`] made.
pub struct Created {
    /// The admin API's answer.
    pub tenant: Value,
    /// The users' ids, in the order they were named.
    pub user_ids: Vec<String>,
}

impl TestApp {
    /// The tenant `slug`, named after it, with the origin's defaults.
    pub fn tenant(&self, slug: &str) -> TenantFixture<'_> {
        TenantFixture {
            app: self,
            body: json!({"slug": slug, "name": format!("Tenant {slug}")}),
            users: Vec::new(),
        }
    }
}

impl TenantFixture<'_> {
    /// Its relying party for passkeys: `rp_id`, accepting ceremonies from `origins`.
    pub fn passkeys(mut self, rp_id: &str, origins: &[&str]) -> Self {
        self.body["passkeys"] = json!({"rp_id": rp_id, "origins": origins});
        self
    }

    /// A user who signs up with `email` and [`PASSWORD`].
    pub fn user(mut self, email: &str) -> Self {
        self.users.push(email.to_owned());
        self
    }

    /// Creates the tenant, then its users; panics unless each is created.
    pub async fn create(self) -> Created {
        let response = self.app.post_tenant(&self.body, Some(ADMIN_TOKEN)).await;
        assert_eq!(response.status(), 201, "creating tenant {}", self.body);
        let tenant: Value = response.json().await.unwrap();
        let slug = tenant["slug"].as_str().unwrap().to_owned();
        let mut user_ids = Vec::new();
        for email in &self.users {
            user_ids.push(self.app.create_user(&slug, email).await);
        }
        Created { tenant, user_ids }
    }
}

// organizations and admin fixtures

/// A signed-in user: what the organization tests act with.
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
    pub session_id: String,
}

impl TestApp {
    pub async fn member(&self, slug: &str, email: &str) -> Member {
        let user_id = self.create_user(slug, email).await;
        self.session_of(slug, email, user_id).await
    }

    pub async fn session_of(&self, slug: &str, email: &str, user_id: String) -> Member {
        let tokens = self.sign_in(slug, email).await;
        Member {
            user_id,
            email: email.to_owned(),
            access_token: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
            session_id: tokens["session_id"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    pub async fn create_org(&self, slug: &str, who: &Member, name: &str) -> String {
        let response = self
            .send(
                reqwest::Method::POST,
                &format!("/t/{slug}/v1/orgs"),
                &who.access_token,
                Some(json!({ "name": name })),
            )
            .await;
        assert_eq!(response.status(), 201, "creating {name}");
        let body: Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn invite(
        &self,
        slug: &str,
        org: &str,
        by: &Member,
        email: &str,
        roles: &[&str],
    ) -> Response {
        self.send(
            reqwest::Method::POST,
            &format!("/t/{slug}/v1/orgs/{org}/invitations"),
            &by.access_token,
            Some(json!({ "email": email, "roles": roles })),
        )
        .await
    }

    pub async fn accept(&self, slug: &str, who: &Member, token: &str) -> Response {
        self.send(
            reqwest::Method::POST,
            &format!("/t/{slug}/v1/invitations/accept"),
            &who.access_token,
            Some(json!({ "token": token })),
        )
        .await
    }

    /// Invites `who` with `roles` and has them accept; panics unless both succeed.
    pub async fn join(&self, slug: &str, org: &str, by: &Member, who: &Member, roles: &[&str]) {
        let response = self.invite(slug, org, by, &who.email, roles).await;
        assert_eq!(response.status(), 201, "inviting {}", who.email);
        let token = response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let response = self.accept(slug, who, &token).await;
        assert_eq!(response.status(), 200, "{} accepting", who.email);
    }

    /// Tenant `slug` (created here) with organization `name`, created by `owner` (its owner), and
    /// `members` (an address and its roles each) signed up, invited by the owner and joined.
    pub async fn org_fixture(
        &self,
        slug: &str,
        name: &str,
        owner: &str,
        members: &[(&str, &[&str])],
    ) -> OrgFixture {
        self.create_tenant(slug).await;
        let owner = self.member(slug, owner).await;
        let org = self.create_org(slug, &owner, name).await;
        let mut joined = Vec::new();
        for (email, roles) in members {
            let member = self.member(slug, email).await;
            self.join(slug, &org, &owner, &member, roles).await;
            joined.push(member);
        }
        OrgFixture {
            org,
            owner,
            members: joined,
        }
    }
}

/// What [`TestApp::org_fixture`] made.
pub struct OrgFixture {
    /// The organization's id.
    pub org: String,
    pub owner: Member,
    /// In the order given, each signed in before joining (their tokens act for no organization).
    pub members: Vec<Member>,
}
