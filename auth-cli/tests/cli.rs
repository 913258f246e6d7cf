//! The built `edge-auth` binary, run as a user would: keys, a JWKS and a policy file in a temporary
//! folder, tokens signed here, decisions read from stdout and the exit status.

use auth_core::encoding::b64url_encode;
use auth_core::VerificationKey;
use p256::ecdsa::signature::Signer as _;
use serde_json::{json, Value};
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ISSUER: &str = "https://id.example.test/t/acme";
const AUDIENCE: &str = "api";
/// Every run passes `--now`, so tests do not depend on the clock.
const NOW: i64 = 1_800_000_000;

const POLICY: &str = r#"# test policy
[[route]]
name = "public"
path = "/public/**"
access = "public"

[[route]]
name = "api"
path = "/api/**"
access = "authenticated"

[[route]]
name = "orders"
path = "/api/orgs/{org}/orders/**"
methods = ["GET"]
access = "authenticated"
scopes = { all = ["orders:read"] }
bind = { org = "org_id" }
revocation = "strict"
rate_limit = ["orders-per-user", "orders-per-ip"]

[[limit]]
name = "orders-per-ip"
key = ["ip"]
amount = 100
period = "1m"
tier = "approximate"
on_error = "allow"

[[limit]]
name = "orders-per-user"
key = ["subject", "claim:org_id"]
amount = 10
period = "1s"
burst = 20
tier = "exact"
on_error = "deny"
"#;

/// A public route with scopes: refused by the core, on line 5 where the route starts.
const BROKEN_POLICY: &str = r#"# broken on purpose

# the route below may not have scopes

[[route]]
name = "oops"
path = "/public/**"
access = "public"
scopes = { all = ["x"] }
"#;

struct Fixture {
    dir: tempfile::TempDir,
    es256: p256::ecdsa::SigningKey,
    ed25519: ed25519_dalek::SigningKey,
}

impl Fixture {
    /// Fresh keys, their JWKS and the policy file in a folder of their own.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let es256 = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let ed25519 = ed25519_dalek::SigningKey::from_bytes(&rand::random());
        let fixture = Fixture {
            dir,
            es256,
            ed25519,
        };
        std::fs::write(fixture.jwks(), fixture.jwks_document()).unwrap();
        std::fs::write(fixture.policy(), POLICY).unwrap();
        fixture
    }

    fn jwks_document(&self) -> String {
        let es = VerificationKey::from_p256(Some("es-1".into()), *self.es256.verifying_key())
            .unwrap()
            .to_public_jwk();
        let ed = json!({
            "kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "use": "sig", "alg": "EdDSA",
            "x": b64url_encode(self.ed25519.verifying_key().as_bytes()),
        });
        json!({ "keys": [es, ed] }).to_string()
    }

    fn jwks(&self) -> PathBuf {
        self.dir.path().join("jwks.json")
    }

    fn policy(&self) -> PathBuf {
        self.dir.path().join("routes.toml")
    }

    fn es256_token(&self, claims: &Value) -> String {
        self.es256_token_with_kid(claims, "es-1")
    }

    fn es256_token_with_kid(&self, claims: &Value, kid: &str) -> String {
        let input = signing_input(
            &json!({"alg": "ES256", "typ": "at+jwt", "kid": kid}),
            claims,
        );
        let sig: p256::ecdsa::Signature = self.es256.sign(input.as_bytes());
        format!("{input}.{}", b64url_encode(&sig.to_bytes()))
    }

    fn ed25519_token(&self, claims: &Value) -> String {
        use ed25519_dalek::Signer as _;
        let input = signing_input(
            &json!({"alg": "EdDSA", "typ": "at+jwt", "kid": "ed-1"}),
            claims,
        );
        let sig = self.ed25519.sign(input.as_bytes());
        format!("{input}.{}", b64url_encode(&sig.to_bytes()))
    }

    /// `verify-token` against this fixture's JWKS, the test issuer and audience, at [`NOW`].
    fn verify(&self, token: &str, extra: &[&str]) -> Run {
        self.verify_with(path_str(&self.jwks()), "1800000000", token, extra)
    }

    /// `verify-token` against a given key set, at a given time.
    fn verify_with(&self, jwks: &str, now: &str, token: &str, extra: &[&str]) -> Run {
        let mut args = vec!["verify-token"];
        args.extend(trust_args(jwks, now));
        args.extend(extra);
        args.push(token);
        let run = edge_auth(&args, None, None);
        run.assert_token_not_shown(token);
        run
    }

    /// `policy explain` on this fixture's policy, with a token when one is given.
    fn explain(&self, method: &str, path: &str, token: Option<&str>) -> Run {
        let policy = self.policy();
        let jwks = self.jwks();
        let mut args = vec![
            "policy",
            "explain",
            "--file",
            path_str(&policy),
            "--method",
            method,
            "--path",
            path,
        ];
        if let Some(token) = token {
            args.extend(["--token", token]);
            args.extend(trust_args(path_str(&jwks), "1800000000"));
        }
        let run = edge_auth(&args, None, None);
        if let Some(token) = token {
            run.assert_token_not_shown(token);
        }
        run
    }
}

fn trust_args<'a>(jwks: &'a str, now: &'a str) -> Vec<&'a str> {
    vec![
        "--jwks",
        jwks,
        "--issuer",
        ISSUER,
        "--audience",
        AUDIENCE,
        "--now",
        now,
    ]
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64url_encode(header.to_string().as_bytes()),
        b64url_encode(claims.to_string().as_bytes())
    )
}

fn claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "user-42", "aud": AUDIENCE, "exp": NOW + 300, "iat": NOW - 10,
        "jti": "j-1", "sid": "session-7", "tid": "tenant-acme", "scope": "profile",
        "roles": ["member"], "org_id": "acme",
    })
}

fn claims_with(name: &str, value: Value) -> Value {
    let mut c = claims();
    c[name] = value;
    c
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn assert_token_not_shown(&self, token: &str) {
        let signature = token.rsplit('.').next().unwrap();
        for stream in [&self.stdout, &self.stderr] {
            assert!(!stream.contains(token), "the token was printed:\n{stream}");
            if signature.len() > 8 {
                assert!(
                    !stream.contains(signature),
                    "the signature was printed:\n{stream}"
                );
            }
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

fn edge_auth(args: &[&str], stdin: Option<&str>, cwd: Option<&Path>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge-auth"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Serves one HTTP response on 127.0.0.1 to the first connection, then stops.
fn serve_once(status: &str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        stream.write_all(response.as_bytes()).unwrap();
    });
    format!("http://{addr}/.well-known/jwks.json")
}

// ---- verify-token ----

#[test]
fn an_unbound_issuer_acts_for_no_tenant_whatever_its_tid_says() {
    let f = Fixture::new();
    let run = f.verify(&f.es256_token(&claims()), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("tenant     -\n"), "{}", run.stdout);
    assert!(!run.stdout.contains("tenant-acme"), "{}", run.stdout);
}

#[test]
fn a_valid_token_exits_0_and_prints_the_verified_identity() {
    let f = Fixture::new();
    let run = f.verify(&f.es256_token(&claims()), &["--tenant", "tenant-acme"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("valid\n"), "{}", run.stdout);
    for expected in [
        "user-42",
        ISSUER,
        "tenant-acme",
        "session-7",
        "1800000300",
        "2027-01-15T08:05:00Z",
        "in 5 min 0 s",
        "profile",
        "member",
    ] {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.stdout);
    }
}

#[test]
fn a_token_on_stdin_is_read_with_or_without_dash_and_bearer() {
    let f = Fixture::new();
    let token = f.ed25519_token(&claims());
    let jwks = f.jwks();
    let mut args = vec!["verify-token"];
    args.extend(trust_args(path_str(&jwks), "1800000000"));
    let run = edge_auth(&args, Some(&format!("Bearer {token}\n")), None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("user-42"));
    args.push("-");
    let run = edge_auth(&args, Some(&token), None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    run.assert_token_not_shown(&token);
}

#[test]
fn an_expired_token_exits_1_with_token_expired_and_shows_it_is_otherwise_sound() {
    let f = Fixture::new();
    let run = f.verify(&f.es256_token(&claims_with("exp", json!(NOW - 120))), &[]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .starts_with("refused: token_expired (401): the token has expired\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("UNVERIFIED"));
    assert!(run.stdout.contains("2 min 0 s ago"), "{}", run.stdout);
    assert!(run.stdout.contains("leeway 30 s"), "{}", run.stdout);
    // The signature checked out: only the claims are off.
    assert!(
        run.stdout
            .contains("signature ok -> claims REFUSED token_expired"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_leeway_and_the_clock_can_be_set() {
    let f = Fixture::new();
    let mut c = claims_with("exp", json!(NOW - 120));
    c["iat"] = json!(NOW - 600);
    let token = f.es256_token(&c);
    assert_eq!(f.verify(&token, &["--leeway", "200"]).code, 0);
    let run = f.verify_with(path_str(&f.jwks()), "1799999500", &token, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // Earlier still, the token was issued in the future, and the refusal shows its iat.
    let run = f.verify_with(path_str(&f.jwks()), "1799999000", &token, &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("iat is in the future"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  iat  1799999400 = "),
        "{}",
        run.stdout
    );
}

#[test]
fn a_token_for_another_audience_is_refused_with_audience_mismatch() {
    let f = Fixture::new();
    let run = f.verify(&f.es256_token(&claims_with("aud", json!("billing"))), &[]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("refused: audience_mismatch (401)"));
    assert!(
        run.stdout
            .contains("aud  \"billing\"  (expected one of: api)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_tampered_token_is_refused_with_signature_invalid() {
    let f = Fixture::new();
    let token = f.es256_token(&claims());
    let signature = token.rsplit('.').next().unwrap();
    let forged = format!(
        "{}.{signature}",
        signing_input(
            &json!({"alg": "ES256", "typ": "at+jwt", "kid": "es-1"}),
            &claims_with("sub", json!("admin"))
        )
    );
    let run = f.verify(&forged, &[]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("refused: signature_invalid (401)"));
    assert!(run.stdout.contains("signature REFUSED signature_invalid"));
    assert!(!run.stdout.contains("user-42"));
}

#[test]
fn a_token_naming_an_unknown_key_is_refused_with_key_unknown_and_the_key_set_is_listed() {
    let f = Fixture::new();
    let run = f.verify(&f.es256_token_with_kid(&claims(), "rotated-away"), &[]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("refused: key_unknown (401)"));
    assert!(run.stdout.contains("\"rotated-away\""));
    assert!(
        run.stdout.contains("key set: es-1 (ES256), ed-1 (EdDSA)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_disallowed_algorithm_and_a_wrong_type_are_refused_by_the_core() {
    let f = Fixture::new();
    let run = f.verify(&f.ed25519_token(&claims()), &["--alg", "ES256"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("algorithm_not_allowed"),
        "{}",
        run.stdout
    );
    let run = f.verify(&f.es256_token(&claims()), &["--type", "jwt"]);
    assert!(run.stdout.contains("token_type_mismatch"), "{}", run.stdout);
    assert_eq!(
        f.verify(&f.es256_token(&claims()), &["--type", "none"])
            .code,
        0
    );
}

#[test]
fn garbage_is_refused_as_malformed_without_failing() {
    let f = Fixture::new();
    let run = f.verify("not-a-token", &[]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("refused: token_malformed (401)"));
    assert!(run.stdout.contains("(could not be decoded)"));
}

#[test]
fn json_output_has_the_decision_and_the_code() {
    let f = Fixture::new();
    let run = f.verify(&f.es256_token(&claims()), &["--json"]);
    assert_eq!(run.code, 0);
    let v = run.json();
    assert_eq!(v["decision"], "valid");
    assert_eq!(v["code"], Value::Null);
    assert_eq!(v["claims"]["subject"], "user-42");
    assert_eq!(v["claims"]["expires_at"], NOW + 300);

    let run = f.verify(
        &f.es256_token(&claims_with("exp", json!(NOW - 120))),
        &["--json"],
    );
    assert_eq!(run.code, 1);
    let v = run.json();
    assert_eq!(v["decision"], "refused");
    assert_eq!(v["code"], "token_expired");
    assert_eq!(v["status"], 401);
    assert_eq!(v["unverified"]["exp"], NOW - 120);
    assert_eq!(v["expected"]["audiences"], json!([AUDIENCE]));
    assert_eq!(v["steps"].as_array().unwrap().len(), 6);
}

#[test]
fn the_jwks_can_be_fetched_from_a_url() {
    let f = Fixture::new();
    let url = serve_once("200 OK", f.jwks_document());
    let run = f.verify_with(&url, "1800000000", &f.es256_token(&claims()), &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("user-42"));
}

#[test]
fn a_jwks_that_cannot_be_had_is_an_error_not_a_refusal() {
    let f = Fixture::new();
    let token = f.es256_token(&claims());
    let url = serve_once("404 Not Found", "{}".into());
    let run = f.verify_with(&url, "1800000000", &token, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("404"), "{}", run.stderr);

    let missing = f.dir.path().join("nope.json");
    let run = f.verify_with(path_str(&missing), "1800000000", &token, &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nope.json"), "{}", run.stderr);

    std::fs::write(f.jwks(), r#"{"keys": []}"#).unwrap();
    let run = f.verify(&token, &[]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a usable key set"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_arguments_and_bad_settings_are_usage_errors() {
    let run = edge_auth(&["verify-token", "--jwks", "x", "a.b.c"], None, None);
    assert_eq!(run.code, 2);
    let f = Fixture::new();
    let run = f.verify(&f.es256_token(&claims()), &["--leeway", "100000"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("leeway"), "{}", run.stderr);
}

// ---- policy check ----

#[test]
fn policy_check_reports_routes_of_sound_files_and_the_line_of_broken_ones() {
    let f = Fixture::new();
    let policy = f.policy();
    let run = edge_auth(&["policy", "check", path_str(&policy)], None, None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, format!("ok {}: 3 routes\n", policy.display()));

    let broken = f.dir.path().join("broken.toml");
    std::fs::write(&broken, BROKEN_POLICY).unwrap();
    let run = edge_auth(
        &["policy", "check", path_str(&policy), path_str(&broken)],
        None,
        None,
    );
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("ok "));
    assert!(
        run.stdout.contains(&format!(
            "error {}: line 5: route \"oops\": a public route cannot have scopes",
            broken.display()
        )),
        "{}",
        run.stdout
    );

    std::fs::write(
        &broken,
        "[[route]]\npath = \"/x\"\naccess = \"sometimes\"\n",
    )
    .unwrap();
    let run = edge_auth(&["policy", "check", path_str(&broken)], None, None);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("line 3"), "{}", run.stdout);
}

#[test]
fn policy_check_finds_the_policies_folder_from_the_current_directory() {
    let f = Fixture::new();
    let root = f.dir.path();
    std::fs::create_dir(root.join("policies")).unwrap();
    std::fs::write(root.join("policies/routes.toml"), POLICY).unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    let run = edge_auth(&["policy", "check"], None, Some(&root.join("sub")));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "ok ../policies/routes.toml: 3 routes\n");
}

#[test]
fn policy_check_of_an_unreadable_file_is_an_error() {
    let run = edge_auth(&["policy", "check", "/nonexistent/routes.toml"], None, None);
    assert_eq!(run.code, 2);
}

// ---- policy explain ----

#[test]
fn explain_lists_a_routes_rate_limits_in_the_order_they_are_checked() {
    let f = Fixture::new();
    let run = f.explain("GET", "/api/orgs/acme/orders/1", None);
    let before = run
        .stdout
        .find("rate limit  orders-per-ip: 100 per 60 s, burst 100, by ip, approximate tier, before the token, on error allow")
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let after = run
        .stdout
        .find("rate limit  orders-per-user: 10 per 1 s, burst 20, by subject+claim:org_id, exact tier, after the token, on error deny")
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(before < after, "{}", run.stdout);
}

#[test]
fn explain_allows_a_public_path_without_a_token() {
    let f = Fixture::new();
    let run = f.explain("GET", "/public/logo.png", None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("\n=>  2. public"), "{}", run.stdout);
    assert!(run.stdout.contains("decision: allowed (public route)"));
}

#[test]
fn explain_denies_a_path_no_route_matches_with_route_denied() {
    let f = Fixture::new();
    let run = f.explain("GET", "/admin", None);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("decision: denied: route_denied (403)"));
    assert!(!run.stdout.lines().any(|l| l.starts_with("=>")));
}

#[test]
fn explain_lists_routes_most_specific_first_and_marks_the_shadowed_match() {
    let f = Fixture::new();
    let run = f.explain("GET", "/api/orgs/acme/orders/1", None);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap();
    assert!(lines[at("1. orders")].starts_with("=>"), "{}", run.stdout);
    assert!(lines[at("2. public")].starts_with("  "), "{}", run.stdout);
    assert!(lines[at("3. api")].starts_with("+ "), "{}", run.stdout);
    assert!(run.stdout.contains("and scopes: all of orders:read"));
    assert!(run.stdout.contains("and path {org} equal to claim org_id"));
    assert!(run.stdout.contains("path params org=acme"));
    assert!(run.stdout.contains("decision: denied: token_missing (401)"));

    // A method the route excludes hands the request to the next match.
    let run = f.explain("POST", "/api/orgs/acme/orders/1", None);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("=>  3. api")),
        "{}",
        run.stdout
    );
}

#[test]
fn explain_denies_a_token_without_the_scope_with_insufficient_scope() {
    let f = Fixture::new();
    let token = f.es256_token(&claims());
    let run = f.explain("GET", "/api/orgs/acme/orders/1", Some(&token));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("token: valid"));
    assert!(
        run.stdout
            .contains("decision: denied: insufficient_scope (403): the token lacks the scopes this route needs (orders:read)"),
        "{}",
        run.stdout
    );
}

#[test]
fn explain_allows_a_token_with_the_scope() {
    let f = Fixture::new();
    let token = f.es256_token(&claims_with("scope", json!("profile orders:read")));
    let run = f.explain("GET", "/api/orgs/acme/orders/1", Some(&token));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("decision: allowed"), "{}", run.stdout);
    assert!(run.stdout.contains("not checked here: revocation"));
    assert!(!run.stdout.contains("warning"));

    // Allowed by the requirements, but a strict route refuses a token without sid (the core's
    // revocation rule, as at the edge).
    let mut c = claims_with("scope", json!("orders:read"));
    c.as_object_mut().unwrap().remove("sid");
    let run = f.explain("GET", "/api/orgs/acme/orders/1", Some(&f.es256_token(&c)));
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("decision: refused: claims_invalid (401)")
            && run.stdout.contains("sid"),
        "{}",
        run.stdout
    );

    // Same token, another org in the path: the binding denies it.
    let run = f.explain("GET", "/api/orgs/globex/orders/1", Some(&token));
    assert_eq!(run.code, 1);
    assert!(run
        .stdout
        .contains("decision: denied: binding_mismatch (403)"));
}

#[test]
fn explain_refuses_an_invalid_token_with_the_verifier_code() {
    let f = Fixture::new();
    let token = f.es256_token(&claims_with("exp", json!(NOW - 3600)));
    let run = f.explain("GET", "/api/anything", Some(&token));
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("token refused: token_expired (401)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("decision: denied: token_expired (401)"));
}

#[test]
fn explain_with_a_token_needs_the_issuer_settings() {
    let f = Fixture::new();
    let policy = f.policy();
    let args = [
        "policy",
        "explain",
        "--file",
        path_str(&policy),
        "--method",
        "GET",
        "--path",
        "/api/x",
        "--token",
        "a.b.c",
    ];
    assert_eq!(edge_auth(&args, None, None).code, 2);
}
