use super::*;
use crate::claims::{validate, IssuerPolicy};
use serde_json::json;

const POLICY: &str = r#"
[[route]]
path = "/api/**"
access = "authenticated"

[[route]]
path = "/public/**"
access = "public"

[[route]]
path = "/api/strict/**"
access = "authenticated"
revocation = "strict"

[[route]]
name = "org-admin"
path = "/api/orgs/{org}/admin"
methods = ["post"]
access = "authenticated"
revocation = "strict"
scopes = { all = ["admin:write"] }
roles = { any = ["owner", "admin"] }
bind = { org = "org_id" }
claims = [{ claim = "email_verified", equals = true }, { claim = "plan.tier", one_of = ["pro", "team"] }]
rate_limit = "admin-writes"

[[route]]
name = "admin-host"
host = "admin.example.com"
path = "/api/**"
access = "authenticated"
scopes = { any = ["ops", "admin"] }
cors = { origins = ["https://console.example.com"], credentials = true }
"#;

fn policy() -> Policy {
    Policy::from_toml(POLICY).unwrap()
}

fn facts<'a>(method: &'a str, path: &'a str) -> RequestFacts<'a> {
    RequestFacts {
        method,
        host: "api.example.com",
        path,
    }
}

fn matched<'p>(p: &'p Policy, method: &str, host: &str, path: &str) -> RouteMatch<'p> {
    match p.route(RequestFacts { method, host, path }) {
        RouteDecision::Matched(m) => m,
        other => panic!("{method} {host}{path}: {other:?}"),
    }
}

fn claims(extra: serde_json::Value) -> VerifiedClaims {
    let mut c =
        json!({"iss": "https://id.test", "sub": "u1", "aud": "api", "exp": 2_000_000_000i64});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    let policy = IssuerPolicy {
        issuer: "https://id.test".into(),
        jwks_uri: "https://id.test/jwks".into(),
        audiences: vec!["api".into()],
        algorithms: vec![crate::Algorithm::Es256],
        token_type: None,
        leeway_secs: 0,
        jwks_cache: Default::default(),
    };
    validate(c.as_object().unwrap().clone(), &policy, 1_000_000_000).unwrap()
}

fn admin_claims() -> serde_json::Value {
    json!({"scope": "read admin:write", "roles": ["owner"], "org_id": "acme", "email_verified": true, "plan": {"tier": "pro"}})
}

#[test]
fn the_most_specific_route_wins_whatever_the_file_order() {
    let p = policy();
    let h = "api.example.com";
    assert_eq!(
        matched(&p, "GET", h, "/api/strict/x").route.revocation,
        Revocation::Strict
    );
    assert_eq!(matched(&p, "GET", h, "/api/x").route.name, "/api/**");
    assert_eq!(
        matched(&p, "POST", h, "/api/orgs/acme/admin").route.name,
        "org-admin"
    );
    assert_eq!(
        matched(&p, "GET", h, "/api/orgs/acme/admin").route.name,
        "/api/**",
        "method filter"
    );
    assert_eq!(
        matched(&p, "GET", h, "/public").route.access,
        Access::Public
    );
    assert_eq!(
        matched(&p, "GET", "admin.example.com", "/api/x").route.name,
        "admin-host",
        "host-bound first"
    );
}

#[test]
fn unmatched_paths_are_denied_by_default() {
    let p = policy();
    for path in ["/", "/apix", "/admin", ""] {
        assert_eq!(
            p.route(facts("GET", path)),
            RouteDecision::NoRoute,
            "{path}"
        );
    }
}

#[test]
fn encoded_separators_and_dot_segments_are_refused() {
    let p = policy();
    for path in [
        "/public/..%2Fapi",
        "/public/%2e%2e/api",
        "/public/../api",
        "/public/a%5cb",
        "/public/a\\b",
        "/public/./x",
    ] {
        assert_eq!(
            p.route(facts("GET", path)),
            RouteDecision::AmbiguousPath,
            "{path}"
        );
    }
}

#[test]
fn a_route_with_every_requirement_allows_a_token_meeting_them() {
    let p = policy();
    let m = matched(&p, "POST", "api.example.com", "/api/orgs/acme/admin");
    assert_eq!(m.params, vec![("org", "acme".to_owned())]);
    assert_eq!(m.authorize(&claims(admin_claims())), Ok(()));
    assert_eq!(m.route.rate_limit.as_deref(), Some("admin-writes"));
}

#[test]
fn each_unmet_requirement_is_denied_with_its_reason() {
    let p = policy();
    let m = matched(&p, "POST", "api.example.com", "/api/orgs/acme/admin");
    let with = |k: &str, v: serde_json::Value| {
        let mut c = admin_claims();
        c[k] = v;
        m.authorize(&claims(c)).unwrap_err().code()
    };
    assert_eq!(with("scope", json!("read")), "insufficient_scope");
    assert_eq!(with("roles", json!(["viewer"])), "role_missing");
    assert_eq!(with("email_verified", json!(false)), "claim_mismatch");
    assert_eq!(with("plan", json!({"tier": "free"})), "claim_mismatch");
    assert_eq!(with("org_id", json!("globex")), "binding_mismatch");
    let other_org = matched(&p, "POST", "api.example.com", "/api/orgs/globex/admin");
    assert_eq!(
        other_org
            .authorize(&claims(admin_claims()))
            .unwrap_err()
            .code(),
        "binding_mismatch"
    );
}

#[test]
fn scopes_may_come_from_scp_and_any_needs_only_one() {
    let p = policy();
    let m = matched(&p, "GET", "admin.example.com", "/api/x");
    assert_eq!(m.authorize(&claims(json!({"scp": ["ops"]}))), Ok(()));
    assert_eq!(
        m.authorize(&claims(json!({"scope": "admin other"}))),
        Ok(())
    );
    assert_eq!(
        m.authorize(&claims(json!({}))).unwrap_err().code(),
        "insufficient_scope"
    );
}

#[test]
fn cors_preflights_are_answered_from_the_route() {
    let p = policy();
    let m = matched(&p, "GET", "admin.example.com", "/api/x");
    let cors = m.route.cors.as_ref().unwrap();
    let headers = cors
        .preflight(
            "https://console.example.com",
            "GET",
            "Authorization, Content-Type",
        )
        .unwrap();
    assert!(headers.contains(&(
        "access-control-allow-origin",
        "https://console.example.com".into()
    )));
    assert!(headers.contains(&("access-control-allow-credentials", "true".into())));
    assert_eq!(
        cors.preflight("https://evil.example", "GET", ""),
        Err("origin not allowed")
    );
    assert_eq!(
        cors.preflight("https://console.example.com", "DELETE", ""),
        Err("method not allowed")
    );
    assert_eq!(
        cors.preflight("https://console.example.com", "GET", "x-secret"),
        Err("request header not allowed")
    );
}

#[test]
fn broken_policies_are_refused_with_the_line_and_reason() {
    let bad = |t: &str| Policy::from_toml(t).unwrap_err().to_string();
    let ok = "[[route]]\npath = \"/ok\"\naccess = \"public\"\n\n";
    assert_eq!(
        bad(&format!(
            "{ok}[[route]]\npath = \"/a/**/b\"\naccess = \"public\""
        )),
        "line 5: route \"/a/**/b\": '**' may only end a path"
    );
    assert!(bad("[[route]]\npath = \"a\"\naccess = \"public\"").contains("must start with '/'"));
    assert!(bad("[[route]]\npath = \"/a\"\naccess = \"open\"").contains("line 3"));
    assert!(
        bad("[[route]]\npath = \"/a\"\naccess = \"public\"\nrevocation = \"strict\"")
            .contains("public route")
    );
    assert!(bad("[[route]]\npath = \"/{a}/{a}\"\naccess = \"public\"").contains("used twice"));
    assert!(bad(
        "[[route]]\npath = \"/a\"\naccess = \"authenticated\"\nbind = { org = \"org_id\" }"
    )
    .contains("does not capture"));
    assert!(
        bad("[[route]]\npath = \"/a\"\naccess = \"public\"\nscopes = { all = [\"x\"] }")
            .contains("public route")
    );
    assert!(bad(
        "[[route]]\npath = \"/a\"\naccess = \"authenticated\"\nclaims = [{ claim = \"x\" }]"
    )
    .contains("exactly one"));
    assert!(bad("[[route]]\npath = \"/a\"\naccess = \"public\"\ncors = { origins = [\"*\"], credentials = true }").contains("credentials"));
    assert!(
        bad("[[route]]\npath = \"/a\"\naccess = \"public\"\nrate_limit = \"a b\"")
            .contains("not a name")
    );
    assert!(
        bad(&format!("{ok}{ok}")).contains("line 1"),
        "duplicate routes name the first"
    );
    assert!(
        bad("[[route]]\npath = \"/a\"\naccess = \"public\"\nunknown = 1").contains("unknown field")
    );
}

#[test]
fn a_compiled_policy_survives_serialisation_unchanged() {
    let p = policy();
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), p);
}

#[test]
fn the_shipped_policies_compile() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../policies");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            Policy::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen > 0, "no policy file found in {dir}");
}

#[test]
fn each_route_can_say_whether_it_matches_on_its_own() {
    let p = policy();
    let facts = RequestFacts {
        method: "GET",
        host: "admin.example.com",
        path: "/api/x",
    };
    let matching: Vec<&str> = p
        .routes()
        .iter()
        .filter(|r| r.matches(facts).is_some())
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(matching, ["admin-host", "/api/**"]);
    let admin = p.routes().iter().find(|r| r.name == "admin-host").unwrap();
    assert_eq!(admin.host().as_deref(), Some("admin.example.com"));
    let org = p.routes().iter().find(|r| r.name == "org-admin").unwrap();
    assert_eq!(org.methods(), ["POST"]);
}
