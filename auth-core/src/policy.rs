//! Route policies: what each route of the upstream API requires, evaluated purely.
//!
//! A policy file is TOML (see `policies/README.md`). Routes are compiled once; evaluation picks the
//! most specific matching route (more literal segments first, then more single-segment wildcards,
//! then exact patterns before `/**` tails, then file order) and returns a [`RouteDecision`]. A path no
//! route matches is denied: deny is the default, and it is a value, not an error.

use serde::Deserialize;

/// What a route requires of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Passes without a token.
    Public,
    /// Needs a valid token.
    Authenticated,
}

/// How fresh the revocation check must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Revocation {
    /// KV deny entries: cheap, may lag by up to ~60 s at a location that recently read the key.
    #[default]
    Eventual,
    /// Also asks the tenant's Durable Object: strongly consistent, one more round trip.
    Strict,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default, rename = "route")]
    routes: Vec<RouteSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    name: Option<String>,
    path: String,
    #[serde(default)]
    methods: Vec<String>,
    access: Access,
    #[serde(default)]
    revocation: Revocation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}` or `*`: exactly one segment.
    One,
    /// `**`: the rest of the path, possibly empty; last segment only.
    Rest,
}

/// A compiled route.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: String,
    pub pattern: String,
    methods: Vec<String>,
    segments: Vec<Segment>,
    pub access: Access,
    pub revocation: Revocation,
    order: usize,
}

impl Route {
    /// Higher is more specific.
    fn specificity(&self) -> (usize, usize, bool) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        let singles = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::One))
            .count();
        let exact = !self.segments.contains(&Segment::Rest);
        (literals, singles, exact)
    }

    fn matches(&self, method: &str, path_segments: &[&str]) -> bool {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
        {
            return false;
        }
        let mut rest = path_segments;
        for seg in &self.segments {
            match seg {
                Segment::Rest => return true,
                Segment::Literal(lit) => match rest.split_first() {
                    Some((head, tail)) if head == lit => rest = tail,
                    _ => return false,
                },
                Segment::One => match rest.split_first() {
                    Some((head, tail)) if !head.is_empty() => rest = tail,
                    _ => return false,
                },
            }
        }
        rest.is_empty()
    }
}

/// Why a policy file was refused. Carries the line where it is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Syntax(String),
    #[error("route {route}: {reason}")]
    Route { route: String, reason: String },
}

/// A compiled set of routes, ordered most specific first.
#[derive(Debug, Clone)]
pub struct Policy {
    routes: Vec<Route>,
}

/// The outcome of matching a request against the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision<'p> {
    /// The request may proceed once the route's access requirement is met.
    Matched {
        route: &'p str,
        access: Access,
        revocation: Revocation,
    },
    /// No route matches: denied by default.
    NoRoute,
    /// The path has a form we refuse to interpret (encoded separators or dot segments).
    AmbiguousPath,
}

impl Policy {
    /// Parses and compiles a policy file.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let mut routes = Vec::with_capacity(file.routes.len());
        for (order, spec) in file.routes.into_iter().enumerate() {
            let name = spec.name.clone().unwrap_or_else(|| spec.path.clone());
            let err = |reason: &str| PolicyError::Route {
                route: name.clone(),
                reason: reason.to_owned(),
            };
            let segments = compile_pattern(&spec.path).map_err(err)?;
            let mut methods = Vec::new();
            for m in &spec.methods {
                if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(err("methods must be HTTP method names"));
                }
                methods.push(m.to_ascii_uppercase());
            }
            if spec.access == Access::Public && spec.revocation == Revocation::Strict {
                return Err(err("a public route cannot ask for strict revocation"));
            }
            if routes
                .iter()
                .any(|r: &Route| r.pattern == spec.path && r.methods == methods)
            {
                return Err(err(
                    "the same path and methods are already defined by an earlier route",
                ));
            }
            routes.push(Route {
                name,
                pattern: spec.path,
                methods,
                segments,
                access: spec.access,
                revocation: spec.revocation,
                order,
            });
        }
        // Stable: equal specificity keeps file order.
        routes.sort_by(|a, b| {
            b.specificity()
                .cmp(&a.specificity())
                .then(a.order.cmp(&b.order))
        });
        Ok(Policy { routes })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The route deciding `method path`. `path` is the raw (still percent-encoded) URL path.
    pub fn decide(&self, method: &str, path: &str) -> RouteDecision<'_> {
        if is_ambiguous(path) {
            return RouteDecision::AmbiguousPath;
        }
        let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        match self.routes.iter().find(|r| r.matches(method, &segments)) {
            Some(r) => RouteDecision::Matched {
                route: &r.name,
                access: r.access,
                revocation: r.revocation,
            },
            None => RouteDecision::NoRoute,
        }
    }
}

fn compile_pattern(pattern: &str) -> Result<Vec<Segment>, &'static str> {
    let body = pattern
        .strip_prefix('/')
        .ok_or("path must start with '/'")?;
    let parts: Vec<&str> = body.split('/').collect();
    let last = parts.len().saturating_sub(1);
    let mut names: Vec<&str> = Vec::new();
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let seg = match *part {
            "**" if i == last => Segment::Rest,
            "**" => return Err("'**' may only end a path"),
            "*" => Segment::One,
            p if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => {
                let name = p.get(1..p.len() - 1).unwrap_or("");
                if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err("a parameter name may hold only letters, digits and '_'");
                }
                if names.contains(&name) {
                    return Err("a parameter name is used twice");
                }
                names.push(name);
                Segment::One
            }
            p if p.contains(['{', '}', '*', '%', '?', '#']) => {
                return Err("a literal segment may not contain '{', '}', '*', '%', '?' or '#'")
            }
            "." | ".." => return Err("dot segments are not allowed"),
            p => Segment::Literal(p.to_owned()),
        };
        out.push(seg);
    }
    Ok(out)
}

/// Encoded separators and dot segments read differently to different servers; refuse them rather
/// than guess which reading the upstream will take.
fn is_ambiguous(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains('\\')
        || lower
            .split('/')
            .any(|s| matches!(s, "." | ".." | "%2e" | "%2e%2e" | ".%2e" | "%2e."))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    "#;

    fn decide<'p>(p: &'p Policy, method: &str, path: &str) -> RouteDecision<'p> {
        p.decide(method, path)
    }

    #[test]
    fn the_most_specific_route_wins_whatever_the_file_order() {
        let p = Policy::from_toml(POLICY).unwrap();
        assert!(matches!(
            decide(&p, "GET", "/api/strict/x"),
            RouteDecision::Matched {
                revocation: Revocation::Strict,
                ..
            }
        ));
        assert!(matches!(
            decide(&p, "GET", "/api/x"),
            RouteDecision::Matched {
                revocation: Revocation::Eventual,
                ..
            }
        ));
        assert!(matches!(
            decide(&p, "POST", "/api/orgs/7/admin"),
            RouteDecision::Matched {
                route: "org-admin",
                ..
            }
        ));
        assert!(matches!(
            decide(&p, "GET", "/api/orgs/7/admin"),
            RouteDecision::Matched {
                route: "/api/**",
                ..
            }
        ));
        assert!(matches!(
            decide(&p, "GET", "/public"),
            RouteDecision::Matched {
                access: Access::Public,
                ..
            }
        ));
    }

    #[test]
    fn unmatched_paths_are_denied_by_default() {
        let p = Policy::from_toml(POLICY).unwrap();
        assert_eq!(decide(&p, "GET", "/"), RouteDecision::NoRoute);
        assert_eq!(decide(&p, "GET", "/apix"), RouteDecision::NoRoute);
        assert_eq!(decide(&p, "GET", "/admin"), RouteDecision::NoRoute);
    }

    #[test]
    fn encoded_separators_and_dot_segments_are_refused() {
        let p = Policy::from_toml(POLICY).unwrap();
        for path in [
            "/public/..%2Fapi",
            "/public/%2e%2e/api",
            "/public/../api",
            "/public/a%5cb",
            "/public/a\\b",
        ] {
            assert_eq!(
                decide(&p, "GET", path),
                RouteDecision::AmbiguousPath,
                "{path}"
            );
        }
    }

    #[test]
    fn broken_policies_are_refused_with_the_route_and_reason() {
        let bad = |t: &str| Policy::from_toml(t).unwrap_err().to_string();
        assert!(bad("[[route]]\npath = \"/a/**/b\"\naccess = \"public\"")
            .contains("'**' may only end a path"));
        assert!(bad("[[route]]\npath = \"a\"\naccess = \"public\"").contains("must start with '/'"));
        assert!(bad("[[route]]\npath = \"/a\"\naccess = \"open\"").contains("line 3"));
        assert!(
            bad("[[route]]\npath = \"/a\"\naccess = \"public\"\nrevocation = \"strict\"")
                .contains("public route")
        );
        assert!(bad("[[route]]\npath = \"/{a}/{a}\"\naccess = \"public\"").contains("used twice"));
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
}
