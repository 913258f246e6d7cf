//! What an authenticated route asks of a verified token beyond its validity.

use crate::claims::VerifiedClaims;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `all`: every listed value must be held; `any`: at least one. Both may be given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Needs {
    #[serde(default)]
    pub all: Vec<String>,
    #[serde(default)]
    pub any: Vec<String>,
}

impl Needs {
    fn is_empty(&self) -> bool {
        self.all.is_empty() && self.any.is_empty()
    }

    fn met_by(&self, held: &[&str]) -> bool {
        self.all.iter().all(|n| held.contains(&n.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|n| held.contains(&n.as_str())))
    }

    pub(crate) fn check(&self, what: &'static str) -> Result<(), String> {
        let bad = self
            .all
            .iter()
            .chain(&self.any)
            .find(|v| v.is_empty() || v.contains(char::is_whitespace));
        match bad {
            Some(v) => Err(format!(
                "{what} value {v:?} is empty or contains whitespace"
            )),
            None => Ok(()),
        }
    }
}

/// A condition on one claim. `claim` is a name or a dotted path into nested objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimCondition {
    pub claim: String,
    /// The claim must equal this JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// The claim must equal one of these JSON values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Value>>,
    /// The claim must be present (`true`) or absent (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
}

impl ClaimCondition {
    pub(crate) fn check(&self) -> Result<(), String> {
        let tests = [
            self.equals.is_some(),
            self.one_of.is_some(),
            self.present.is_some(),
        ];
        if tests.iter().filter(|t| **t).count() != 1 {
            return Err(format!(
                "claim condition on {:?} needs exactly one of equals, one_of, present",
                self.claim
            ));
        }
        if self.claim.is_empty() || self.claim.split('.').any(str::is_empty) {
            return Err(format!(
                "claim name {:?} is not a name or dotted path",
                self.claim
            ));
        }
        if self.one_of.as_ref().is_some_and(Vec::is_empty) {
            return Err(format!(
                "claim condition on {:?} has an empty one_of",
                self.claim
            ));
        }
        Ok(())
    }

    fn holds(&self, claims: &VerifiedClaims) -> bool {
        let value = claims.claim(&self.claim);
        if let Some(present) = self.present {
            return value.is_some() == present;
        }
        let Some(value) = value else { return false };
        if let Some(expected) = &self.equals {
            return value == expected;
        }
        self.one_of
            .as_ref()
            .is_some_and(|options| options.contains(value))
    }
}

/// Everything an authenticated route requires of the token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Requirements {
    pub scopes: Needs,
    pub roles: Needs,
    pub claims: Vec<ClaimCondition>,
    /// Path parameter → claim that must hold the same value (e.g. `org` → `org_id`).
    pub bind: Vec<(String, String)>,
}

impl Requirements {
    pub(crate) fn is_empty(&self) -> bool {
        self.scopes.is_empty()
            && self.roles.is_empty()
            && self.claims.is_empty()
            && self.bind.is_empty()
    }
}

/// Why an authenticated request is refused by its route's requirements (HTTP 403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No route allows this request.
    NoRoute,
    /// The token lacks scopes the route needs; carries the route's scope requirement for the
    /// `WWW-Authenticate` challenge (RFC 6750 §3.1).
    InsufficientScope(String),
    RoleMissing,
    ClaimMismatch(String),
    /// A path parameter does not equal the claim it is bound to.
    BindingMismatch(String),
}

impl Denial {
    /// Every denial is a 403: the token (if any) is valid, the route does not allow it.
    pub fn status(&self) -> u16 {
        403
    }

    pub fn code(&self) -> &'static str {
        match self {
            Denial::NoRoute => "route_denied",
            Denial::InsufficientScope(_) => "insufficient_scope",
            Denial::RoleMissing => "role_missing",
            Denial::ClaimMismatch(_) => "claim_mismatch",
            Denial::BindingMismatch(_) => "binding_mismatch",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Denial::NoRoute => "no policy allows this route".to_owned(),
            Denial::InsufficientScope(s) => {
                format!("the token lacks the scopes this route needs ({s})")
            }
            Denial::RoleMissing => "the token lacks the roles this route needs".to_owned(),
            Denial::ClaimMismatch(c) => {
                format!("the token's {c} claim does not satisfy this route")
            }
            Denial::BindingMismatch(p) => format!("the {p} in the path is not the token's"),
        }
    }
}

/// Evaluates the requirements for a verified token and the route's captured path parameters.
pub(crate) fn evaluate(
    req: &Requirements,
    claims: &VerifiedClaims,
    params: &[(&str, String)],
) -> Result<(), Denial> {
    if !req.scopes.met_by(&claims.scopes()) {
        let mut wanted: Vec<&str> = req.scopes.all.iter().map(String::as_str).collect();
        wanted.extend(req.scopes.any.iter().map(String::as_str));
        return Err(Denial::InsufficientScope(wanted.join(" ")));
    }
    if !req.roles.met_by(&claims.roles()) {
        return Err(Denial::RoleMissing);
    }
    if let Some(failed) = req.claims.iter().find(|c| !c.holds(claims)) {
        return Err(Denial::ClaimMismatch(failed.claim.clone()));
    }
    for (param, claim) in &req.bind {
        let in_path = params
            .iter()
            .find(|(n, _)| n == param)
            .map(|(_, v)| v.as_str());
        let in_token = match claims.claim(claim) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if in_path.is_none() || in_path != in_token.as_deref() {
            return Err(Denial::BindingMismatch(param.clone()));
        }
    }
    Ok(())
}
