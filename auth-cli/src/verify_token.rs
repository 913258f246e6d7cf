//! `edge-auth verify-token`: the core's verdict on one token, with what is needed to see why.

use crate::args::VerifyTokenArgs;
use crate::render;
use crate::trust::Trust;
use crate::unverified::{self, Unverified};
use crate::Outcome;
use anyhow::Context as _;
use auth_core::{Rejection, VerifiedClaims};
use serde_json::json;
use std::io::{BufRead, Write};

pub(crate) fn run(
    args: &VerifyTokenArgs,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> anyhow::Result<Outcome> {
    let trust = Trust::load(&args.trust)?;
    let raw = read_token(args.token.as_deref(), stdin)?;
    let verdict = trust.verify(&raw);
    if args.json {
        let report = json_report(&raw, &verdict, &trust);
        writeln!(out, "{report}")?;
    } else {
        match &verdict {
            Ok(claims) => {
                writeln!(out, "valid")?;
                render::write_valid(out, claims, trust.now, "  ")?;
            }
            Err(rejection) => {
                let steps = unverified::trace(&raw, &trust);
                render::write_refusal(out, rejection, &Unverified::decode(&raw), &steps, &trust)?;
            }
        }
    }
    Ok(match verdict {
        Ok(_) => Outcome::Passed,
        Err(_) => Outcome::Refused,
    })
}

/// The token from the argument, or from standard input when the argument is `-` or absent. Whitespace
/// around it and a leading `Bearer ` (as copied from an `Authorization` header) are dropped.
pub(crate) fn read_token(arg: Option<&str>, stdin: &mut dyn BufRead) -> anyhow::Result<String> {
    let text = match arg {
        Some(token) if token != "-" => token.to_owned(),
        _ => {
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .context("reading the token from standard input")?;
            text
        }
    };
    let trimmed = text.trim();
    // A pasted `Authorization` value is read by the edge's rule; anything else is the token itself.
    Ok(auth_core::bearer::token(Some(trimmed))
        .unwrap_or(trimmed)
        .to_owned())
}

/// One JSON object: `decision` and `code` always; the verified claims, or the refusal with the
/// unverified contents, the expectations and the core's steps.
fn json_report(
    raw: &str,
    verdict: &Result<VerifiedClaims, Rejection>,
    trust: &Trust,
) -> serde_json::Value {
    match verdict {
        Ok(claims) => json!({
            "decision": "valid",
            "code": null,
            "claims": claims_json(claims),
        }),
        Err(rejection) => {
            let expected = trust.issuer().map(|p| {
                json!({
                    "issuer": p.issuer,
                    "audiences": p.audiences,
                    "algorithms": p.algorithms.iter().map(|a| a.name()).collect::<Vec<_>>(),
                    "token_type": p.token_type,
                    "leeway_secs": p.leeway_secs,
                })
            });
            let keys: Vec<_> = trust
                .keys
                .keys()
                .iter()
                .map(|k| json!({"kid": k.kid(), "alg": k.algorithm().name()}))
                .collect();
            json!({
                "decision": "refused",
                "code": rejection.code(),
                "status": rejection.status(),
                "message": rejection.to_string(),
                "unverified": Unverified::decode(raw),
                "expected": expected,
                "keys": keys,
                "now": trust.now,
                "steps": unverified::trace(raw, trust),
            })
        }
    }
}

pub(crate) fn claims_json(claims: &VerifiedClaims) -> serde_json::Value {
    json!({
        "subject": claims.subject(),
        "issuer": claims.issuer(),
        "audiences": claims.audiences(),
        "tenant": claims.tenant(),
        "session": claims.session(),
        "expires_at": claims.expires_at(),
        "expires_at_utc": render::utc(claims.expires_at()),
        "issued_at": claims.issued_at(),
        "scopes": claims.scopes(),
        "roles": claims.roles(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_argument_or_stdin_without_bearer_or_whitespace() {
        let mut empty: &[u8] = b"";
        assert_eq!(read_token(Some("a.b.c"), &mut empty).unwrap(), "a.b.c");
        let mut input: &[u8] = b"  Bearer  a.b.c\n";
        assert_eq!(read_token(Some("-"), &mut input).unwrap(), "a.b.c");
        let mut input: &[u8] = b"bearer x.y.z";
        assert_eq!(read_token(None, &mut input).unwrap(), "x.y.z");
        let mut input: &[u8] = b"x.y.z\n";
        assert_eq!(read_token(None, &mut input).unwrap(), "x.y.z");
    }
}
