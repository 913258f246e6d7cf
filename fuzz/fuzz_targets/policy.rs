//! Fuzzes route policies: `Policy::from_toml` and route matching (`Policy::route`).
//!
//! The input is a policy file, optionally followed by a NUL byte and request lines
//! (`METHOD /path [host]`, one a line), so that plain policy files work as seeds. A policy that
//! compiles is asked about those requests, a fixed set of probes, and requests built from each
//! route's own host pattern, path pattern and methods.
//!
//! Invariants:
//! - compiling is deterministic: the same text gives the same policy, or the same error;
//! - a compiled policy decides any (method, host, path) without panicking, and deciding twice gives
//!   the same answer;
//! - `Policy::route` agrees with `Route::matches`: it picks the first route in precedence order that
//!   matches on its own, with the same captures, and finds no route only when none matches;
//! - a match captures exactly its route's `{param}`s, in order, each a non-empty segment of the path;
//! - no public route asks for strict revocation or carries requirements;
//! - whether a path is ambiguous depends on the path alone (not on the policy, method or host), and
//!   a policy without routes matches nothing: deny is the default;
//! - a request built from a route's own host, pattern and method is matched by that route on its
//!   own, and so by the policy (by it or a more specific route), never denied.
#![no_main]

use auth_core::policy::{Access, Policy, RequestFacts, Revocation, RouteDecision};
use fuzz::assert_message_style;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

/// The host of requests that do not name one.
const HOST: &str = "api.example.test";
/// Requests every policy is asked about: plain ones, and paths in the forms that must be refused.
const PROBES: [(&str, &str, &str); 18] = [
    ("GET", HOST, "/"),
    ("GET", HOST, ""),
    ("GET", HOST, "/api/x"),
    ("POST", HOST, "/api/strict/x"),
    ("get", "API.example.test:8443", "/public"),
    ("DELETE", "admin.example.com", "/api/orgs/7/admin"),
    ("GET", "", "/api/orgs//admin"),
    ("GET", "a.b.example.com", "//"),
    ("", HOST, "/x"),
    ("GET", HOST, "relative/path"),
    ("OPTIONS", HOST, "/api/x"),
    ("GET", HOST, "/public/../api"),
    ("GET", HOST, "/public/%2e%2E/api"),
    ("GET", HOST, "/public/.%2e/api"),
    ("GET", HOST, "/a%2Fb"),
    ("GET", HOST, "/a%5cb"),
    ("GET", HOST, "/a\\b"),
    ("GET", "host:notaport", "/api/x"),
];
/// Bounds on the work per input, so that huge policies do not become slow units.
const MAX_REQUESTS: usize = 64;
const MAX_ROUTES_PROBED: usize = 64;

/// A policy without routes: it must deny everything it does not refuse as ambiguous.
static EMPTY: LazyLock<Option<Policy>> = LazyLock::new(|| Policy::from_toml("").ok());

fuzz_target!(|data: &[u8]| {
    let (text, requests) = match data.iter().position(|b| *b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let policy = match (Policy::from_toml(&text), Policy::from_toml(&text)) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "compiling is not deterministic");
            a
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b, "compiling is not deterministic");
            let message = a.to_string();
            assert!(!message.is_empty());
            // Syntax errors quote the TOML parser, whose messages are not in our style.
            if !matches!(a, auth_core::policy::PolicyError::Syntax(_)) {
                assert_message_style(&message);
            }
            return;
        }
        _ => panic!("compiling the same text succeeded once and failed once"),
    };
    for route in policy.routes() {
        if route.access == Access::Public {
            assert_eq!(route.revocation, Revocation::Eventual, "{}", route.name);
            assert_eq!(route.requirements, Default::default(), "{}", route.name);
        }
    }
    for (method, host, path) in PROBES {
        check_request(&policy, method, host, path);
    }
    let requests = String::from_utf8_lossy(requests);
    for line in requests.lines().take(MAX_REQUESTS) {
        let mut parts = line.splitn(3, ' ');
        let (method, path, host) = match (parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(p), h) => (m, p, h.unwrap_or(HOST)),
            _ => ("GET", line, HOST),
        };
        check_request(&policy, method, host, path);
    }
    for route in policy.routes().iter().take(MAX_ROUTES_PROBED) {
        let method = route.methods().first().map_or("GET", String::as_str);
        let host = match route.host() {
            None => HOST.to_owned(),
            Some(pattern) => match pattern.strip_prefix("*.") {
                Some(suffix) => format!("a.{suffix}"),
                None => pattern,
            },
        };
        for tail in ["", "r/s"] {
            let path = concrete_path(&route.pattern, tail);
            let facts = RequestFacts {
                method,
                host: &host,
                path: &path,
            };
            assert!(
                route.matches(facts).is_some(),
                "route {:?} does not match {method} {host}{path}, built from it",
                route.pattern
            );
            let decided = check_request(&policy, method, &host, &path);
            assert!(
                decided != Decided::NoRoute,
                "{method} {host}{path} is denied although route {:?} covers it",
                route.pattern
            );
        }
    }
});

/// A decision in comparable form.
#[derive(Debug, PartialEq, Eq)]
enum Decided {
    Matched,
    NoRoute,
    Ambiguous,
}

/// Decides one request and checks the invariants every decision keeps.
fn check_request(policy: &Policy, method: &str, host: &str, path: &str) -> Decided {
    let facts = RequestFacts { method, host, path };
    let decision = policy.route(facts);
    assert_eq!(decision, policy.route(facts), "matching is not pure");
    // The first route, in precedence order, that matches on its own.
    let first = policy
        .routes()
        .iter()
        .find_map(|r| Some((r, r.matches(facts)?)));
    let decided = match &decision {
        RouteDecision::Matched(m) => {
            let (route, params) = first.expect("matched although no route matches on its own");
            assert!(
                std::ptr::eq(route, m.route),
                "matched {:?}, but {:?} comes first and matches",
                m.route.pattern,
                route.pattern
            );
            assert_eq!(params, m.params);
            let names: Vec<&str> = m.params.iter().map(|(name, _)| *name).collect();
            assert_eq!(names, param_names(&m.route.pattern), "captures of {path}");
            let segments: Vec<&str> = path.split('/').collect();
            for (name, value) in &m.params {
                assert!(
                    !value.is_empty() && segments.contains(&value.as_str()),
                    "{{{name}}} captured {value:?}, not a segment of {path:?}"
                );
            }
            Decided::Matched
        }
        RouteDecision::NoRoute => {
            assert!(
                first.is_none(),
                "no route decided {method} {path}, but {:?} matches",
                first.map(|(r, _)| &r.pattern)
            );
            Decided::NoRoute
        }
        RouteDecision::AmbiguousPath => Decided::Ambiguous,
    };
    let ambiguous = decided == Decided::Ambiguous;
    let other = RequestFacts {
        method: "OPTIONS",
        host: "other.example.test",
        path,
    };
    assert_eq!(
        ambiguous,
        policy.route(other) == RouteDecision::AmbiguousPath,
        "ambiguity of {path:?} depends on the method or host"
    );
    if let Some(empty) = &*EMPTY {
        match empty.route(facts) {
            RouteDecision::Matched(_) => panic!("a policy without routes matched {method} {path}"),
            by_default => assert_eq!(
                ambiguous,
                by_default == RouteDecision::AmbiguousPath,
                "ambiguity of {path:?} depends on the policy"
            ),
        }
    }
    decided
}

/// The `{param}` names of a pattern, in order.
fn param_names(pattern: &str) -> Vec<&str> {
    pattern
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .filter(|name| !name.is_empty())
        .collect()
}

/// A request path the pattern matches: wildcards filled in, a `**` tail replaced by `tail`.
fn concrete_path(pattern: &str, tail: &str) -> String {
    let body = pattern.strip_prefix('/').unwrap_or(pattern);
    let segments: Vec<&str> = body
        .split('/')
        .map(|segment| match segment {
            "**" => tail,
            "*" => "x",
            s if s.starts_with('{') && s.ends_with('}') => "x",
            s => s,
        })
        .collect();
    format!("/{}", segments.join("/"))
}
