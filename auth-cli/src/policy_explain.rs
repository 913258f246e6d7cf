//! `edge-auth policy explain`: which route decides a request, what it requires, and the decision.

use crate::args::ExplainArgs;
use crate::render;
use crate::trust::Trust;
use crate::unverified::{self, Unverified};
use crate::verify_token::read_token;
use crate::Outcome;
use anyhow::Context as _;
use auth_core::policy::{
    Access, ClaimCondition, Denial, Needs, Policy, RequestFacts, Requirements, Revocation, Route,
    RouteDecision, RouteMatch, Stage,
};
use auth_core::sessions::revocation_check;
use auth_core::Rejection;
use serde_json::Value;
use std::io::{BufRead, Write};

/// The edge's code for a path it refuses to interpret (README, "The edge"). The core reports it as
/// [`RouteDecision::AmbiguousPath`]; the code and status are the edge's contract.
const PATH_AMBIGUOUS: &str = "path_ambiguous";

pub(crate) fn run(
    args: &ExplainArgs,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    // clap has already insisted on --jwks, --issuer and --audience with --token, and on --token
    // with any of them.
    let token = match args.token_and_trust() {
        Some((token, trust)) => Some((read_token(Some(token), stdin)?, Trust::load(&trust)?)),
        None => None,
    };
    let file = args.file.display();
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("reading {file}"))?;
    let policy = Policy::from_toml(&text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let facts = RequestFacts {
        method: &args.method,
        host: &args.host,
        path: &args.path,
    };
    let decision = policy.route(facts);
    let compiled = compiled_facts(&policy, facts);

    let n = policy.routes().len();
    let noun = if n == 1 { "route" } else { "routes" };
    writeln!(out, "policy   {file} ({n} {noun})")?;
    let host = match args.host.as_str() {
        "" if compiled.iter().any(|c| c.host.is_some()) => {
            " (no --host given: routes bound to a host cannot match)".to_owned()
        }
        "" => String::new(),
        h => format!(" (host {h})"),
    };
    writeln!(out, "request  {} {}{host}", args.method, args.path)?;
    writeln!(out)?;
    let decider = match &decision {
        RouteDecision::Matched(m) => Some(m.route),
        _ => None,
    };
    write_routes(out, &policy, &compiled, decider)?;
    writeln!(out)?;

    let route_match = match decision {
        RouteDecision::Matched(m) => m,
        RouteDecision::NoRoute => {
            let denial = Denial::NoRoute;
            writeln!(out, "no route matches this request")?;
            writeln!(
                out,
                "decision: denied: {} ({}): {}",
                denial.code(),
                denial.status(),
                denial.message()
            )?;
            return Ok(Outcome::Refused);
        }
        RouteDecision::AmbiguousPath => {
            writeln!(
                out,
                "decision: denied: {PATH_AMBIGUOUS} (400): the path holds an encoded separator, a \
                 backslash or a dot segment; the edge refuses it before matching any route"
            )?;
            return Ok(Outcome::Refused);
        }
    };
    write_route_details(out, &policy, &route_match)?;
    writeln!(out)?;
    decide(
        out,
        &route_match,
        token.as_ref().map(|(raw, t)| (raw.as_str(), t)),
    )
}

/// The decision for the deciding route: public, or the token's verdict and then its requirements.
fn decide(
    out: &mut dyn Write,
    route_match: &RouteMatch<'_>,
    token: Option<(&str, &Trust)>,
) -> anyhow::Result<Outcome> {
    if route_match.route.access == Access::Public {
        if token.is_some() {
            writeln!(
                out,
                "token: not looked at (the edge checks no token on a public route)"
            )?;
        }
        writeln!(out, "decision: allowed (public route)")?;
        return Ok(Outcome::Passed);
    }
    let Some((raw, trust)) = token else {
        let missing = Rejection::Missing;
        writeln!(
            out,
            "without a token the edge answers {} ({}): {}",
            missing.code(),
            missing.status(),
            missing
        )?;
        writeln!(
            out,
            "to check a token against this route, add --token with --jwks, --issuer and --audience"
        )?;
        writeln!(
            out,
            "decision: denied: {} ({})",
            missing.code(),
            missing.status()
        )?;
        return Ok(Outcome::Refused);
    };
    let claims = match trust.verify(raw) {
        Ok(claims) => claims,
        Err(rejection) => {
            write!(out, "token ")?;
            let steps = unverified::trace(raw, trust);
            render::write_refusal(out, &rejection, &Unverified::decode(raw), &steps, trust)?;
            writeln!(out)?;
            writeln!(
                out,
                "decision: denied: {} ({})",
                rejection.code(),
                rejection.status()
            )?;
            return Ok(Outcome::Refused);
        }
    };
    writeln!(out, "token: valid")?;
    render::write_valid(out, &claims, trust.now, "  ")?;
    writeln!(out)?;
    writeln!(
        out,
        "not checked here: revocation (KV deny entries; the tenant's Durable Object on strict routes)"
    )?;
    match route_match.authorize(&claims) {
        Ok(()) => {
            // As at the edge: the route's requirements first, then the revocation rule, which refuses
            // a token without `sid` on strict routes before any store is asked.
            if let Err(rejection) = revocation_check(route_match.route.revocation, &claims) {
                writeln!(
                    out,
                    "decision: refused: {} ({}): {rejection}",
                    rejection.code(),
                    rejection.status()
                )?;
                return Ok(Outcome::Refused);
            }
            writeln!(out, "decision: allowed")?;
            Ok(Outcome::Passed)
        }
        Err(denial) => {
            writeln!(
                out,
                "decision: denied: {} ({}): {}",
                denial.code(),
                denial.status(),
                denial.message()
            )?;
            Ok(Outcome::Refused)
        }
    }
}

/// Every route in the order the core tries them, marking the one that decides and the others that
/// match too (and so are shadowed by it).
fn write_routes(
    out: &mut dyn Write,
    policy: &Policy,
    extra: &[CompiledFacts],
    decider: Option<&Route>,
) -> std::io::Result<()> {
    let routes = policy.routes();
    writeln!(
        out,
        "routes, most specific first (=> decides, +  matches too but is shadowed, ?  unknown):"
    )?;
    let name_width = routes.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let pattern_width = routes.iter().map(|r| r.pattern.len()).max().unwrap_or(0);
    for (i, route) in routes.iter().enumerate() {
        let facts = extra.get(i);
        let marker = if decider.is_some_and(|d| std::ptr::eq(d, route)) {
            "=>"
        } else {
            match facts.and_then(|f| f.matches) {
                Some(true) => "+ ",
                Some(false) => "  ",
                None => "? ",
            }
        };
        let methods = facts
            .and_then(|f| f.methods.as_ref())
            .map_or_else(|| "any method".to_owned(), |m| m.join(","));
        let host = facts
            .and_then(|f| f.host.as_deref())
            .map_or(String::new(), |h| format!("  host {h}"));
        let access = match route.access {
            Access::Public => "public",
            Access::Authenticated => "authenticated",
        };
        writeln!(
            out,
            "{marker} {:>2}. {:<name_width$}  {:<pattern_width$}  {access:<13}  {methods}{host}  (line {})",
            i + 1,
            route.name,
            route.pattern,
            route.line
        )?;
    }
    Ok(())
}

/// What the core says of each route for this request, in the order it tries them.
#[derive(Debug, Default)]
struct CompiledFacts {
    /// Whether the route, on its own, matches the request.
    matches: Option<bool>,
    /// The methods it is limited to; `None` for any method.
    methods: Option<Vec<String>>,
    host: Option<String>,
}

fn compiled_facts(policy: &Policy, facts: RequestFacts<'_>) -> Vec<CompiledFacts> {
    policy
        .routes()
        .iter()
        .map(|route| CompiledFacts {
            matches: Some(route.matches(facts).is_some()),
            methods: Some(route.methods().to_vec()).filter(|m| !m.is_empty()),
            host: route.host(),
        })
        .collect()
}

fn write_route_details(
    out: &mut dyn Write,
    policy: &Policy,
    m: &RouteMatch<'_>,
) -> std::io::Result<()> {
    let route = m.route;
    writeln!(
        out,
        "deciding route: {:?} (line {})",
        route.name, route.line
    )?;
    match route.access {
        Access::Public => writeln!(out, "  requires    nothing: public, no token")?,
        Access::Authenticated => {
            writeln!(out, "  requires    a valid token")?;
            for line in describe(&route.requirements) {
                writeln!(out, "              and {line}")?;
            }
            writeln!(
                out,
                "  revocation  {}",
                match route.revocation {
                    Revocation::Eventual => "eventual (KV deny entries)",
                    Revocation::Strict =>
                        "strict (KV and the tenant's Durable Object; tokens without sid are refused)",
                }
            )?;
        }
    }
    if !m.params.is_empty() {
        let params: Vec<String> = m.params.iter().map(|(n, v)| format!("{n}={v}")).collect();
        writeln!(out, "  path params {}", params.join(" "))?;
    }
    for (stage, when) in [
        (Stage::BeforeAuthentication, "before the token"),
        (Stage::AfterAuthentication, "after the token"),
    ] {
        for limit in policy.limits_of(route, stage) {
            let key: Vec<String> = limit.key.iter().cloned().map(String::from).collect();
            let r = limit.rate;
            writeln!(
                out,
                "  rate limit  {}: {} per {} s, burst {}, by {}, {} tier, {when}, on error {}",
                limit.name,
                r.amount,
                r.period_secs,
                r.burst,
                key.join("+"),
                format!("{:?}", limit.tier).to_ascii_lowercase(),
                format!("{:?}", limit.on_error).to_ascii_lowercase()
            )?;
        }
    }
    Ok(())
}

/// The route's requirements, one line each, in the order the core checks them.
fn describe(req: &Requirements) -> Vec<String> {
    let mut lines = Vec::new();
    let mut needs = |what: &str, n: &Needs| {
        if !n.all.is_empty() {
            lines.push(format!("{what}: all of {}", n.all.join(" ")));
        }
        if !n.any.is_empty() {
            lines.push(format!("{what}: any of {}", n.any.join(" ")));
        }
    };
    needs("scopes", &req.scopes);
    needs("roles", &req.roles);
    lines.extend(req.claims.iter().map(describe_claim));
    lines.extend(
        req.bind
            .iter()
            .map(|(param, claim)| format!("path {{{param}}} equal to claim {claim}")),
    );
    lines
}

fn describe_claim(c: &ClaimCondition) -> String {
    if let Some(v) = &c.equals {
        format!("claim {} equal to {v}", c.claim)
    } else if let Some(options) = &c.one_of {
        format!("claim {} one of {}", c.claim, Value::from(options.clone()))
    } else if c.present == Some(false) {
        format!("claim {} absent", c.claim)
    } else {
        format!("claim {} present", c.claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
[[route]]
name = "api"
path = "/api/**"
access = "authenticated"

[[route]]
name = "strict"
path = "/api/strict/**"
methods = ["GET"]
host = "*.example.com"
access = "authenticated"
scopes = { all = ["a:read"], any = ["x", "y"] }
roles = { any = ["admin"] }
claims = [{ claim = "plan.tier", one_of = ["pro"] }, { claim = "act", present = false }]

[[route]]
name = "public"
path = "/public/**"
access = "public"
"#;

    fn facts<'a>(method: &'a str, host: &'a str, path: &'a str) -> RequestFacts<'a> {
        RequestFacts { method, host, path }
    }

    #[test]
    fn each_route_is_matched_on_its_own_by_the_core() {
        let policy = Policy::from_toml(POLICY).unwrap();
        let names: Vec<&str> = policy.routes().iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["strict", "api", "public"]);

        let got = compiled_facts(&policy, facts("GET", "a.example.com", "/api/strict/x"));
        let matches: Vec<Option<bool>> = got.iter().map(|f| f.matches).collect();
        assert_eq!(matches, [Some(true), Some(true), Some(false)]);
        assert_eq!(got[0].methods, Some(vec!["GET".to_owned()]));
        assert_eq!(got[0].host.as_deref(), Some("*.example.com"));
        assert_eq!(
            (got[1].methods.as_ref(), got[1].host.as_ref()),
            (None, None)
        );

        // A method the route excludes makes it not match at all.
        let got = compiled_facts(&policy, facts("POST", "a.example.com", "/api/strict/x"));
        let matches: Vec<Option<bool>> = got.iter().map(|f| f.matches).collect();
        assert_eq!(matches, [Some(false), Some(true), Some(false)]);
    }

    #[test]
    fn requirements_are_described_in_the_order_they_are_checked() {
        let policy = Policy::from_toml(POLICY).unwrap();
        let strict = &policy.routes()[0];
        assert_eq!(
            describe(&strict.requirements),
            [
                "scopes: all of a:read",
                "scopes: any of x y",
                "roles: any of admin",
                "claim plan.tier one of [\"pro\"]",
                "claim act absent",
            ]
        );
    }
}
