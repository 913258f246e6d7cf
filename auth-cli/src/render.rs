//! Text rendering of the core's decisions, shared by `verify-token` and `policy explain`.

use crate::trust::Trust;
use crate::unverified::{Step, Unverified};
use auth_core::{Rejection, VerifiedClaims};
use serde_json::Value;
use std::io::{self, Write};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A Unix time as RFC 3339 UTC, or a note when it is out of range.
pub(crate) fn utc(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "out of range".to_owned())
}

/// `unix` relative to `now`, for a person: "in 4 min 10 s", "2 h 3 min ago".
pub(crate) fn relative(unix: i64, now: i64) -> String {
    let delta = unix.saturating_sub(now);
    let span = duration(delta.unsigned_abs());
    match delta {
        0 => "now".to_owned(),
        d if d > 0 => format!("in {span}"),
        _ => format!("{span} ago"),
    }
}

fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(" ")
    }
}

/// The verified identity, one field a line.
pub(crate) fn write_valid(
    out: &mut dyn Write,
    claims: &VerifiedClaims,
    now: i64,
    indent: &str,
) -> io::Result<()> {
    let audiences: Vec<&str> = claims.audiences().iter().map(String::as_str).collect();
    let exp = claims.expires_at();
    writeln!(out, "{indent}subject    {}", claims.subject())?;
    writeln!(out, "{indent}issuer     {}", claims.issuer())?;
    writeln!(out, "{indent}audiences  {}", list(&audiences))?;
    writeln!(out, "{indent}tenant     {}", claims.tenant().unwrap_or("-"))?;
    writeln!(
        out,
        "{indent}session    {}",
        claims.session().unwrap_or("-")
    )?;
    writeln!(
        out,
        "{indent}expires    {} ({exp}, {})",
        utc(exp),
        relative(exp, now)
    )?;
    writeln!(out, "{indent}scopes     {}", list(&claims.scopes()))?;
    writeln!(out, "{indent}roles      {}", list(&claims.roles()))
}

/// The refusal line, then what the token claims about itself next to what was expected, then how far
/// the core's pipeline got.
pub(crate) fn write_refusal(
    out: &mut dyn Write,
    rejection: &Rejection,
    unverified: &Unverified,
    steps: &[Step],
    trust: &Trust,
) -> io::Result<()> {
    writeln!(
        out,
        "refused: {} ({}): {}",
        rejection.code(),
        rejection.status(),
        rejection
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "UNVERIFIED token contents (signature not trusted; anyone can write these), against what was expected:"
    )?;
    let show = |v: &Option<Value>| v.as_ref().map_or("(absent)".to_owned(), Value::to_string);
    if !unverified.header_decoded {
        writeln!(out, "  header  (could not be decoded)")?;
    } else {
        let policy = trust.issuer();
        let allowed: Vec<&str> = policy
            .map(|p| p.algorithms.iter().map(|a| a.name()).collect())
            .unwrap_or_default();
        writeln!(
            out,
            "  alg  {}  (allowed: {})",
            show(&unverified.alg),
            allowed.join(", ")
        )?;
        let keys: Vec<String> = trust
            .keys
            .keys()
            .iter()
            .map(|k| format!("{} ({})", k.kid().unwrap_or("no kid"), k.algorithm().name()))
            .collect();
        let skipped = match trust.keys.skipped() {
            0 => String::new(),
            n => format!("; {n} unusable entries skipped"),
        };
        writeln!(
            out,
            "  kid  {}  (key set: {}{skipped})",
            show(&unverified.kid),
            keys.join(", ")
        )?;
        let expected_typ = policy
            .and_then(|p| p.token_type.as_deref())
            .unwrap_or("not checked");
        writeln!(
            out,
            "  typ  {}  (expected: {expected_typ})",
            show(&unverified.typ)
        )?;
    }
    if !unverified.claims_decoded {
        writeln!(out, "  claims  (could not be decoded)")?;
    } else {
        let (issuer, audiences, leeway) = trust.issuer().map_or(("", String::new(), 0), |p| {
            (p.issuer.as_str(), p.audiences.join(", "), p.leeway_secs)
        });
        writeln!(
            out,
            "  iss  {}  (expected: {issuer})",
            show(&unverified.iss)
        )?;
        writeln!(
            out,
            "  aud  {}  (expected one of: {audiences})",
            show(&unverified.aud)
        )?;
        let when = |v: &Option<Value>| match v.as_ref().and_then(Value::as_i64) {
            Some(t) => format!(" = {}, {}", utc(t), relative(t, trust.now)),
            None => String::new(),
        };
        writeln!(
            out,
            "  exp  {}{}  (now: {} = {}; leeway {leeway} s)",
            show(&unverified.exp),
            when(&unverified.exp),
            trust.now,
            utc(trust.now)
        )?;
        for (name, value) in [("nbf", &unverified.nbf), ("iat", &unverified.iat)] {
            if value.is_some() {
                writeln!(out, "  {name}  {}{}", show(value), when(value))?;
            }
        }
    }
    let trail: Vec<String> = steps
        .iter()
        .map(|s| match (s.code, &s.detail) {
            (Some(code), _) => format!("{} REFUSED {code}", s.step),
            (None, Some(detail)) => format!("{} ok [{detail}]", s.step),
            (None, None) => format!("{} ok", s.step),
        })
        .collect();
    writeln!(out, "core steps: {}", trail.join(" -> "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(100, 100), "now");
        assert_eq!(relative(130, 100), "in 30 s");
        assert_eq!(relative(100, 400), "5 min 0 s ago");
        assert_eq!(relative(100 + 7_500, 100), "in 2 h 5 min");
        assert_eq!(relative(0, 90_000 * 3), "3 d 3 h ago");
    }

    #[test]
    fn unix_times_print_as_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(i64::MAX), "out of range");
    }
}
