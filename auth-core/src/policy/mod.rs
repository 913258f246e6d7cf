//! Route policies: what each route of the upstream API requires, evaluated purely.
//!
//! A policy file is TOML (format: `policies/README.md`). It is compiled once — when the Worker is
//! built, so a broken file fails the build with its line and reason — and evaluated per request:
//!
//! 1. [`Policy::route`] finds the route deciding a request: the **most specific** match (host-bound
//!    routes first, then more literal segments, then more single-segment wildcards, then patterns
//!    without a `**` tail; among equals, file order). No match is a [`Denial::NoRoute`]: deny by
//!    default, as a value, not an error.
//! 2. [`RouteMatch::authorize`] checks an authenticated route's requirements (scopes, roles, claim
//!    conditions, path parameters bound to claims) against the verified claims.
//! 3. [`Policy::limits_of`] names the rate limits ([`Limit`], `[[limit]]` in the file) a route
//!    applies at each [`Stage`] of the request.

mod cors;
mod limits;
mod pattern;
mod requirements;

pub use cors::Cors;
pub use limits::{
    KeyFacts, KeyPart, Limit, LimitKey, OnError, Stage, Tier, CLIENT_IP_HEADER,
    MAX_EXACT_PER_SECOND,
};
pub use requirements::{ClaimCondition, Denial, Needs, Requirements};

use crate::claims::VerifiedClaims;
use pattern::{HostPattern, PathPattern};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a route requires of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Passes without a token.
    Public,
    /// Needs a valid token meeting the route's requirements.
    Authenticated,
}

/// How fresh the revocation check must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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
    routes: Vec<toml::Spanned<RouteSpec>>,
    #[serde(default, rename = "limit")]
    limits: Vec<toml::Spanned<limits::LimitSpec>>,
}

/// One name or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    name: Option<String>,
    host: Option<String>,
    path: String,
    #[serde(default)]
    methods: Vec<String>,
    access: Access,
    #[serde(default)]
    scopes: Needs,
    #[serde(default)]
    roles: Needs,
    #[serde(default)]
    claims: Vec<ClaimCondition>,
    #[serde(default)]
    bind: BTreeMap<String, String>,
    #[serde(default)]
    revocation: Revocation,
    rate_limit: Option<OneOrMany>,
    cors: Option<Cors>,
}

/// A compiled route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub name: String,
    pub pattern: String,
    host: Option<HostPattern>,
    path: PathPattern,
    methods: Vec<String>,
    pub access: Access,
    pub requirements: Requirements,
    pub revocation: Revocation,
    /// The names of the limits this route applies, in the file's order (each one exists).
    pub rate_limits: Vec<String>,
    pub cors: Option<Cors>,
    /// Line of the route in its source file.
    pub line: usize,
}

impl Route {
    fn specificity(&self) -> (bool, (usize, usize, bool)) {
        (self.host.is_some(), self.path.specificity())
    }

    fn matches_method(&self, method: &str) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
    }

    /// Whether this route, on its own, matches the request (method, host and path), with the
    /// captured path parameters. [`Policy::route`] picks the most specific of the matching routes.
    pub fn matches(&self, facts: RequestFacts<'_>) -> Option<Vec<(&str, String)>> {
        if !self.matches_method(facts.method)
            || self.host.as_ref().is_some_and(|h| !h.matches(facts.host))
        {
            return None;
        }
        self.path.matches(&path_segments(facts.path))
    }

    /// The methods this route is limited to; empty for any method.
    pub fn methods(&self) -> &[String] {
        &self.methods
    }

    /// The host pattern, as written in a policy file (`api.example.com`, `*.example.com`).
    pub fn host(&self) -> Option<String> {
        self.host.as_ref().map(|h| h.to_string())
    }
}

fn path_segments(path: &str) -> Vec<&str> {
    path.strip_prefix('/').unwrap_or(path).split('/').collect()
}

/// Why a policy file was refused, with the line where it is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{0}")]
    Syntax(String),
    #[error("line {line}: route {route:?}: {reason}")]
    Route {
        line: usize,
        route: String,
        reason: String,
    },
    #[error("line {line}: limit {limit:?}: {reason}")]
    Limit {
        line: usize,
        limit: String,
        reason: String,
    },
}

/// A compiled set of routes, ordered most specific first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    routes: Vec<Route>,
    #[serde(default)]
    limits: Vec<Limit>,
}

/// The facts about a request that route matching uses.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub method: &'a str,
    /// The `Host` the client addressed (port allowed).
    pub host: &'a str,
    /// The raw (still percent-encoded) URL path.
    pub path: &'a str,
}

/// The route deciding a request, with its captured path parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteMatch<'p> {
    pub route: &'p Route,
    pub params: Vec<(&'p str, String)>,
}

impl RouteMatch<'_> {
    /// Checks the route's requirements against a verified token.
    pub fn authorize(&self, claims: &VerifiedClaims) -> Result<(), Denial> {
        requirements::evaluate(&self.route.requirements, claims, &self.params)
    }
}

/// The outcome of matching a request against the policy.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteDecision<'p> {
    Matched(RouteMatch<'p>),
    /// No route matches: denied by default.
    NoRoute,
    /// The path has a form we refuse to interpret (encoded separators or dot segments).
    AmbiguousPath,
}

impl Policy {
    /// Parses, validates and compiles a policy file.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let line_of = |start: usize| text.get(..start).map_or(1, |t| t.matches('\n').count() + 1);
        let mut limits: Vec<Limit> = Vec::with_capacity(file.limits.len());
        for spanned in file.limits {
            let line = line_of(spanned.span().start);
            let spec = spanned.into_inner();
            let name = spec.name().to_owned();
            let limit = limits::compile(spec, line).map_err(|reason| PolicyError::Limit {
                line,
                limit: name,
                reason,
            })?;
            if let Some(earlier) = limits.iter().find(|l| l.name == limit.name) {
                return Err(PolicyError::Limit {
                    line,
                    reason: format!("a limit of this name is defined on line {}", earlier.line),
                    limit: limit.name,
                });
            }
            limits.push(limit);
        }
        let mut routes: Vec<Route> = Vec::with_capacity(file.routes.len());
        for spanned in file.routes {
            let line = line_of(spanned.span().start);
            let spec = spanned.into_inner();
            let name = spec.name.clone().unwrap_or_else(|| spec.path.clone());
            let route = compile_route(spec, name.clone(), line, &limits).map_err(|reason| {
                PolicyError::Route {
                    line,
                    route: name.clone(),
                    reason,
                }
            })?;
            if let Some(earlier) = routes.iter().find(|r| {
                r.pattern == route.pattern && r.methods == route.methods && r.host == route.host
            }) {
                let reason = format!(
                    "same host, path and methods as the route on line {}",
                    earlier.line
                );
                return Err(PolicyError::Route {
                    line,
                    route: name,
                    reason,
                });
            }
            routes.push(route);
        }
        // Stable sort: equal specificity keeps file order.
        routes.sort_by(|a, b| {
            b.specificity()
                .cmp(&a.specificity())
                .then(a.line.cmp(&b.line))
        });
        Ok(Policy { routes, limits })
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn limits(&self) -> &[Limit] {
        &self.limits
    }

    /// The limits `route` applies at `stage`, in the route's order.
    pub fn limits_of<'p>(
        &'p self,
        route: &'p Route,
        stage: Stage,
    ) -> impl Iterator<Item = &'p Limit> + 'p {
        route
            .rate_limits
            .iter()
            .filter_map(|name| self.limits.iter().find(|l| &l.name == name))
            .filter(move |l| l.stage() == stage)
    }

    /// The route deciding a request.
    pub fn route(&self, facts: RequestFacts<'_>) -> RouteDecision<'_> {
        if pattern::is_ambiguous(facts.path) {
            return RouteDecision::AmbiguousPath;
        }
        for route in &self.routes {
            if let Some(params) = route.matches(facts) {
                return RouteDecision::Matched(RouteMatch { route, params });
            }
        }
        RouteDecision::NoRoute
    }
}

fn compile_route(
    spec: RouteSpec,
    name: String,
    line: usize,
    limits: &[Limit],
) -> Result<Route, String> {
    let path = PathPattern::compile(&spec.path).map_err(str::to_owned)?;
    let host = spec
        .host
        .as_deref()
        .map(HostPattern::compile)
        .transpose()
        .map_err(str::to_owned)?;
    let mut methods = Vec::with_capacity(spec.methods.len());
    for m in &spec.methods {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(format!("{m:?} is not an HTTP method name"));
        }
        methods.push(m.to_ascii_uppercase());
    }
    spec.scopes.check("scope")?;
    spec.roles.check("role")?;
    for c in &spec.claims {
        c.check()?;
    }
    for (param, claim) in &spec.bind {
        if !path.has_param(param) {
            return Err(format!(
                "bind names {{{param}}}, which the path does not capture"
            ));
        }
        if claim.is_empty() || claim.split('.').any(str::is_empty) {
            return Err(format!("bind target {claim:?} is not a claim name"));
        }
    }
    let requirements = Requirements {
        scopes: spec.scopes,
        roles: spec.roles,
        claims: spec.claims,
        bind: spec.bind.into_iter().collect(),
    };
    if spec.access == Access::Public {
        if spec.revocation == Revocation::Strict {
            return Err("a public route cannot ask for strict revocation".into());
        }
        if !requirements.is_empty() {
            return Err("a public route cannot have scopes, roles, claims or bind".into());
        }
    }
    let rate_limits = match spec.rate_limit {
        None => Vec::new(),
        Some(OneOrMany::One(name)) => vec![name],
        Some(OneOrMany::Many(names)) => names,
    };
    for (i, limit) in rate_limits.iter().enumerate() {
        if !limits::is_name(limit) {
            return Err(format!("rate_limit {limit:?} is not a name"));
        }
        let Some(defined) = limits.iter().find(|l| &l.name == limit) else {
            return Err(format!("rate_limit {limit:?} names no [[limit]]"));
        };
        if rate_limits.iter().take(i).any(|l| l == limit) {
            return Err(format!("rate_limit {limit:?} is listed twice"));
        }
        if spec.access == Access::Public && defined.stage() == Stage::AfterAuthentication {
            return Err(format!(
                "limit {limit:?} is keyed on the token, which a public route does not check"
            ));
        }
    }
    let mut cors = spec.cors;
    if let Some(c) = &mut cors {
        c.check(&methods)?;
        if !rate_limits.is_empty() {
            // A page calling a limited route can read how much is left and when to retry.
            c.expose_too(&crate::ratelimit::EXPOSED_HEADERS);
        }
    }
    Ok(Route {
        name,
        pattern: spec.path,
        host,
        path,
        methods,
        access: spec.access,
        requirements,
        revocation: spec.revocation,
        rate_limits,
        cors,
        line,
    })
}

#[cfg(test)]
mod tests;
