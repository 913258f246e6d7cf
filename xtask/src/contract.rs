//! `cargo xtask test contract`: the OpenAPI contract checked from outside. schemathesis (pinned, in
//! its own virtual environment) reads the document a live origin serves at `/openapi.json`,
//! generates requests for every operation (valid and invalid ones), and checks every answer: no 5xx,
//! each status, content type, header and body as documented, invalid data refused, valid data
//! accepted. Then every documented status must have been seen or be explained in
//! `docs/openapi-unreached.toml`.
//!
//! The origin runs alone (no edge: pushes are off) on a fresh database, with a fresh tenant whose
//! admin token and user credentials schemathesis is given, so authenticated operations are exercised.

use crate::postgres::Postgres;
use crate::secrets::{self, Secrets};
use anyhow::{bail, Context as _, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use xtask::process::{run, wait_ready, Service};
use xtask::{step, tools};

/// The tenant schemathesis works in, and the user it signs in as: the sign-in example of the
/// document (`routes/sessions.rs`), so the examples phase signs in too.
const TENANT: &str = "contract";
/// The tenant whose settings schemathesis changes (`update_tenant`): a change to `TENANT`'s
/// brute-force limits or token lifetime would lock the run's own user out of signing in.
const SETTINGS_TENANT: &str = "contract-settings";
const USER_EMAIL: &str = "ada@example.com";
const USER_PASSWORD: &str = "correct horse battery staple";
/// Test cases per operation and phase: enough to reach each documented answer, few enough for a
/// run of a few minutes on two cores.
const MAX_EXAMPLES: u32 = 25;
/// The run's fixed seed: a failure reproduces, and with one worker the run is the same every time
/// (two workers interleave the stateful phase's scenarios differently each run, so the statuses
/// reached, which `docs/openapi-unreached.toml` must account for, changed from run to run).
const SEED: u64 = 20261201;

/// `cargo xtask test contract`: builds the origin, installs schemathesis, runs the contract.
pub fn run_only(root: &Path) -> Result<()> {
    let _interrupted = xtask::interrupt_flag()?;
    let postgres = Postgres::provision(root)?;
    step("compiling origin-api (native, debug)");
    run(Command::new("cargo")
        .args(["build", "-p", "origin-api"])
        .current_dir(root))?;
    step("checking schemathesis");
    let schemathesis = tools::ensure_schemathesis(root, None)?;
    check(root, &postgres, &schemathesis)
}

/// Runs schemathesis against a live origin (built already) and checks what it reached.
pub fn check(root: &Path, postgres: &Postgres, schemathesis: &Path) -> Result<()> {
    step("contract: schemathesis against a live origin (docs/openapi.json)");
    let dir = root
        .join(".dev/test-runs")
        .join(format!("contract-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let database = format!("edge_auth_contract_{}", std::process::id());
    let database_url = postgres.create_database(&database, true)?;
    let result = (|| -> Result<()> {
        let secrets = Secrets::ephemeral();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let origin_url = format!("http://127.0.0.1:{port}");
        let log = dir.join("origin.log");
        let mut cmd = Command::new(target_dir(root).join("origin-api"));
        cmd.arg("serve")
            .env("DATABASE_URL", &database_url)
            .env("ORIGIN_ADDR", format!("127.0.0.1:{port}"))
            .env("ORIGIN_PUBLIC_URL", &origin_url)
            // Passkeys need a domain: the tenant's relying party defaults to `localhost`.
            .env("ORIGIN_PAGES_URL", format!("http://localhost:{port}"))
            .env(secrets::ADMIN_TOKEN, secrets.get(secrets::ADMIN_TOKEN))
            .env(
                secrets::KEY_ENCRYPTION_KEY,
                secrets.get(secrets::KEY_ENCRYPTION_KEY),
            )
            .env("RUST_LOG", "info");
        let mut origin = Service::spawn("origin-api", cmd, &log)?;
        wait_ready(
            &mut origin,
            &format!("{origin_url}/healthz"),
            &log,
            Duration::from_secs(60),
        )?;
        let admin_token = secrets.get(secrets::ADMIN_TOKEN);
        prepare_tenant(&origin_url, admin_token)?;

        let config = dir.join("schemathesis.toml");
        std::fs::write(&config, config_toml(&origin_url))?;
        let report = dir.join("report.json");
        let events = dir.join("events.ndjson");
        let status = Command::new(schemathesis)
            .current_dir(&dir)
            .arg("--config-file")
            .arg(&config)
            .args(["run", &format!("{origin_url}/openapi.json")])
            .args(["--checks", "all", "--seed", &SEED.to_string()])
            .args(["--max-examples", &MAX_EXAMPLES.to_string()])
            .args(["--report", "json,ndjson"])
            .arg("--report-json-path")
            .arg(&report)
            .arg("--report-ndjson-path")
            .arg(&events)
            .env("CONTRACT_ADMIN_TOKEN", admin_token)
            .env("CONTRACT_PASSWORD", USER_PASSWORD)
            .status()
            .context("running schemathesis")?;
        origin.check_alive(&log)?;
        drop(origin);
        summarise(&report)?;
        if !status.success() {
            bail!(
                "schemathesis found failures (above; its report: {}, the origin's log: {})",
                report.display(),
                log.display()
            );
        }
        check_reached(root, &events)
    })();
    let _ = postgres.drop_database(&database);
    if result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("contract run kept in {}", dir.display());
    }
    result
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("debug")
}

/// The tenant (brute-force limits out of reach: schemathesis signs in on every expired token, and
/// the limits have their own tests) and its user.
fn prepare_tenant(origin_url: &str, admin_token: &str) -> Result<()> {
    for slug in [TENANT, SETTINGS_TENANT] {
        ureq::post(&format!("{origin_url}/v1/admin/tenants"))
            .set("authorization", &format!("Bearer {admin_token}"))
            .send_json(json!({
                "slug": slug,
                "name": "Contract",
                "brute_force": { "account_failures": 1000, "ip_failures": 100000 },
            }))
            .with_context(|| format!("creating the tenant {slug}"))?;
    }
    ureq::post(&format!("{origin_url}/t/{TENANT}/v1/users"))
        .send_json(json!({ "email": USER_EMAIL, "password": USER_PASSWORD }))
        .context("creating the contract user")?;
    Ok(())
}

/// schemathesis's configuration: the tenant in every path, the admin token, and a user's access
/// token fetched by signing in (again whenever an answer is 401: the run revokes sessions).
fn config_toml(origin_url: &str) -> String {
    format!(
        r#"base-url = "{origin_url}"
workers = 1

[generation]
database = "none"

[parameters]
"path.tenant" = "{TENANT}"
"path.slug" = "{TENANT}"

[auth]
auto-signup = false

[auth.openapi.admin_token]
bearer = "${{CONTRACT_ADMIN_TOKEN}}"

[auth.dynamic.openapi.access_token]
path = "/t/{TENANT}/v1/sessions"
method = "post"
payload = {{ email = "{USER_EMAIL}", password = "${{CONTRACT_PASSWORD}}" }}
extract_selector = "/access_token"
retry_on = [401]

# Valid data must be accepted, except where the schema cannot say what exists or what goes with
# what. A well-formed request naming a ceremony, client or redirect URI that is not registered gets
# its documented 400 (what exists is the server's state, not the request's shape):
[[operations]]
include-operation-id = ["finish_passkey_registration", "finish_passkey_sign_up", "finish_passkey_sign_in", "authorize"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429"]

# Rules JSON Schema cannot state get their documented 422: `passkeys.origins` must lie under
# `passkeys.rp_id` (two fields), a `not_before` must not be in the future (the server's clock), an
# audit list's `from` must not be after its `to` (two parameters).
[[operations]]
include-operation-id = ["create_tenant", "set_tenant_not_before", "list_audit_events"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

# The same for a tenant's update, which changes a tenant of its own: valid settings (one failure
# allowed, tokens of 10 s) would otherwise lock the run's user out of `{TENANT}`.
[[operations]]
include-operation-id = ["update_tenant"]
parameters = {{ "path.slug" = "{SETTINGS_TENANT}" }}
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

# Which roles a tenant defines is its state, not the request's shape: a well-formed role name the
# tenant does not define is the documented 422 `role_unknown`, and a tenant's 65th role 422
# `roles_limit`.
[[operations]]
include-operation-id = ["create_org_invitation", "set_org_member_roles", "admin_put_org_member", "put_org_role"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

# Whether an invitation is still open is the server's state: a revoked or expired one's token is the
# documented 410.
[[operations]]
include-operation-id = ["accept_org_invitation"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "410", "429"]

# A session one user signed in to is not another's: deleting it with the run's own user's token is
# the documented 404 `session_not_found`, not a resource gone missing.
[[operations]]
include-operation-id = ["revoke_session"]
checks.ensure_resource_availability.enabled = false
"#
    )
}

/// Prints the run's counts from schemathesis's JSON report.
fn summarise(report: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(report).with_context(|| format!("reading {}", report.display()))?;
    let report: Value = serde_json::from_str(&text)?;
    println!(
        "contract: {} operations tested of {}, {} test cases generated, {} with failures ({} unique), in {}s",
        report["operations"]["tested"],
        report["operations"]["total"],
        report["test_cases"]["generated"],
        report["test_cases"]["with_failures"],
        report["test_cases"]["unique_failures"],
        report["running_time"],
    );
    Ok(())
}

/// Fails unless every documented status of every operation was answered at least once in the run,
/// or is explained in `docs/openapi-unreached.toml` (`"METHOD /path" = { "status" = "why" }`).
fn check_reached(root: &Path, events: &Path) -> Result<()> {
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/openapi.json")).context("docs/openapi.json")?,
    )?;
    let explained: BTreeMap<String, BTreeMap<String, String>> = toml::from_str(
        &std::fs::read_to_string(root.join("docs/openapi-unreached.toml"))
            .context("docs/openapi-unreached.toml")?,
    )?;
    let seen = statuses_seen(events, &document)?;
    let mut missing = Vec::new();
    let mut stale = Vec::new();
    for (path, item) in document["paths"].as_object().context("paths")? {
        for (method, operation) in item.as_object().context("path item")? {
            let label = format!("{} {path}", method.to_uppercase());
            let reasons = explained.get(&label);
            for status in operation["responses"]
                .as_object()
                .context("responses")?
                .keys()
            {
                let reached = seen.contains(&(label.clone(), status.clone()));
                match (reached, reasons.and_then(|r| r.get(status))) {
                    (false, None) => missing.push(format!("{label} {status}")),
                    (true, Some(_)) => stale.push(format!("{label} {status}")),
                    _ => {}
                }
            }
        }
    }
    let unexplained = explained.values().map(BTreeMap::len).sum::<usize>();
    println!(
        "contract: every documented status reached or explained ({unexplained} explained in docs/openapi-unreached.toml)"
    );
    if !stale.is_empty() {
        println!(
            "contract: reached this run although explained as unreachable (tidy docs/openapi-unreached.toml): {}",
            stale.join(", ")
        );
    }
    if !missing.is_empty() {
        bail!(
            "documented statuses schemathesis never reached and docs/openapi-unreached.toml does not explain:\n  {}",
            missing.join("\n  ")
        );
    }
    Ok(())
}

/// (operation label, status) of every response recorded in schemathesis's NDJSON event stream: each
/// `ScenarioFinished` event's recorder holds its interactions (request method and URI, response
/// status), matched here against the document's path templates.
fn statuses_seen(events: &Path, document: &Value) -> Result<BTreeSet<(String, String)>> {
    let templates: Vec<&String> = document["paths"]
        .as_object()
        .context("paths")?
        .keys()
        .collect();
    let text =
        std::fs::read_to_string(events).with_context(|| format!("reading {}", events.display()))?;
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        let event: Value = serde_json::from_str(line)?;
        let Some(interactions) = event["ScenarioFinished"]["recorder"]["interactions"].as_object()
        else {
            continue;
        };
        for interaction in interactions.values() {
            let (Some(method), Some(uri), Some(status)) = (
                interaction["request"]["method"].as_str(),
                interaction["request"]["uri"].as_str(),
                interaction["response"]["status_code"].as_u64(),
            ) else {
                continue;
            };
            let path = uri
                .split_once("://")
                .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
                .unwrap_or(uri);
            let path = path.split(['?', '#']).next().unwrap_or(path);
            // `/sessions/others` is also an instance of `/sessions/{session_id}`: the template
            // with the most literal segments is the route axum chose.
            let literal = |t: &str| t.split('/').filter(|s| !s.starts_with('{')).count();
            let best = templates
                .iter()
                .filter(|t| matches_template(t, path))
                .max_by_key(|t| literal(t));
            if let Some(template) = best {
                seen.insert((
                    format!("{} {template}", method.to_uppercase()),
                    status.to_string(),
                ));
            }
        }
    }
    Ok(seen)
}

/// Whether `path` is an instance of `template` (`{name}` matches one non-empty segment).
fn matches_template(template: &str, path: &str) -> bool {
    let mut want = template.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}
