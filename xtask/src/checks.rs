//! `cargo xtask test`: every check and test, in the order that fails fastest. `.ci/run` calls this.

use crate::postgres::Postgres;
use crate::secrets::Secrets;
use crate::stack::{Build, Ports, Stack, StackConfig, TenantSpec};
use anyhow::{Context as _, Result};
use std::path::Path;
use std::process::Command;
use std::time::Instant;
use xtask::process::run;
use xtask::{edge, step, tools, Background};

/// Tenants the system tests use: one whose tokens they call the API with, and one more to show that a
/// tenant's token never passes as another's.
pub const SYSTEM_TENANTS: [&str; 2] = ["systest", "systest-other"];
/// A tenant whose access tokens live 10 s while the edge allows them 90 s of leeway, so that a test
/// sees a token pass past its expiry, and the revocation records outlive KV's 60 s minimum TTL, in
/// about a minute (issue 10 §1.1).
const SHORT_LIVED_TENANT: &str = "systest-brief";
/// A tenant whose every session a test revokes at once (its not-before, as after a breach).
const BREACHED_TENANT: &str = "systest-breach";
/// A template whose tenants' key sets are fetched through the tests' counting proxy
/// (`SYSTEM_TENANT_PROXY_PORT`, tests/system/tenant_issuers.rs), with a small budget of first
/// lookups, so that a flood of made-up tenants can be counted.
const FLOOD_TEMPLATE: &str = "https://made-up-tenants.test/t/{tenant}";
/// Its `jwks_cache.new_tenants_per_minute`.
const FLOOD_NEW_TENANTS_PER_MINUTE: u32 = 20;
/// A trusted issuer whose key set can never be fetched: tokens naming it must get 503, not 401.
const UNREACHABLE_ISSUER: &str = "https://unreachable-issuer.invalid";
/// The JWKS max-age of the system tests' origin: short, so that a `next` key may sign seconds after
/// it is published (the edge still holds sets for its minimum TTL, 60 s: rotation tests rely on the
/// unknown-`kid` refetch).
const SYSTEM_JWKS_MAX_AGE_SECS: &str = "2";

/// The edge's trust in the tenants the key-rotation system tests create themselves
/// (tests/system/keys.rs) that need cache settings of their own (exact entries win over the
/// origin's template): `rotate` refetches on an unknown `kid` after a second, `outage` fetches its
/// JWKS through the tests' proxy (`jwks_proxy_port`) and keeps a set fresh for a second only,
/// `eddsa` allows Ed25519 alone. `systest-keys-revoke` has none: it is trusted through the
/// template, so the emergency revocation test covers a templated tenant.
fn key_test_issuers(origin_url: &str, jwks_proxy_port: u16) -> Vec<serde_json::Value> {
    let entry = |slug: &str, jwks_uri: String, algorithms: &[&str], cache: serde_json::Value| {
        serde_json::json!({
            "issuer": format!("{origin_url}/t/{slug}"),
            "jwks_uri": jwks_uri,
            "audiences": ["api"],
            "algorithms": algorithms,
            "token_type": "at+jwt",
            "leeway_secs": 30,
            "jwks_cache": cache,
            "tenant": "origin",
        })
    };
    let direct = |slug: &str| format!("{origin_url}/t/{slug}/.well-known/jwks.json");
    vec![
        entry(
            "systest-keys-rotate",
            direct("systest-keys-rotate"),
            &["ES256"],
            serde_json::json!({ "unknown_kid_cooldown_secs": 1 }),
        ),
        entry(
            "systest-keys-outage",
            format!(
                "http://127.0.0.1:{jwks_proxy_port}/t/systest-keys-outage/.well-known/jwks.json"
            ),
            &["ES256"],
            serde_json::json!({ "min_ttl_secs": 1, "max_ttl_secs": 1, "default_ttl_secs": 1 }),
        ),
        entry(
            "systest-keys-eddsa",
            direct("systest-keys-eddsa"),
            &["EdDSA"],
            serde_json::json!({}),
        ),
    ]
}

pub fn run_all(root: &Path) -> Result<()> {
    let started = Instant::now();
    // Keep running on Ctrl-C until children have stopped, so the stack is torn down by Drop.
    let _interrupted = xtask::interrupt_flag()?;
    step("checking tools: the wasm32 target, node and the npm packages (wrangler, wasm-opt, esbuild)");
    tools::ensure_wasm_target()?;
    // Needed only by the wasm32 tests and the fuzz run, many steps below.
    let test_tools = {
        let root = root.to_owned();
        Background::spawn(
            "test tools: wasm-bindgen-test-runner, then cargo-fuzz and its nightly toolchain",
            "compiled once, ~1 min each on 2 cores",
            root.join(".dev/logs/test-tools.log"),
            move |log| {
                let runner = tools::ensure_test_runner(&root, Some(log))?;
                tools::ensure_fuzz_tools(&root, Some(log))?;
                Ok(runner)
            },
        )?
    };
    // The contract step's schemathesis (PyPI, into a virtual environment of its own).
    let schemathesis = {
        let root = root.to_owned();
        Background::spawn(
            "schemathesis for the contract step",
            "pip, ~30 s, once",
            root.join(".dev/logs/schemathesis.log"),
            move |log| tools::ensure_schemathesis(&root, Some(log)),
        )?
    };
    tools::ensure_node_packages(root)?;
    // The system tests' Worker bundle, built beside the checks below (its release build and LTO
    // leave a core free most of the time).
    let mut system_build = Build::start(root, edge::Profile::Release)?;
    system_build.npm_ready();

    step("cargo fmt --check");
    run(Command::new("cargo").args(["fmt", "--all", "--check"]))?;

    step("clippy (native, warnings are errors)");
    run(Command::new("cargo").args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;

    step("clippy (wasm32: core, Durable Objects, Worker)");
    run(Command::new("cargo").args([
        "clippy",
        "--target",
        "wasm32-unknown-unknown",
        "-p",
        "auth-core",
        "-p",
        "durable-objects",
        "-p",
        "edge-worker",
        "--",
        "-D",
        "warnings",
    ]))?;

    let postgres = Postgres::provision(root)?;

    step("unit and integration tests (native; origin against real Postgres)");
    run(Command::new("cargo")
        // An ignored test runs anyway: a skipped test is a failing test.
        .args([
            "test",
            "--workspace",
            "--exclude",
            "tests",
            "--",
            "--include-ignored",
        ])
        .env("DATABASE_URL", postgres.server_url()))?;

    let runner = test_tools.wait()?;
    step("core validation tests on wasm32 (wasm-bindgen-test-runner under node)");
    run(Command::new("cargo")
        .args([
            "test",
            "-p",
            "auth-core",
            "--target",
            "wasm32-unknown-unknown",
            "--test",
            "validation",
        ])
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER", runner))?;

    step("conformance: outside vectors and a differential test, native vs WebCrypto");
    crate::run_tool(root, "conformance", &[])?;

    step("fuzz smoke run: token, policy and JWKS parsers");
    crate::fuzz::run_targets(root, &crate::fuzz::TARGETS, crate::fuzz::SMOKE_SECONDS)?;

    // The contract needs the origin first. The same packages as the system tests' build
    // (`Build::finish`), so their features unify alike and that build finds everything fresh.
    step("compiling origin-api and demo-upstream (native, debug) for the contract");
    run(Command::new("cargo")
        .args(["build", "-p", "origin-api", "-p", "demo-upstream"])
        .current_dir(root))?;
    let schemathesis = schemathesis.wait()?;
    crate::contract::check(root, &postgres, &schemathesis)?;

    system_tests(root, &postgres, system_build, &[])?;
    xtask::print_summary("all checks and tests passed", started.elapsed());
    Ok(())
}

/// `cargo xtask test system [FILTER...]`: the stack and the system tests alone.
pub fn run_system_only(root: &Path, filters: &[String]) -> Result<()> {
    let _interrupted = xtask::interrupt_flag()?;
    tools::ensure_wasm_target()?;
    tools::ensure_node_packages(root)?;
    let mut build = Build::start(root, edge::Profile::Release)?;
    build.npm_ready();
    let postgres = Postgres::provision(root)?;
    system_tests(root, &postgres, build, filters)
}

/// Finishes `build`, starts the stack on free ports with a fresh database and runs the system tests
/// (`filters`, as `cargo test` takes them: none runs all).
fn system_tests(root: &Path, postgres: &Postgres, build: Build, filters: &[String]) -> Result<()> {
    build.finish(root)?;
    step("system tests: origin + demo upstream + Worker under wrangler dev, and headless chromium");
    let database = format!("edge_auth_system_{}", std::process::id());
    let database_url = postgres.create_database(&database, true)?;
    // A third-party issuer whose JWKS the system tests serve themselves (tests/system/issuer.rs).
    let test_issuer_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let test_issuer = format!("http://127.0.0.1:{test_issuer_port}");
    // The tests' proxy in front of one tenant's JWKS, which they take down (tests/system/keys.rs).
    let jwks_proxy_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // The tests' counting proxy in front of the flood template's JWKS (tests/system/tenant_issuers.rs).
    let tenant_proxy_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let ports = Ports::free()?;
    let mut extra_issuers = key_test_issuers(
        &format!("http://127.0.0.1:{}", ports.origin),
        jwks_proxy_port,
    );
    let cfg = StackConfig {
        ports,
        database_url,
        secrets: Secrets::ephemeral(),
        state_dir: tempdir(root)?,
        tenants: SYSTEM_TENANTS
            .iter()
            .map(|t| TenantSpec::new(t))
            .chain([
                TenantSpec {
                    access_token_ttl_secs: Some(10),
                    leeway_secs: 90,
                    ..TenantSpec::new(SHORT_LIVED_TENANT)
                },
                TenantSpec::new(BREACHED_TENANT),
            ])
            .collect(),
        extra_issuers: {
            extra_issuers.extend([
                serde_json::json!({
                    "issuer": UNREACHABLE_ISSUER,
                    // The discard port: nothing listens, so every JWKS fetch fails at once.
                    "jwks_uri": "http://127.0.0.1:9/jwks.json",
                    "audiences": ["api"],
                    "algorithms": ["ES256"],
                }),
                serde_json::json!({
                    "issuer": FLOOD_TEMPLATE,
                    "jwks_uri": format!(
                        "http://127.0.0.1:{tenant_proxy_port}/t/{{tenant}}/.well-known/jwks.json"
                    ),
                    "audiences": ["api"],
                    "algorithms": ["ES256"],
                    "jwks_cache": {
                        "new_tenants_per_minute": FLOOD_NEW_TENANTS_PER_MINUTE,
                        "unknown_tenant_ttl_secs": 300,
                    },
                }),
                test_issuer_entry(&test_issuer, serde_json::json!("none")),
                // The same keys under two more names: one assigned to a tenant of ours, one posing as
                // an issuer of the origin (its JWKS names the tenant it was published for).
                test_issuer_entry(
                    &format!("{test_issuer}/assigned"),
                    serde_json::json!({ "assigned": "system-partner" }),
                ),
                test_issuer_entry(
                    &format!("{test_issuer}/origin"),
                    serde_json::json!("origin"),
                ),
            ]);
            extra_issuers
        },
        origin_env: vec![(
            "ORIGIN_JWKS_MAX_AGE_SECS".to_owned(),
            SYSTEM_JWKS_MAX_AGE_SECS.to_owned(),
        )],
        edge_profile: edge::Profile::Release,
    };
    let chromium = crate::browser::ensure_chromium()?;
    let result = (|| -> Result<()> {
        let stack = Stack::start(root, &cfg)?;
        run(Command::new("cargo")
            .args(["test", "-p", "tests", "--", "--include-ignored"])
            .args(filters)
            .env("EDGE_URL", &stack.edge_url)
            .env("ORIGIN_URL", &stack.origin_url)
            // The browser test (tests/browser): the hosted pages by a name passkeys accept.
            .env("SYSTEM_PAGES_URL", &stack.pages_url)
            .env("CHROMIUM", &chromium)
            .env("UPSTREAM_URL", &stack.upstream_url)
            .env("SYSTEM_TENANT", SYSTEM_TENANTS[0])
            .env("SYSTEM_OTHER_TENANT", SYSTEM_TENANTS[1])
            .env("SYSTEM_SHORT_LIVED_TENANT", SHORT_LIVED_TENANT)
            .env("SYSTEM_BREACHED_TENANT", BREACHED_TENANT)
            .env(
                "SYSTEM_ADMIN_TOKEN",
                cfg.secrets.get(crate::secrets::ADMIN_TOKEN),
            )
            .env("SYSTEM_UNREACHABLE_ISSUER", UNREACHABLE_ISSUER)
            .env("SYSTEM_TEST_ISSUER_PORT", test_issuer_port.to_string())
            .env("SYSTEM_JWKS_PROXY_PORT", jwks_proxy_port.to_string())
            .env("SYSTEM_TENANT_PROXY_PORT", tenant_proxy_port.to_string())
            .env("SYSTEM_FLOOD_TEMPLATE", FLOOD_TEMPLATE)
            .env(
                "SYSTEM_FLOOD_NEW_TENANTS_PER_MINUTE",
                FLOOD_NEW_TENANTS_PER_MINUTE.to_string(),
            )
            .env("SYSTEM_JWKS_MAX_AGE_SECS", SYSTEM_JWKS_MAX_AGE_SECS)
            .env(
                "SYSTEM_EDGE_PUSH_SECRET",
                cfg.secrets.get(crate::secrets::PUSH_SECRET),
            )
            .env("SYSTEM_EDGE_STATE", stack.edge_state(&cfg))
            // The browser test registers its OAuth client, the key tests their tenants, through the
            // admin API.
            .env(
                "SYSTEM_ADMIN_TOKEN",
                cfg.secrets.get(crate::secrets::ADMIN_TOKEN),
            ))
        .context("system tests failed (service logs are in the state directory printed above)")?;
        Ok(())
    })();
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&cfg.state_dir);
    } else {
        eprintln!("service logs kept in {}", cfg.state_dir.display());
    }
    let _ = postgres.drop_database(&database);
    result
}

/// An entry of the system tests' third-party issuer (tests/system/issuer.rs) under `issuer`.
fn test_issuer_entry(issuer: &str, tenant: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks.json"),
        "audiences": ["api"],
        "algorithms": ["ES256"],
        "token_type": "at+jwt",
        "leeway_secs": 30,
        "tenant": tenant,
    })
}

/// A fresh directory for one run's logs and edge state, under the git-ignored `.dev/`.
fn tempdir(root: &Path) -> Result<std::path::PathBuf> {
    let dir = root
        .join(".dev/test-runs")
        .join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
