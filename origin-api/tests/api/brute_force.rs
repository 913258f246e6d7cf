//! Brute-force protection: progressive delays per account and per client address, before any
//! password check, the same for accounts that exist and accounts that do not.

use crate::helpers::{
    assert_error, spawn_app, spawn_with, test_config, TestApp, ADMIN_TOKEN, PASSWORD,
};
use origin_api::client_ip::{parse_trusted_proxies, ClientIpSource};
use reqwest::Response;
use serde_json::{json, Value};
use sqlx::PgPool;

const WRONG: &str = "not the password at all";

/// Moves every count `secs` into the past, as if that much time had gone by.
async fn let_time_pass(app: &TestApp, secs: i64) {
    sqlx::query("UPDATE attempt_throttles SET last_failure_at = last_failure_at - make_interval(secs => $1)")
        .bind(secs as f64)
        .execute(&app.db)
        .await
        .unwrap();
}

/// Stamps every count's last failure `secs_ago` seconds before the database's clock; a negative
/// value stamps it after. The throttle reads a failure stamped after its clock as one of that very
/// instant (`policy::decide`): the wait it then answers is the whole delay, however long the machine
/// took to send the next request.
async fn set_last_failure(app: &TestApp, secs_ago: i64) {
    sqlx::query(
        "UPDATE attempt_throttles SET last_failure_at = clock_timestamp() - make_interval(secs => $1)",
    )
    .bind(secs_ago as f64)
    .execute(&app.db)
    .await
    .unwrap();
}

/// Asserts a 429 of `policy` and returns its `Retry-After`.
async fn assert_throttled(response: Response, policy: &str, quota: u32, window: u32) -> i64 {
    let headers = response.headers().clone();
    assert_error(response, 429, "too_many_attempts").await;
    let retry_after: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1, "{retry_after}");
    assert_eq!(
        headers["ratelimit-policy"],
        format!("\"{policy}\";q={quota};w={window}").as_str()
    );
    assert_eq!(
        headers["ratelimit"],
        format!("\"{policy}\";r=0;t={retry_after}").as_str()
    );
    retry_after
}

async fn create_tenant_with(app: &TestApp, slug: &str, brute_force: Value) -> Value {
    let response = app
        .post_tenant(
            &json!({"slug": slug, "name": "Tenant", "brute_force": brute_force}),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn thirty_wrong_passwords_then_the_right_one_is_refused_until_the_delay_passes(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ursula@example.com").await;

    let mut statuses = vec![];
    let mut retry_afters = vec![];
    for _ in 0..30 {
        let response = app.post_session("acme", "ursula@example.com", WRONG).await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            retry_afters.push(assert_throttled(response, "account", 5, 900).await);
        } else {
            assert_error(response, 401, "invalid_credentials").await;
        }
    }
    assert_eq!(statuses[..5], [401; 5]);
    assert_eq!(statuses[5..], [429; 25]);
    assert!(
        retry_afters.iter().all(|t| (1..=30).contains(t)),
        "{retry_afters:?}"
    );

    // The right password is refused too, without being checked, until the delay has passed.
    let right = app
        .post_session("acme", "ursula@example.com", PASSWORD)
        .await;
    assert_throttled(right, "account", 5, 900).await;
    let_time_pass(&app, 31).await;
    assert_eq!(
        app.post_session("acme", "ursula@example.com", PASSWORD)
            .await
            .status(),
        201
    );

    // The success reset the account's count: five free failures again.
    for _ in 0..5 {
        let response = app.post_session("acme", "ursula@example.com", WRONG).await;
        assert_error(response, 401, "invalid_credentials").await;
    }
    let response = app.post_session("acme", "ursula@example.com", WRONG).await;
    assert_throttled(response, "account", 5, 900).await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_delay_grows_with_each_failure_after_it(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    for _ in 0..5 {
        app.post_session("acme", "ursula@example.com", WRONG).await;
    }
    let mut waits = vec![];
    for _ in 0..7 {
        set_last_failure(&app, -3600).await;
        let response = app.post_session("acme", "ursula@example.com", WRONG).await;
        let wait = assert_throttled(response, "account", 5, 900).await;
        waits.push(wait);
        // The delay has just passed: the next attempt runs, and fails.
        set_last_failure(&app, wait).await;
        let response = app.post_session("acme", "ursula@example.com", WRONG).await;
        assert_error(response, 401, "invalid_credentials").await;
    }
    assert_eq!(waits, [30, 60, 120, 240, 480, 900, 900]);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn unknown_and_known_accounts_answer_alike(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ursula@example.com").await;

    let mut answers = vec![];
    for email in ["ursula@example.com", "nobody@example.com"] {
        let mut seen = vec![];
        for _ in 0..8 {
            let response = app.post_session("acme", email, WRONG).await;
            let status = response.status().as_u16();
            let names: Vec<String> = {
                let mut n: Vec<String> = response
                    .headers()
                    .keys()
                    .map(|k| k.as_str().to_owned())
                    .filter(|k| k != "date")
                    .collect();
                n.sort();
                n
            };
            let body: Value = response.json().await.unwrap();
            seen.push((status, names, body));
        }
        answers.push(seen);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0][5].0, 429);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn sixty_four_concurrent_wrong_passwords_for_one_account_get_five_password_checks(
    db: PgPool,
) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ursula@example.com").await;

    let attempts: Vec<_> = (0..64)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/t/acme/v1/sessions"));
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"email": "ursula@example.com", "password": WRONG}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = vec![];
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    // A 401 is an attempt whose password was checked.
    assert_eq!(
        statuses.iter().filter(|&&s| s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        59,
        "{statuses:?}"
    );
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn refresh_token_guessing_is_limited_per_client_address(db: PgPool) {
    let app = spawn_app(db).await;
    create_tenant_with(&app, "acme", json!({"ip_failures": 3})).await;
    app.create_user("acme", "ursula@example.com").await;
    let tokens = app.sign_in("acme", "ursula@example.com").await;

    for _ in 0..3 {
        let guess = origin_api::tokens::RefreshToken::generate().value;
        assert_error(
            app.refresh("acme", &guess).await,
            401,
            "refresh_token_invalid",
        )
        .await;
    }
    let guess = origin_api::tokens::RefreshToken::generate().value;
    assert_throttled(app.refresh("acme", &guess).await, "ip", 3, 900).await;
    // The address is limited, whatever it presents.
    let real = tokens["refresh_token"].as_str().unwrap();
    assert_throttled(app.refresh("acme", real).await, "ip", 3, 900).await;

    let_time_pass(&app, 31).await;
    assert_eq!(app.refresh("acme", real).await.status(), 200);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn sign_up_attempts_for_a_taken_email_are_limited(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ursula@example.com").await;
    for _ in 0..5 {
        let response = app.post_user("acme", "Ursula@Example.com", PASSWORD).await;
        assert_error(response, 409, "email_taken").await;
    }
    let response = app.post_user("acme", "ursula@example.com", PASSWORD).await;
    assert_throttled(response, "account", 5, 900).await;
    // Shape errors are answered before anything is counted.
    assert_error(
        app.post_user("acme", "ursula@example.com", "short").await,
        422,
        "password_too_short",
    )
    .await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn the_knobs_are_per_tenant_settings_with_safe_defaults(db: PgPool) {
    let app = spawn_app(db).await;
    let defaults = app.create_tenant("acme").await;
    assert_eq!(
        defaults["brute_force"],
        json!({"account_failures": 5, "ip_failures": 30, "window_secs": 900, "max_delay_secs": 900})
    );
    let strict = create_tenant_with(
        &app,
        "strict",
        json!({"account_failures": 2, "window_secs": 3600, "max_delay_secs": 60}),
    )
    .await;
    assert_eq!(
        strict["brute_force"],
        json!({"account_failures": 2, "ip_failures": 30, "window_secs": 3600, "max_delay_secs": 60})
    );
    for _ in 0..2 {
        app.post_session("strict", "ursula@example.com", WRONG)
            .await;
    }
    let response = app
        .post_session("strict", "ursula@example.com", WRONG)
        .await;
    assert!(assert_throttled(response, "account", 2, 3600).await <= 30);
    // The other tenant's counts are its own.
    let response = app.post_session("acme", "ursula@example.com", WRONG).await;
    assert_error(response, 401, "invalid_credentials").await;

    for bad in [
        json!({"account_failures": 0}),
        json!({"window_secs": 10}),
        json!({"max_delay_secs": 86401}),
        json!({"ip_failures": -1}),
    ] {
        let response = app
            .post_tenant(
                &json!({"slug": "bad", "name": "Bad", "brute_force": bad}),
                Some(ADMIN_TOKEN),
            )
            .await;
        assert_error(response, 422, "brute_force_invalid").await;
    }
    let response = app
        .post_tenant(
            &json!({"slug": "bad", "name": "Bad", "brute_force": {"lockout": true}}),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_error(response, 422, "invalid_body").await;
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_forwarded_for_header_is_ignored_unless_its_proxy_is_trusted(db: PgPool) {
    // Default: the peer is the client; rotating X-Forwarded-For does not evade the address limit.
    let app = spawn_app(db.clone()).await;
    create_tenant_with(&app, "acme", json!({"ip_failures": 3})).await;
    let attempt = |n: u32, forwarded: &'static str| {
        let (client, url) = (app.client.clone(), app.url("/t/acme/v1/sessions"));
        async move {
            client
                .post(url)
                .header("x-forwarded-for", forwarded)
                .json(&json!({"email": format!("user{n}@example.com"), "password": WRONG}))
                .send()
                .await
                .unwrap()
        }
    };
    for (n, forwarded) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .into_iter()
        .enumerate()
    {
        assert_eq!(attempt(n as u32, forwarded).await.status(), 401);
    }
    assert_throttled(attempt(9, "203.0.113.4").await, "ip", 3, 900).await;

    // Behind a trusted proxy (here: the loopback peer), the forwarded client is keyed.
    let mut config = test_config(None);
    config.client_ip = ClientIpSource::Header {
        header: "x-forwarded-for".parse().unwrap(),
        trusted_proxies: parse_trusted_proxies("127.0.0.1").unwrap(),
    };
    let proxied = spawn_with(db, config).await;
    let attempt = |n: u32, forwarded: &'static str| {
        let (client, url) = (proxied.client.clone(), proxied.url("/t/acme/v1/sessions"));
        async move {
            client
                .post(url)
                .header("x-forwarded-for", forwarded)
                .json(&json!({"email": format!("other{n}@example.com"), "password": WRONG}))
                .send()
                .await
                .unwrap()
        }
    };
    for n in 0..3 {
        assert_eq!(attempt(n, "6.6.6.6, 198.51.100.7").await.status(), 401);
    }
    // Spoofing the left of the header changes nothing: the rightmost untrusted hop is the client.
    assert_throttled(attempt(5, "1.2.3.4, 198.51.100.7").await, "ip", 3, 900).await;
    assert_eq!(attempt(6, "198.51.100.8").await.status(), 401);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_full_hashing_queue_answers_503_server_busy_and_counts_nothing(db: PgPool) {
    let mut config = test_config(None);
    config.hash_workers = Some(1);
    let app = spawn_with(db, config).await;
    create_tenant_with(&app, "acme", json!({"ip_failures": 100})).await;

    let sign_ups: Vec<_> = (0..24)
        .map(|n| {
            let (client, url) = (app.client.clone(), app.url("/t/acme/v1/users"));
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&json!({"email": format!("u{n}@example.com"), "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let (mut created, mut busy) = (0, 0);
    for sign_up in sign_ups {
        let response = sign_up.await.unwrap();
        match response.status().as_u16() {
            201 => created += 1,
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                assert_error(response, 503, "server_busy").await;
                busy += 1;
            }
            other => {
                let limit = response.headers().get("ratelimit").cloned();
                panic!(
                    "unexpected {other}: {limit:?} {}",
                    response.text().await.unwrap()
                )
            }
        }
    }
    assert!(created >= 1 && busy >= 1, "created {created}, busy {busy}");
    // A refused attempt never ran: the address is charged for none of them.
    let (failures,): (i32,) =
        sqlx::query_as("SELECT failures FROM attempt_throttles WHERE scope = 'ip'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(failures, 0);
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn forgotten_counts_are_purged(db: PgPool) {
    let app = spawn_app(db).await;
    app.create_tenant("acme").await;
    app.post_session("acme", "a@example.com", WRONG).await;
    app.post_session("acme", "b@example.com", WRONG).await;
    sqlx::query(
        "UPDATE attempt_throttles SET last_failure_at = now() - interval '31 minutes'
         WHERE scope = 'account' AND key = $1",
    )
    .bind(hex_sha256("a@example.com"))
    .execute(&app.db)
    .await
    .unwrap();
    assert_eq!(
        origin_api::throttle::purge_forgotten(&app.db)
            .await
            .unwrap(),
        1
    );
    let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM attempt_throttles")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 2, "b's account and the address remain");
}

fn hex_sha256(s: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[sqlx::test(migrator = "origin_api::MIGRATOR")]
async fn a_blocked_attempt_is_answered_only_after_the_hold(db: PgPool) {
    let hold = std::time::Duration::from_millis(400);
    let mut config = test_config(None);
    config.brute_force_hold = hold;
    let app = spawn_with(db, config).await;
    app.create_tenant("acme").await;
    app.create_user("acme", "ursula@example.com").await;
    for _ in 0..5 {
        let response = app.post_session("acme", "ursula@example.com", WRONG).await;
        assert_error(response, 401, "invalid_credentials").await;
    }
    // A lower bound only: a loaded machine can make the answer later, never earlier.
    let started = std::time::Instant::now();
    let response = app.post_session("acme", "ursula@example.com", WRONG).await;
    let waited = started.elapsed();
    assert_throttled(response, "account", 5, 900).await;
    assert!(waited >= hold, "answered after {waited:?}, hold {hold:?}");
}
