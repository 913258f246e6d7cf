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

[[limit]]
name = "admin-writes"
key = ["subject"]
amount = 10
period = "1m"
tier = "exact"
on_error = "deny"
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
        tenant: Default::default(),
    };
    validate(c.as_object().unwrap().clone(), &policy, None, 1_000_000_000).unwrap()
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
        "/public/A%5Cb",
        "/public/%2E%2E/api",
        "/public/.%2E/x",
        "/public/x/..",
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
    assert_eq!(m.route.rate_limits, ["admin-writes"]);
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

const LIMITED: &str = r#"
[[limit]]
name = "per-ip"
key = ["ip"]
amount = 20
period = "10s"
burst = 5
tier = "approximate"
on_error = "allow"

[[limit]]
name = "per-user"
key = ["subject"]
amount = 100
period = 60
tier = "exact"
on_error = "deny"

[[route]]
name = "limited"
path = "/api/**"
access = "authenticated"
rate_limit = ["per-user", "per-ip"]
cors = { origins = ["https://app.example.com"], expose = ["x-request-id", "RateLimit"] }

[[route]]
name = "public-limited"
path = "/public/**"
access = "public"
rate_limit = "per-ip"
"#;

#[test]
fn routes_apply_their_limits_before_or_after_authentication_by_key() {
    let p = Policy::from_toml(LIMITED).unwrap();
    let names = |path: &str, stage: Stage| -> Vec<String> {
        let m = matched(&p, "GET", "api.example.com", path);
        p.limits_of(m.route, stage)
            .map(|l| l.name.clone())
            .collect()
    };
    assert_eq!(names("/api/x", Stage::BeforeAuthentication), ["per-ip"]);
    assert_eq!(names("/api/x", Stage::AfterAuthentication), ["per-user"]);
    assert_eq!(names("/public/x", Stage::BeforeAuthentication), ["per-ip"]);
    assert!(names("/public/x", Stage::AfterAuthentication).is_empty());
    let per_ip = p.limits().iter().find(|l| l.name == "per-ip").unwrap();
    assert_eq!(per_ip.rate, crate::ratelimit::Rate::new(20, 10, 5).unwrap());
    assert_eq!(per_ip.tier, Tier::Approximate);
    assert_eq!(per_ip.on_error, OnError::Allow);
    assert_eq!(per_ip.line, 2);
    let per_user = p.limits().iter().find(|l| l.name == "per-user").unwrap();
    assert_eq!(per_user.rate.burst, 100, "the burst defaults to the amount");
    let cors = matched(&p, "GET", "api.example.com", "/api/x")
        .route
        .cors
        .clone()
        .unwrap();
    assert_eq!(
        cors.expose,
        [
            "x-request-id",
            "RateLimit",
            "ratelimit-policy",
            "retry-after"
        ],
        "a limited route's CORS exposes the rate-limit fields, once each"
    );
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), p);
}

#[test]
fn broken_limits_are_refused_with_the_line_and_reason() {
    let limit = |body: &str| format!("# a limit\n[[limit]]\nname = \"l\"\n{body}");
    let ok = "key = [\"ip\"]\namount = 1\nperiod = \"1s\"\ntier = \"exact\"\non_error = \"deny\"\n";
    let bad = |t: &str| Policy::from_toml(t).unwrap_err().to_string();
    assert!(Policy::from_toml(&limit(ok)).is_ok());
    assert_eq!(
        bad(&limit(&ok.replace("1s", "2d"))),
        "line 2: limit \"l\": period must be from 1 s to 86400 s (a day)"
    );
    assert!(
        bad(&limit(&ok.replace("\"ip\"", "\"header:x-forwarded-for\""))).contains("key on \"ip\"")
    );
    assert!(bad(&limit(&ok.replace("[\"ip\"]", "[]"))).contains("key is empty"));
    assert!(bad(&limit(&ok.replace("[\"ip\"]", "[\"ip\", \"ip\"]"))).contains("listed twice"));
    assert!(bad(&limit(&ok.replace("amount = 1", "amount = 0"))).contains("amount"));
    assert!(bad(&limit(&ok.replace("1s", "1w"))).contains("period"));
    assert!(bad(&limit(&ok.replace("exact", "eventual"))).contains("line"));
    assert!(
        bad(&limit(&ok.replace("amount = 1", "amount = 501")))
            .contains("use tier = \"approximate\""),
        "an exact limit hotter than one object serves"
    );
    assert!(Policy::from_toml(&limit(
        &ok.replace("amount = 1", "amount = 5000")
            .replace("exact", "approximate")
    ))
    .is_ok());
    assert!(bad(&limit(&format!("{ok}extra = 1"))).contains("unknown field"));
    assert_eq!(
        bad(&format!("{}\n{}", limit(ok), limit(ok))),
        "line 11: limit \"l\": a limit of this name is defined on line 2"
    );
    let route = |extra: &str| {
        format!(
            "{}\n[[route]]\npath = \"/a\"\naccess = \"public\"\n{extra}",
            limit(ok)
        )
    };
    assert!(bad(&route("rate_limit = \"nope\"")).contains("names no [[limit]]"));
    assert!(bad(&route("rate_limit = [\"l\", \"l\"]")).contains("listed twice"));
    let on_subject = limit(&ok.replace("\"ip\"", "\"subject\""));
    assert_eq!(
        bad(&format!("{on_subject}\n[[route]]\npath = \"/a\"\naccess = \"public\"\nrate_limit = \"l\"")),
        "line 10: route \"/a\": limit \"l\" is keyed on the token, which a public route does not check"
    );
}

#[test]
fn identity_keys_count_by_the_identity_they_name() {
    let limit = |key: Vec<KeyPart>| Limit {
        name: "l".into(),
        key,
        rate: crate::ratelimit::Rate::new(1, 1, 1).unwrap(),
        tier: Tier::Exact,
        on_error: OnError::Deny,
        line: 1,
    };
    let key_of = |l: &Limit, c: &VerifiedClaims| {
        l.key(&KeyFacts {
            header: &|_| None,
            claims: Some(c),
        })
    };
    let subject = limit(vec![KeyPart::Subject]);
    let u1 = claims(json!({"sid": "s1", "tid": "acme", "org_id": "o1"}));
    let u1_other_session = claims(json!({"sid": "s2", "tid": "acme", "org_id": "o1"}));
    let u2 = claims(json!({"sub": "u2", "sid": "s1", "tid": "acme", "org_id": "o1"}));
    assert_eq!(key_of(&subject, &u1), key_of(&subject, &u1_other_session));
    assert_ne!(key_of(&subject, &u1), key_of(&subject, &u2));
    let session = limit(vec![KeyPart::Session]);
    assert_ne!(key_of(&session, &u1), key_of(&session, &u1_other_session));
    let tenant = limit(vec![KeyPart::Tenant]);
    assert_eq!(key_of(&tenant, &u1), key_of(&tenant, &u2));
    let org = limit(vec![KeyPart::Claim("org_id".into())]);
    assert_eq!(key_of(&org, &u1), key_of(&org, &u2));
    let other_org = claims(json!({"org_id": "o2"}));
    assert_ne!(key_of(&org, &u1), key_of(&org, &other_org));
}
