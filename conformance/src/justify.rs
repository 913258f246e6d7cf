//! The reviewed decisions: every divergence from the vectors that we keep on purpose, and why.
//!
//! A divergence is a case where a path's verdict differs from the vector's, the two paths differ, a
//! vector cannot be run, or the vector's result is `acceptable` (then either verdict conforms, and
//! the one we give is a choice). Each must match a rule below, first match wins; a rule matches only
//! the outcome it describes (both paths refusing, both accepting, not run), so it cannot cover a
//! disagreement between the paths or a verdict it did not foresee. Changing this table is a review
//! decision: one sentence per rule says why the divergence is right.

use super::{Case, CaseResult, Expected};
use crate::vectors::{ED25519, JWC, JWK, JWS, RFC7520, RFC7797, RFC8037, RSA_PKCS1, RSA_PSS};
use std::fmt;

/// Which cases a rule is about.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Cases whose group label contains this text.
    Group(&'static str),
    /// Cases carrying this Wycheproof flag.
    Flag(&'static str),
    /// Cases about one of these algorithms (the token's `alg`, else the key's).
    Alg(&'static [&'static str]),
    /// Cases with one of these `tcId`s (or cookbook form names).
    Ids(&'static [&'static str]),
    /// Every case of the suite.
    Suite,
}

/// The outcome a rule explains.
#[derive(Debug, Clone, Copy)]
pub enum Observed {
    /// Both paths refuse, at one of these stages (at any, if empty), a case the vector calls valid or
    /// acceptable.
    BothRefuse(&'static [&'static str]),
    /// Neither path can be given the case.
    NotRun,
}

#[derive(Debug)]
pub struct Rule {
    pub suites: &'static [&'static str],
    pub scope: Scope,
    pub observed: Observed,
    pub reason: &'static str,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match self.scope {
            Scope::Group(g) => format!("group `{g}`"),
            Scope::Flag(flag) => format!("flag `{flag}`"),
            Scope::Alg(algs) => format!("alg {}", algs.join(", ")),
            Scope::Ids(ids) => format!("cases {}", ids.join(", ")),
            Scope::Suite => "all cases".into(),
        };
        let observed = match self.observed {
            Observed::BothRefuse([]) => "both paths refuse".to_owned(),
            Observed::BothRefuse(stages) => {
                let stages: Vec<&str> = stages
                    .iter()
                    .map(|s| {
                        if *s == "verified" {
                            "invalid signature"
                        } else {
                            s
                        }
                    })
                    .collect();
                format!("both paths refuse ({})", stages.join(" or "))
            }
            Observed::NotRun => "not run".into(),
        };
        write!(f, "{} / {scope} / {observed}", self.suites.join(", "))
    }
}

/// Refused at key import by the core's JWK policy, or by the key-set policy.
const KEY_POLICY: &[&str] = &["jwk_refused", "keyset_refused"];
/// Refused by the token parser.
const TOKEN_POLICY: &[&str] = &["token_refused"];

pub const RULES: &[Rule] = &[
    Rule {
        suites: &[RFC7520, RFC8037],
        scope: Scope::Ids(&["json", "json_flat"]),
        observed: Observed::BothRefuse(TOKEN_POLICY),
        reason: "A JWS in JSON serialization (RFC 7515 §7.2) is not a bearer token: access tokens are \
                 compact (RFC 7519 §7.2, RFC 6750), and the parser refuses any token that starts with \
                 `{`.",
    },
    Rule {
        suites: &[RFC7797],
        scope: Scope::Suite,
        observed: Observed::BothRefuse(TOKEN_POLICY),
        reason: "Unencoded payloads (`b64: false`, RFC 7797) are refused: a bearer token's payload is \
                 base64url, and the parser refuses the `b64` header and JSON serialization alike \
                 (the README's edge rules, step 2); these examples are HS256 besides.",
    },
    Rule {
        suites: &[JWC],
        scope: Scope::Group("jwe_"),
        observed: Observed::BothRefuse(TOKEN_POLICY),
        reason: "An encrypted token (JWE, five parts) is not a form the edge verifies; the parser \
                 refuses it before any key is consulted (the README's edge rules, step 2).",
    },
    Rule {
        suites: &[JWS],
        scope: Scope::Group("base64"),
        observed: Observed::BothRefuse(TOKEN_POLICY),
        reason: "Wycheproof calls these valid for decoders that skip characters outside the \
                 alphabet; ours is strict (canonical, unpadded base64url: `auth_core::encoding`) so \
                 that a token has exactly one spelling, and the group's key is HMAC besides.",
    },
    Rule {
        suites: &[JWS, JWC, JWK, RFC7520],
        scope: Scope::Alg(&["HS256", "HS384", "HS512"]),
        observed: Observed::BothRefuse(KEY_POLICY),
        reason: "Refused: HMAC is not an algorithm we verify, by policy. The edge holds only public \
                 keys, a shared secret would let anyone who verifies also mint tokens, and accepting \
                 HMAC is where algorithm confusion starts (RFC 8725 §2.1, §3.1); a symmetric or \
                 private JWK is refused at import, and a key set with nothing else is refused whole.",
    },
    Rule {
        suites: &[JWS, RFC7520],
        scope: Scope::Alg(&["RS384", "RS512", "PS384", "PS512", "ES512", "ES521"]),
        observed: Observed::BothRefuse(&["jwk_refused", "alg_mismatch"]),
        reason: "Refused: unsupported algorithm by policy. We verify ES256, EdDSA, RS256 and PS256 \
                 only (`auth_core::Algorithm`): a key published for another algorithm is refused at \
                 import, and a token naming one is refused before any signature check.",
    },
    Rule {
        suites: &[ED25519, RSA_PKCS1, RSA_PSS],
        scope: Scope::Suite,
        observed: Observed::NotRun,
        reason: "Not expressible: the message is not UTF-8, while a JWS signing input is always \
                 base64url text and `SignatureJob` carries it as `&str`, so no token can present these \
                 bytes to either path; the same keys and the same primitive are exercised by the \
                 suite's other vectors.",
    },
    Rule {
        suites: &[RSA_PKCS1],
        scope: Scope::Flag("MissingNull"),
        observed: Observed::BothRefuse(&["verified"]),
        reason: "`acceptable`, and we refuse: a DigestInfo without the NULL parameter is a second \
                 encoding of the same signature (RFC 8017 §9.2 note 2); RS256 signers always include \
                 it, and both rsa and WebCrypto refuse the other form, so the paths agree.",
    },
];

/// Which rule explains each divergent case.
#[derive(Debug)]
pub struct Judged {
    /// Per case: the index of the rule that explains it (`None`: no divergence, or unexplained).
    pub rule: Vec<Option<usize>>,
    unexplained: Vec<usize>,
    pub uses: Vec<usize>,
}

impl Judged {
    pub fn unexplained(&self) -> Vec<usize> {
        self.unexplained.clone()
    }

    pub fn is_unexplained(&self, case: usize) -> bool {
        self.unexplained.binary_search(&case).is_ok()
    }

    pub fn unused_rules(&self) -> Vec<&'static Rule> {
        RULES
            .iter()
            .zip(&self.uses)
            .filter(|(_, n)| **n == 0)
            .map(|(r, _)| r)
            .collect()
    }
}

pub fn apply(cases: &[Case], results: &[CaseResult]) -> Judged {
    let mut judged = Judged {
        rule: vec![None; cases.len()],
        unexplained: Vec::new(),
        uses: vec![0; RULES.len()],
    };
    for (i, (case, result)) in cases.iter().zip(results).enumerate() {
        if !result.diverges() {
            continue;
        }
        match RULES.iter().position(|rule| matches(rule, case, result)) {
            Some(r) => {
                judged.rule[i] = Some(r);
                judged.uses[r] += 1;
            }
            None => judged.unexplained.push(i),
        }
    }
    judged
}

fn matches(rule: &Rule, case: &Case, result: &CaseResult) -> bool {
    if !rule.suites.contains(&case.suite) {
        return false;
    }
    let in_scope = match rule.scope {
        Scope::Group(g) => case.group.contains(g),
        Scope::Flag(flag) => case.flags.iter().any(|f| f == flag),
        Scope::Alg(algs) => algs.contains(&case.alg.as_str()),
        Scope::Ids(ids) => ids.contains(&case.id.as_str()),
        Scope::Suite => true,
    };
    if !in_scope {
        return false;
    }
    let (native, webcrypto) = match (&result.native, &result.webcrypto) {
        (Some(n), Some(w)) => (n, w),
        (None, None) => return matches!(rule.observed, Observed::NotRun),
        _ => return false,
    };
    if result.paths_disagree {
        return false;
    }
    match rule.observed {
        Observed::BothRefuse(stages) => {
            !native.accepted()
                && matches!(case.expected, Some(Expected::Valid | Expected::Acceptable))
                && (stages.is_empty()
                    || (stages.contains(&native.stage.as_str())
                        && stages.contains(&webcrypto.stage.as_str())))
        }
        Observed::NotRun => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Input, Outcome};

    fn case(expected: Expected) -> Case {
        Case {
            suite: JWS,
            group: "#000 hs256".into(),
            id: "1".into(),
            comment: String::new(),
            flags: Vec::new(),
            alg: "HS256".into(),
            expected: Some(expected),
            input: Input::NotRun { why: "test" },
        }
    }

    fn outcome(stage: &str, valid: bool) -> Option<Outcome> {
        Some(Outcome {
            stage: stage.into(),
            valid,
            detail: String::new(),
            keys: None,
        })
    }

    const HMAC: Rule = Rule {
        suites: &[JWS],
        scope: Scope::Alg(&["HS256"]),
        observed: Observed::BothRefuse(KEY_POLICY),
        reason: "test",
    };

    #[test]
    fn a_refusal_rule_covers_both_paths_refusing_a_valid_vector() {
        let c = case(Expected::Valid);
        let r = CaseResult::judge(
            &c,
            outcome("jwk_refused", false),
            outcome("jwk_refused", false),
        );
        assert!(r.diverges());
        assert!(matches(&HMAC, &c, &r));
    }

    #[test]
    fn no_rule_covers_paths_that_disagree() {
        let c = case(Expected::Valid);
        let r = CaseResult::judge(&c, outcome("verified", true), outcome("jwk_refused", false));
        assert!(r.paths_disagree);
        assert!(!matches(&HMAC, &c, &r));
    }

    #[test]
    fn a_rule_covers_only_the_stage_and_outcome_it_names() {
        let c = case(Expected::Valid);
        let signature =
            CaseResult::judge(&c, outcome("verified", false), outcome("verified", false));
        assert!(!matches(&HMAC, &c, &signature));
        let accepted = CaseResult::judge(
            &case(Expected::Invalid),
            outcome("verified", true),
            outcome("verified", true),
        );
        assert!(!matches(&HMAC, &case(Expected::Invalid), &accepted));
    }
}
